"""PromotionApprovalOperator: the provider's ApprovalOperator, its timeout from settings.

The response timeout is a run-time setting (`approval_timeout_hours`, e.g. shorter in
a staging environment), so it is read when the task runs, never at parse time; the
provider's operator only takes it in __init__.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import ApprovalOperator


class PromotionApprovalOperator(ApprovalOperator):
  def __init__(self, *, settings_overrides: dict | None = None, **kwargs):
    # a placeholder until execute reads the setting; given here so that the provider
    # does not take the DAG's execution_timeout for it (its deprecated fallback)
    kwargs.setdefault('response_timeout', dt.timedelta(hours=24))
    super().__init__(**kwargs)
    self.settings_overrides = settings_overrides or {}

  def execute(self, context):
    from ct_platform.config import load_settings
    from ct_platform.notify import notify

    settings = load_settings(self.settings_overrides)
    hours = settings.approval_timeout_hours
    if hours <= 0:
      raise ValueError(f'setting approval_timeout_hours: {hours!r} must be > 0 (an '
                       f'unanswered request rejects when it expires)')
    self.response_timeout = dt.timedelta(hours=hours)
    self.log.info('approval request expires in %s (approval_timeout_hours=%s); '
                  'no answer rejects', self.response_timeout, hours)
    dag_run = context['dag_run']
    # said before parking: whoever approves learns of it without watching the UI
    notify('approval_requested', f'{self.subject}: approve or reject under Required '
           f'Actions in Airflow within {hours:g} h (no answer rejects)', settings,
           dag_id=dag_run.dag_id, run_id=dag_run.run_id, expires_in_hours=hours)
    return super().execute(context)

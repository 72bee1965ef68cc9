"""Notifications per event (EVENTS): failures, rejections, promotions, rollouts,
monitoring.

Always to the task log and one JSON line per event in settings.notification_path;
by e-mail when `notify_email_to` is set (through the SMTP provider's hook and the
Airflow Connection `notify_smtp_conn_id`). A channel that fails is logged and
recorded, never fails the task: an e-mail outage must not undo a promotion.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)
EVENTS = ('pipeline_failed', 'task_failed', 'pipeline_attempt_lost', 'candidate_rejected',
          'champion_promoted', 'window_empty', 'approval_requested', 'no_retrain',
          'challenger_nominated', 'rollout_started', 'rollout_completed',
          'rollout_rolled_back', 'monitoring_alert', 'retrain_requested',
          'retrain_request_suppressed')


def notify(event: str, message: str, settings=None, **details) -> dict:
  if event not in EVENTS:
    raise ValueError(f'event {event!r} is not one of {EVENTS}')
  record = {'event': event, 'message': message, 'details': details,
            'at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}
  log.warning('[%s] %s', event, message)
  if settings is None:
    from ct_platform.config import load_settings
    settings = load_settings()
  if settings.notify_email_to:
    record['email'] = _send_email(settings, event, message, details)
  path = settings.notification_path
  try:  # a channel that fails is recorded in the log, never fails the task
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'a') as f:
      f.write(json.dumps(record, default=str) + '\n')
  except OSError as e:
    log.error('notification file %s: %s', path, e)
  return record


def _send_email(settings, event, message, details) -> str:
  import html

  from airflow.providers.smtp.hooks.smtp import SmtpHook

  to = [a.strip() for a in settings.notify_email_to.split(',') if a.strip()]
  body = (f'<p>{html.escape(message)}</p><pre>'
          f'{html.escape(json.dumps(details, indent=2, default=str))}</pre>')
  try:
    with SmtpHook(smtp_conn_id=settings.notify_smtp_conn_id) as hook:
      hook.send_email_smtp(to=to, subject=f'[continuous-training] {event}',
                           html_content=body)
    return 'sent'
  except Exception as e:  # noqa: BLE001  (a notification outage never fails the run)
    log.warning('e-mail notification %s failed: %s', event, e)
    return f'failed: {type(e).__name__}: {e}'[:500]


class TaskFailedNotifier(BaseNotifier):
  """on_failure_callback of every task (the DAG's default_args): which task failed, in
  which run, after how many tries, and the first line of its error. Airflow calls it
  once the task has failed for good (retries exhausted or none)."""

  template_fields = ()
  event = 'task_failed'

  def notify(self, context):
    ti = context.get('ti')
    error = context.get('exception')
    first = str(error).splitlines()[0] if error and str(error) else (
        type(error).__name__ if error else 'see the task log')
    notify(self.event,
           f'{ti.dag_id}.{ti.task_id} failed in run {ti.run_id} (try {ti.try_number}): '
           f'{first}',
           dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id,
           try_number=ti.try_number, error=str(error)[:4000])


class PipelineFailedNotifier(TaskFailedNotifier):
  """on_failure_callback of the pipeline task: says which run failed and where its log is
  (the error names the pipeline run, its log and the log's tail)."""

  event = 'pipeline_failed'

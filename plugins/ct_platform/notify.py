"""Notifications per event: pipeline_failed, candidate_rejected, champion_promoted,
window_empty, approval_requested.

Always to the task log and, locally, one JSON line per event in
settings.notification_path. Slack / email / Pub/Sub are wired by configuration with
the providers' notifiers (not built here yet).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)
EVENTS = ('pipeline_failed', 'candidate_rejected', 'champion_promoted', 'window_empty',
          'approval_requested', 'no_retrain')


def notify(event: str, message: str, settings=None, **details) -> dict:
  if event not in EVENTS:
    raise ValueError(f'event {event!r} is not one of {EVENTS}')
  record = {'event': event, 'message': message, 'details': details,
            'at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}
  log.warning('[%s] %s', event, message)
  if settings is None:
    from ct_platform.config import load_settings
    settings = load_settings()
  path = settings.notification_path
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'a') as f:
    f.write(json.dumps(record, default=str) + '\n')
  return record


class PipelineFailedNotifier(BaseNotifier):
  """on_failure_callback of the pipeline task: says which run failed and where its log is."""

  template_fields = ()

  def notify(self, context):
    ti = context.get('ti')
    error = context.get('exception')
    notify('pipeline_failed',
           f'{ti.dag_id}.{ti.task_id} failed in run {ti.run_id} (try {ti.try_number}): '
           f'{str(error).splitlines()[0] if error else "see the task log"}',
           dag_id=ti.dag_id, run_id=ti.run_id, error=str(error)[:4000])

"""Notifications per event: pipeline_failed, candidate_rejected, champion_promoted,
window_empty, approval_requested.

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

"""What the model_monitoring DAG's tasks do, apart from Airflow glue.

    plan_window      the window: [until - window_hours, until), the one before it
    read_window      the champion's served instances in it: aggregates (window.py)
    evaluate         the checks and the verdict; monitoring.json and report.html
    request_retrain  the request rules (request_rules.py); the record of each request
    update_dashboard the page over time (dashboard.py), from every run's record

Where it writes (storage: a folder locally, gs:// on Composer), under <bucket>/monitoring/:
runs/<run>/monitoring.json and report.html, requests/<request id>.json, history.json (one
line per run: what the dashboard draws), dashboard.html.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from ct_platform import storage
from ct_platform.config import Settings

DASHBOARD_DAYS = 30  # how far back the dashboard (and history.json) goes
EXAMPLE_KEY = 'unique_key'  # the example key callers send (the server's example_key_field)


def root(settings: Settings) -> str:
  return storage.join(settings.bucket_root, 'monitoring')


def _iso(t: dt.datetime) -> str:
  return t.astimezone(dt.timezone.utc).isoformat(timespec='seconds')


def plan_window(params: dict, run_after: dt.datetime, run_id: str, settings: Settings) -> dict:
  from ct_platform.monitoring.policy import monitoring_policy

  policy = monitoring_policy()
  hours = params.get('window_hours') or policy.window_hours
  until = params.get('window_end')
  if until:
    try:
      until = dt.datetime.fromisoformat(until)
    except ValueError as e:
      raise ValueError(f'window_end: {until!r} is not an ISO date-time '
                       f'(YYYY-MM-DDTHH:MM[:SS][+HH:MM])') from e
    until = until if until.tzinfo else until.replace(tzinfo=dt.timezone.utc)
  else:
    until = run_after
  since = until - dt.timedelta(hours=float(hours))
  return {'run_id': run_id, 'since': _iso(since), 'until': _iso(until),
          'previous_since': _iso(since - dt.timedelta(hours=float(hours))),
          'window_hours': float(hours), 'force': bool(params.get('force'))}


def _jsonable(value):
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (dt.datetime, dt.date)):
    return value.isoformat()
  if hasattr(value, 'is_integer') and not isinstance(value, float):  # Decimal
    return float(value)
  return value


def read_window(plan: dict, settings: Settings) -> dict:
  """The champion and its served instances' aggregates ({'champion': None}: nothing is
  served from the registry yet)."""
  from ct_platform.backends import endpoint_for, registry_for
  from ct_platform.drift import load_drift_config
  from ct_platform.monitoring import window

  champion = registry_for(settings).get_alias('champion')
  if not champion:
    return {'champion': None}
  config = load_drift_config()
  training = (champion.get('drift_baseline') or {}).get('profile')
  types = window.feature_types(training or {}, config)
  deployed_id = endpoint_for(settings).deployed_id(champion['version'])
  log = window.prediction_log_for(settings)
  read = window.read_window(
      log, endpoint=log.endpoint,
      deployed_id=deployed_id, types=types, key_field=EXAMPLE_KEY,
      since=dt.datetime.fromisoformat(plan['since']),
      until=dt.datetime.fromisoformat(plan['until']), config=config,
      previous_since=dt.datetime.fromisoformat(plan['previous_since']))
  return _jsonable(dict(read, champion={
      'version': champion['version'], 'deployed_id': deployed_id,
      'metrics': ((champion.get('metrics') or {}).get('overall')),
      'eval_scores': (champion.get('smoke_test') or {}).get('eval_scores'),
      'window': champion.get('window')}))


def evaluate(plan: dict, read: dict, settings: Settings) -> dict:
  """Every check, the verdict, and the run's record and report."""
  from ct_platform.backends import registry_for
  from ct_platform.drift import load_drift_config
  from ct_platform.monitoring import checks, report
  from ct_platform.monitoring.policy import monitoring_policy
  from ct_platform.run_ids import run_slug

  policy = monitoring_policy()
  out = storage.join(root(settings), 'runs', run_slug(plan['run_id']))
  record = {'run_id': plan['run_id'], 'window': {k: plan[k] for k in ('since', 'until',
                                                                      'window_hours')},
            'champion': read.get('champion'), 'policy': _jsonable(dataclasses.asdict(policy)),
            'report': storage.join(out, 'report.html'),
            'json': storage.join(out, 'monitoring.json')}
  if not read.get('champion'):
    record.update(checks=[], verdict={'retrain': False, 'reasons': [], 'summary':
                                      'no champion: nothing is served from the registry yet',
                                      'crossed_not_retrained_on': []})
  else:
    config = load_drift_config()
    # the version the window was read for (the alias may have moved since)
    champion = registry_for(settings).get_version(int(read['champion']['version']))
    training = (champion.get('drift_baseline') or {}).get('profile')
    offline_scores = (read['champion'].get('eval_scores') or {}).get('histogram')
    found = [
        checks.skew(training, read['profile'], config, policy.min_requests),
        checks.prediction_drift(read['scores'], offline_scores, read['previous_scores'],
                                policy.prediction_drift, policy.min_requests),
        checks.decay(read['labelled'], read['champion'].get('metrics'), policy.decay,
                     instances=read['instances'], keyed=read['keyed'],
                     window_until=plan['until']),
        checks.data_quality(training, read['profile'], read['traffic'], policy.data_quality),
    ]
    record.update(checks=_jsonable(found), verdict=checks.verdict(found, policy.retrain_on),
                  traffic=read['traffic'], latency=read['latency'])
  storage.write_text(record['json'], json.dumps(record, indent=1, sort_keys=True, default=str),
                     settings, content_type='application/json')
  storage.write_text(record['report'], report.monitoring_report_html(record), settings,
                     content_type='text/html')
  crossed = [c for c in record['checks'] if c['status'] == 'crossed']
  if crossed:
    from ct_platform.notify import notify
    others = record['verdict']['crossed_not_retrained_on']
    notify('monitoring_alert', f'model_monitoring: {record["verdict"]["summary"]}' + (
        f'; also crossed (not retrained on): {", ".join(others)}' if others else ''),
        settings, report=record['report'], checks=[c['name'] for c in crossed])
  return {'run_id': plan['run_id'], 'verdict': record['verdict'], 'report': record['report'],
          'data_until': data_until(read.get('labelled') or []),
          'json': record['json'], 'force': plan['force'], 'window': record['window'],
          'statuses': {c['name']: c['status'] for c in record['checks']},
          'champion_version': (read.get('champion') or {}).get('version')}


def data_until(labelled: list[dict]) -> str | None:
  """The day after the newest labelled trip the window served: where a retraining it
  asks for should end its training window (live traffic: today; replayed traffic: the
  replayed days)."""
  newest = [r['latest_trip'] for r in labelled if r.get('latest_trip') is not None]
  if not newest:
    return None
  day = dt.datetime.fromtimestamp(float(max(newest)), dt.timezone.utc).date()
  return (day + dt.timedelta(days=1)).isoformat()


def _requests_dir(settings: Settings) -> str:
  return storage.join(root(settings), 'requests')


def request_history(settings: Settings) -> list[dict]:
  folder = _requests_dir(settings)
  out = []
  for name in storage.list_names(folder, settings):
    if name.endswith('.json'):
      out.append(json.loads(storage.read_text(storage.join(folder, name), settings)))
  return out


def record_request(reasons: list[dict], about: dict, settings: Settings, *, active_runs: int,
                   force: bool, request_id: str, now: dt.datetime) -> dict:
  """A retrain request with these reasons, sent or suppressed by the rules (request_rules.py),
  recorded either way (requests/<request id>.json) and notified."""
  from ct_platform.monitoring import request_rules
  from ct_platform.notify import notify

  # a retry of the same run writes the same request id: its own first try is no history
  history = [r for r in request_history(settings) if r.get('request_id') != request_id]
  decision = request_rules.decide(reasons, history, now=now,
                             active_runs=active_runs,
                             cooldown_hours=settings.retrain_cooldown_hours, force=force)
  record = dict(about, request_id=request_id, requested_at=_iso(now), sent=decision['send'],
                why=decision['why'], keys=sorted({r['key'] for r in reasons}),
                reasons=[r['text'] for r in reasons], forced=bool(force))
  storage.write_text(storage.join(_requests_dir(settings), f'{request_id}.json'),
                     json.dumps(record, indent=1), settings, content_type='application/json')
  if decision['send']:
    notify('retrain_requested', f'retrain requested by {record["source"]}: ' + '; '.join(
        record['reasons']), settings, request_id=request_id, report=record.get('report'))
  else:
    notify('retrain_request_suppressed', f'retrain request suppressed ({decision["why"]}): '
           + '; '.join(record['reasons']), settings, request_id=request_id)
  return dict(decision, **record)


# what a retrain_request Asset event's extra carries (continuous_training reads it)
REQUEST_EXTRA = ('request_id', 'reasons', 'keys', 'source', 'forced', 'requested_at',
                 'checks', 'monitoring_run_id', 'report', 'window', 'champion_version',
                 'incidents', 'data_until')


def request_extra(request: dict) -> dict:
  return {k: request[k] for k in REQUEST_EXTRA if k in request}


def request_event(request_id: str, settings: Settings) -> dict:
  """A recorded request (sent or suppressed) as the Asset event that would carry it: a
  continuous_training run triggered with the retrain_request_id Param answers it."""
  from ct_platform.assets import RETRAIN_REQUEST_NAME

  uri = storage.join(_requests_dir(settings), f'{request_id}.json')
  if not storage.exists(uri, settings):
    known = [n[:-5] for n in storage.list_names(_requests_dir(settings), settings)
             if n.endswith('.json')][-5:]
    raise ValueError(f'retrain_request_id: no request {request_id!r} in '
                     f'{_requests_dir(settings)}; the latest recorded: {known or "none"}')
  record = json.loads(storage.read_text(uri, settings))
  return {'asset': RETRAIN_REQUEST_NAME, 'extra': request_extra(record),
          'source_dag_id': None, 'source_run_id': None, 'timestamp': record['requested_at']}


def request_retrain(result: dict, settings: Settings, *, active_runs: int,
                    now: dt.datetime | None = None) -> dict:
  """The request for a monitoring run's verdict, sent or suppressed; {'send': False} with
  no record when nothing crossed."""
  from ct_platform.run_ids import run_slug

  now = now or dt.datetime.now(dt.timezone.utc)
  reasons = result['verdict']['reasons']
  if not reasons:
    return {'send': False, 'why': 'no check the policy retrains on crossed its threshold',
            'reasons': []}
  return record_request(reasons, {
      'source': 'model_monitoring', 'checks': result['statuses'],
      'monitoring_run_id': result['run_id'], 'report': result['report'],
      'window': result['window'], 'champion_version': result['champion_version'],
      'data_until': result.get('data_until')},
      settings, active_runs=active_runs, force=result.get('force', False),
      request_id='monitoring-' + run_slug(result['run_id']), now=now)


def alert_request(events: list[dict], run_id: str, settings: Settings, *, active_runs: int,
                  now: dt.datetime | None = None) -> dict:
  """A retrain request from Vertex AI Model Monitoring alerts (the Pub/Sub AssetWatcher's
  events), each incident once: an incident already recorded by another run (a Pub/Sub
  redelivery: the trigger acks before Airflow stores the event) is a duplicate."""
  from ct_platform.monitoring import alerts
  from ct_platform.run_ids import run_slug

  now = now or dt.datetime.now(dt.timezone.utc)
  found, problems = alerts.from_events(events)
  fresh, duplicates, closed = [], [], []
  for alert in found:
    if alert['state'] != 'open':
      closed.append(alert['incident_id'])
      continue
    uri = storage.join(root(settings), 'alerts', f'{run_slug(alert["incident_id"])}.json')
    try:  # create-only: the first run to see an incident owns it
      storage.write_text(uri, json.dumps(dict(alert, run_id=run_id, seen_at=_iso(now))),
                         settings, content_type='application/json', create_only=True)
      fresh.append(alert)
    except FileExistsError:
      owner = json.loads(storage.read_text(uri, settings)).get('run_id')
      (fresh if owner == run_id else duplicates).append(alert)  # a retry of this run
  summary = {'alerts': len(found), 'duplicates': [a['incident_id'] for a in duplicates],
             'closed': closed, 'problems': problems}
  if not fresh:
    why = ('no open incident that was not seen before' if found else
           'no Model Monitoring alert in the events') + (
        f' (duplicates: {", ".join(summary["duplicates"])})' if duplicates else '')
    return dict(summary, send=False, why=why, reasons=[])
  reasons = [{'key': a['key'], 'text': a['text']} for a in fresh]
  request = record_request(reasons, {'source': 'vertex_model_monitoring',
                                     'incidents': [a['incident_id'] for a in fresh]},
                           settings, active_runs=active_runs, force=False,
                           request_id='alert-' + run_slug(run_id), now=now)
  return dict(summary, **request)


def update_dashboard(result: dict, request: dict | None, settings: Settings) -> str:
  """Adds this run to history.json and redraws dashboard.html; returns its URI."""
  from ct_platform.monitoring import dashboard, window

  record = json.loads(storage.read_text(result['json'], settings))
  history_uri = storage.join(root(settings), 'history.json')
  history = (json.loads(storage.read_text(history_uri, settings))
             if storage.exists(history_uri, settings) else [])
  history = [r for r in history if r['run_id'] != record['run_id']]
  history.append(dashboard.summary_row(record, request if (request or {}).get(
      'request_id') else None))
  history.sort(key=lambda r: r['at'])
  # an hourly schedule adds 24 rows a day: the page shows, and each run re-reads the log
  # for, the last DASHBOARD_DAYS only
  start = dt.datetime.fromisoformat(history[-1]['at']) - dt.timedelta(days=DASHBOARD_DAYS)
  history = [r for r in history if dt.datetime.fromisoformat(r['at']) >= start]
  storage.write_text(history_uri, json.dumps(history, indent=1), settings,
                     content_type='application/json')
  traffic, latency = [], []
  if history:
    log = window.prediction_log_for(settings)
    span = {'endpoint': log.endpoint,
            'since': dt.datetime.fromisoformat(history[0]['at']) - dt.timedelta(
                hours=float(record['window']['window_hours'])),
            'until': dt.datetime.fromisoformat(history[-1]['at'])}
    traffic = _jsonable(log.rows(window._text('prediction_log_traffic').replace(
        '{table}', log.table), span))
    try:
      latency = _jsonable(log.rows(window._text('prediction_log_latency').replace(
          '{table}', log.table), span))
    except Exception as e:  # noqa: BLE001  (Vertex AI's logging table has no latency_ms)
      print(f'dashboard: no latency chart: {str(e)[:300]}')
  uri = storage.join(root(settings), 'dashboard.html')
  storage.write_text(uri, dashboard.dashboard_html(
      history, traffic, latency, _iso(dt.datetime.now(dt.timezone.utc))), settings,
      content_type='text/html')
  return uri

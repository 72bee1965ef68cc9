"""What started a continuous_training run, in a record the run summary, the notifications
and the registry metadata of a promoted version carry. Pure.

Kinds: `monitoring` (one or more retrain requests: model_monitoring's or a Vertex AI Model
Monitoring alert's), `asset` (an upstream Asset event, e.g. the source table refreshed),
or the run type Airflow gives (`scheduled`, `manual`, `backfill`). Airflow merges every
Asset event that arrived since the last run into one run: all of them are listed.
"""

from __future__ import annotations

from ct_platform.assets import RETRAIN_REQUEST_NAME


def asset_events(triggering_asset_events) -> list[dict]:
  """The run's triggering Asset events (the task context's accessor) as plain dicts."""
  out = []
  for events in (triggering_asset_events or {}).values():
    for e in events:
      asset = getattr(e, 'asset', None)
      out.append({'asset': getattr(asset, 'name', None) or str(asset),
                  'extra': dict(getattr(e, 'extra', None) or {}),
                  'source_dag_id': getattr(e, 'source_dag_id', None),
                  'source_run_id': getattr(e, 'source_run_id', None),
                  'timestamp': str(getattr(e, 'timestamp', '') or '')})
  return sorted(out, key=lambda e: e['timestamp'])


def describe(run_type: str, user: str | None, events: list[dict]) -> dict:
  """{'kind', 'run_type', 'user', 'events', 'requests', 'reasons', 'reason', 'data_until'}:
  data_until, the newest day the requests' live traffic had labels for (where the
  retraining's window ends when no window_end Param says otherwise)."""
  run_type = getattr(run_type, 'value', run_type)  # DagRunType is a str Enum
  requests = [e['extra'] for e in events if e['asset'] == RETRAIN_REQUEST_NAME]
  reasons = []
  for r in requests:
    for text in r.get('reasons') or []:
      if text not in reasons:
        reasons.append(text)
  if requests:
    kind = 'monitoring'
    ids = ', '.join(str(r.get('request_id')) for r in requests)
    reason = (f'triggered by monitoring: {"; ".join(reasons) or "(no reason given)"} '
              f'(request{"s" if len(requests) > 1 else ""} {ids})')
  elif events:
    kind = 'asset'
    reason = 'triggered by Asset event' + ('s' if len(events) > 1 else '') + ': ' + ', '.join(
        f'{e["asset"]}' + (f' from {e["source_dag_id"]}' if e['source_dag_id'] else '')
        for e in events)
  else:
    kind = str(run_type or 'manual')
    reason = {'scheduled': 'scheduled run', 'backfill': 'backfill'}.get(
        kind, f'{kind} run' + (f' by {user}' if user else ''))
  ends = [r['data_until'] for r in requests if r.get('data_until')]
  return {'kind': kind, 'run_type': str(run_type or ''), 'user': user, 'events': events,
          'requests': [r.get('request_id') for r in requests], 'reasons': reasons,
          'reason': reason, 'data_until': max(ends) if ends else None}

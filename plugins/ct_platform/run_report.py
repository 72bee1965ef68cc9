"""What people read about a run: the end-of-run report (the summarize task's log and
`make run`'s last words) and a run summary's text (scripts/print_summary.py).

Standard library only: scripts run it without Airflow.
"""

from __future__ import annotations


def run_report(plan, span, drift, result, decision, promotion, champion) -> str:
  """The readable end-of-run summary (the log, and `make run`'s last words)."""
  lines = ['', '=' * 72, f'continuous_training {plan["run_id"]}' if plan else 'run', '=' * 72]
  if plan:
    w = plan['window']
    lines.append(f'window     {w["start"]} .. {w["end"]} ({w["days"]} days, end from '
                 f'{w["source"]})')
    if plan.get('trigger'):
      lines.append(f'started    {plan["trigger"]["reason"]}')
  if span:
    lines.append(f'span       {span["rows"]} rows at {span["uri"]}')
    if not span['rows']:
      lines.append('verdict    window empty: nothing to train on; the run ended here')
  if drift:
    lines.append(f'drift      retrain={drift["retrain"]}: {drift["reason"]}')
    if drift.get('report'):
      lines.append(f'           report {drift["report"]}')
  if result:
    s = result['summary']
    lines.append(f'pipeline   run {result["run_id"]}: {s["status"]}, blessed='
                 f'{s["blessing"]["blessed"]}, smoke test '
                 f'{"passed" if (s["smoke_test"] or {}).get("passed") else "not passed"}')
    cand = (s['metrics']['candidate'] or {}).get('overall', {})
    base = (s['metrics']['baseline'] or {}).get('overall', {})
    for name in sorted(cand):
      lines.append(f'  {name:<18} candidate {cand[name]:.4f}   champion '
                   + (f'{base[name]:.4f}' if name in base else '-'))
  if decision:
    lines.append(f'decision   {decision["outcome"].upper()}'
                 + (f' (override: {decision["override"]["kind"]})'
                    if decision.get('override') else ''))
    for r in decision['reasons']:
      lines.append(f'  - {r}')
    lines.append(f'report     {decision["report"]}')
  if promotion and promotion.get('alias') == 'challenger':
    lines.append(f'challenger version {promotion["version"]} at {promotion["model_uri"]} '
                 f'(model_rollout canaries it)')
  if promotion and promotion.get('alias', 'champion') == 'champion':
    lines.append(f'champion   version {promotion["version"]} at {promotion["model_uri"]}')
  elif champion:
    lines.append(f'champion   unchanged: version {champion["version"]} at '
                 f'{champion["model_uri"]}')
  lines.append('=' * 72)
  return '\n'.join(lines)


def save_run_summary_text(text: str, settings) -> None:
  """Locally, the last run's summary also goes to <local_dir>/last_run_summary.txt."""
  if settings.profile == 'local':
    path = settings.local('last_run_summary.txt')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + '\n')


def _fmt(v):
  return '-' if v is None else f'{v:.4f}' if isinstance(v, float) else str(v)


def summary_text(s: dict, path: str = '') -> str:
  """A run summary (run_summary.json) for people: verdict, metrics, reasons."""
  lines = [f'\nrun {s["run_id"]}  pipeline {s["pipeline"]["name"]}@{s["pipeline"]["version"]} '
           f'({s["pipeline"]["variant"]})',
           f'span      {s["span"]["uri"]}  rows {s["span"]["split_counts"]}',
           f'status    {s["status"]}']
  dv = s['data_validation']
  lines.append(f'anomalies {dv["anomaly_count"]}')
  for a in dv['anomalies']:
    lines.append('  - ' + (a.get('message') or f'[{a["split"]}] {a["feature"]}: '
                           f'{a["short_description"]} ({a["description"]})'))
  if s['status'] == 'completed':
    cand = s['metrics']['candidate']['overall']
    base = (s['metrics']['baseline'] or {}).get('overall', {})
    lines.append(f'{"metric":<18}{"candidate":>12}{"champion":>12}')
    for name in sorted(cand):
      lines.append(f'{name:<18}{_fmt(cand[name]):>12}{_fmt(base.get(name)):>12}')
    labels = s.get('label_distribution') or {}
    if labels.get('message'):
      lines.append(f'labels    {labels["message"]}')
    lines.append(f'blessed   {s["blessing"]["blessed"]}')
    for r in s['blessing']['reasons']:
      lines.append(f'  - {r["message"]}')
    lines.append(f'smoke     {"passed" if s["smoke_test"]["passed"] else "FAILED"}: '
                 f'{s["smoke_test"]["message"]}')
    lines.append(f'candidate {s["candidate_model_uri"]}')
  if path:
    lines.append(f'summary   {path}')
  return '\n'.join(lines)

"""The rollout report: one self-contained HTML page (inline SVG, no scripts).

Verdict and reasons first; then each stage's checks, every figure beside its threshold
(infrastructure validation, load test, canary); then the charts: the load test's latency
histogram, both models' latency and predicted-score distributions on the canary's live
traffic, and requests per model over time.
"""

from __future__ import annotations

import html

from ct_platform.drift.report import BASE_COLOR, NEW_COLOR, bars_svg

STYLE = ('body{font-family:sans-serif;margin:24px;max-width:980px}table{border-collapse:'
         'collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}'
         '.fail{color:#d93025}.pass{color:#188038}')


def _fmt(value) -> str:
  if value is None:
    return '-'
  if isinstance(value, float):
    return f'{value:.4g}'
  return html.escape(str(value))


def _checks_table(checks: list) -> str:
  out = ['<table><tr><th>check</th><th>value</th><th>threshold</th><th>result</th>'
         '<th>detail</th></tr>']
  for c in checks:
    cls = 'pass' if c['passed'] else 'fail'
    out.append(f'<tr><td>{html.escape(c["name"])}</td><td>{_fmt(c["value"])}</td>'
               f'<td>{_fmt(c["threshold"])}</td><td class="{cls}">'
               f'{"pass" if c["passed"] else "FAIL"}</td><td>{html.escape(c["detail"])}</td></tr>')
  out.append('</table>')
  return ''.join(out)


def _share(counts: list) -> list:
  total = sum(counts)
  return [c / total if total else 0.0 for c in counts]


def _traffic_svg(traffic: dict, ids: list) -> str:
  """Requests per bucket, one polyline per deployed model."""
  counts = traffic.get('counts') or {}
  series = [counts.get(i) or [] for i in ids]
  n = max((len(s) for s in series), default=0)
  if not n:
    return '<p>No live traffic was logged.</p>'
  width, height, pad = 720, 200, 40
  top = max(max(s) if s else 0 for s in series) or 1
  out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" '
         f'role="img" aria-label="requests per model over time">',
         f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#999"/>']
  for s, color in zip(series, (BASE_COLOR, NEW_COLOR)):
    points = ' '.join(f'{pad + i * (width - 2 * pad) / max(n - 1, 1):.1f},'
                      f'{height - (height - 20) * v / top:.1f}' for i, v in enumerate(s))
    out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
  out.append(f'<text x="{pad}" y="14" font-size="12"><tspan fill="{BASE_COLOR}">&#9632; '
             f'{html.escape(ids[0])} (champion)</tspan>  <tspan fill="{NEW_COLOR}">&#9632; '
             f'{html.escape(ids[1])} (challenger)</tspan>  requests per '
             f'{traffic["bucket_seconds"]:.1f} s from {html.escape(traffic["start"])}'
             f'</text></svg>')
  return ''.join(out)


def rollout_report_html(pulled: dict) -> str:
  """pulled: the tasks' results by task id (plan_rollout, validate_infrastructure,
  load_test, deploy_canary, compare_canary, full_rollout, roll_back, reject_challenger)."""
  plan = pulled['plan_rollout'] or {}
  done = pulled.get('full_rollout')
  back = (pulled.get('roll_back') or pulled.get('reject_challenger') or
          pulled.get('restore_champion_traffic'))
  challenger, champion = plan.get('challenger', {}), plan.get('champion', {})
  title = (f'Rollout of version {challenger.get("version")} against champion '
           f'{champion.get("version")}')
  if done:
    verdict, colour = f'ROLLED OUT: version {done["version"]} is champion at 100%', '#188038'
  elif back:
    verdict = ('ROLLED BACK: the champion serves 100%' if back['outcome'] == 'rolled_back'
               else 'STOPPED before any traffic: the champion serves as before')
    colour = '#d93025'
  else:
    verdict, colour = 'NOT FINISHED (a task failed; see the run)', '#e37400'
  out = [f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
         f'</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>',
         f'<h2 style="color:{colour}">{html.escape(verdict)}</h2>']
  if back and back.get('reasons'):
    out.append(f'<p>Stage: <b>{html.escape(back["stage"])}</b></p><ul>' + ''.join(
        f'<li>{html.escape(r)}</li>' for r in back['reasons']) + '</ul>')
  if plan:
    out.append(f'<p>Run {html.escape(plan["run_id"])}; canary {plan["canary_percent"]}% for '
               f'at most {plan["observation_minutes"]:g} min or {plan["min_requests"]} '
               f'challenger requests. Reason: {html.escape(plan["reason"] or "-")}<br>'
               f'Challenger: {html.escape(str(challenger.get("model_uri")))}<br>'
               f'Champion: {html.escape(str(champion.get("model_uri")))}</p>')
  validation = pulled.get('validate_infrastructure')
  if validation:
    cls = 'pass' if validation['passed'] else 'fail'
    image = validation.get('serving_image') or "the registry version's"
    where = (f'on {validation["endpoint"]}, serving container {image}'
             if validation.get('endpoint') else
             f'server ready in {_fmt(validation.get("ready_seconds"))} s')
    out.append(f'<h3>1. Infrastructure validation <span class="{cls}">'
               f'{"pass" if validation["passed"] else "FAIL"}</span></h3>'
               f'<p>{html.escape(validation["message"])} ({html.escape(where)})</p>')
  load = pulled.get('load_test')
  if load:
    f = load['figures']
    out.append(f'<h3>2. Load test: {f["users"]} concurrent clients for {f["seconds"]:g} s, '
               f'{f["requests"]} requests</h3>' + _checks_table(load['checks']))
    hist = f.get('histogram_ms') or {}
    if hist:
      keys = sorted(hist, key=float)
      out.append(bars_svg([f'{k} ms' for k in keys], _share([hist[k] for k in keys]),
                          [0.0] * len(keys), 'load test latency',
                          legend=('challenger alone', '')))
  canary = pulled.get('compare_canary')
  if canary:
    ids = [canary['champion']['deployed_model_id'], canary['challenger']['deployed_model_id']]
    out.append(f'<h3>3. Canary on live traffic: {canary["champion"]["requests"]} champion and '
               f'{canary["challenger"]["requests"]} challenger requests '
               f'({canary["rejected_requests"]} rejected as bad requests)</h3>'
               + _checks_table(canary['checks']))
    out.append('<h4>Predicted scores</h4>')
    labels = [f'{lo:.1f}-{hi:.1f}' for lo, hi, _ in canary['champion']['score_histogram']]
    out.append(bars_svg(labels, _share([c for *_, c in canary['champion']['score_histogram']]),
                        _share([c for *_, c in canary['challenger']['score_histogram']]),
                        'predicted scores', legend=(f'{ids[0]} (champion)',
                                                    f'{ids[1]} (challenger)')))
    a = canary['champion']['latency_histogram_ms']
    b = canary['challenger']['latency_histogram_ms']
    used = [k for k in a if a[k] or b.get(k)]
    if used:
      out.append('<h4>Latency</h4>' + bars_svg(
          [f'<= {k} ms' for k in used], _share([a[k] for k in used]),
          _share([b.get(k, 0) for k in used]), 'latency',
          legend=(f'{ids[0]} (champion)', f'{ids[1]} (challenger)')))
    out.append('<h4>Traffic</h4>' + _traffic_svg(canary['traffic'], ids))
  if done:
    out.append(f'<h3>4. Full rollout</h3><p>Traffic {html.escape(str(done["traffic_split"]))}'
               f'; version {done["previous_version"]} stays deployed at 0% for a fast '
               f'rollback (the rollback_model DAG).</p>')
  elif back and back.get('traffic_split'):
    out.append(f'<h3>4. Rollback</h3><p>Traffic {html.escape(str(back["traffic_split"]))}</p>')
  out.append('</body></html>')
  return '\n'.join(out)

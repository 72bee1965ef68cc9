"""The gate's HTML report: decision, checks, metrics and a candidate-vs-champion chart."""

from __future__ import annotations

import html


def _fmt(v):
  return '–' if v is None else f'{v:.4f}' if isinstance(v, float) else html.escape(str(v))


def _bars(rows, metric):
  """An inline SVG: candidate (blue) vs champion (grey) per slice, for one metric."""
  rows = [r for r in rows if r['candidate'].get(metric) is not None][:40]
  if not rows:
    return ''
  height = 18 * len(rows) + 30
  parts = [f'<svg width="620" height="{height}" xmlns="http://www.w3.org/2000/svg" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="0" y="12" font-weight="bold">{html.escape(metric)}</text>']
  for i, r in enumerate(rows):
    y = 22 + 18 * i
    c, b = r['candidate'].get(metric) or 0, (r['champion'] or {}).get(metric)
    parts.append(f'<text x="0" y="{y + 11}">{html.escape(r["label"][:28])}</text>')
    parts.append(f'<rect x="190" y="{y}" width="{c * 380:.1f}" height="7" fill="#1a73e8"/>')
    if b is not None:
      parts.append(f'<rect x="190" y="{y + 8}" width="{b * 380:.1f}" height="7" '
                   f'fill="#9aa0a6"/>')
    parts.append(f'<text x="{195 + max(c, b or 0) * 380:.1f}" y="{y + 11}">{c:.3f}'
                 + (f' / {b:.3f}' if b is not None else '') + '</text>')
  parts.append('</svg>')
  return ''.join(parts)


def gate_report_html(decision: dict, summary: dict, champion: dict | None,
                     policy: dict, title: str) -> str:
  cand = summary['metrics']['candidate'] or {'overall': {}, 'slices': []}
  base = summary['metrics']['baseline'] or {'overall': {}, 'slices': []}
  base_by_slice = {tuple(sorted(e['slice'].items())): e['metrics'] for e in base['slices']}
  rows = [{'label': 'overall', 'candidate': cand['overall'],
           'champion': base['overall'] or None}]
  for e in cand['slices']:
    label = ', '.join(f'{k}={v}' for k, v in e['slice'].items())
    rows.append({'label': label, 'candidate': e['metrics'],
                 'champion': base_by_slice.get(tuple(sorted(e['slice'].items())))})
  metric_names = [m['name'] for m in policy['metrics']]
  verdict = 'PROMOTE' if decision['promote'] else 'REJECT'
  colour = '#188038' if decision['promote'] else '#d93025'
  out = [f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
         '</title><style>body{font-family:sans-serif;margin:24px}table{border-collapse:'
         'collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}'
         'td:first-child,th:first-child{text-align:left}.fail{color:#d93025}'
         '.pass{color:#188038}</style></head><body>',
         f'<h1>{html.escape(title)}</h1>',
         f'<h2 style="color:{colour}">{verdict}</h2>']
  if decision.get('override'):
    o = decision['override']
    out.append(f'<p><b>Override:</b> {html.escape(o["kind"])}: {html.escape(o["reason"])}</p>')
  if decision['reasons']:
    out.append('<ul>' + ''.join(f'<li>{html.escape(r)}</li>' for r in decision['reasons'])
               + '</ul>')
  out.append('<h3>Checks</h3><table><tr><th>check</th><th>result</th><th>detail</th></tr>')
  for c in decision['checks']:
    cls = 'pass' if c['passed'] else 'fail'
    out.append(f'<tr><td>{html.escape(c["name"])}</td><td class="{cls}">'
               f'{"pass" if c["passed"] else "FAIL"}{"" if not c["hard"] else " (hard)"}</td>'
               f'<td style="text-align:left">{html.escape(c["detail"])}</td></tr>')
  out.append('</table>')
  champ = (f'version {champion["version"]} ({html.escape(champion["model_uri"])})'
           if champion else 'none (first run)')
  out.append(f'<p>Champion: {champ}<br>Candidate: '
             f'{html.escape(str(summary["candidate_model_uri"]))}<br>Span: '
             f'{html.escape(summary["span"]["uri"])} {summary["span"]["split_counts"]}</p>')
  out.append('<h3>Metrics: candidate vs champion</h3><table><tr><th>slice</th>')
  for m in metric_names + ['example_count']:
    out.append(f'<th>{m} cand.</th><th>{m} champ.</th>')
  out.append('</tr>')
  for r in rows:
    out.append(f'<tr><td>{html.escape(r["label"])}</td>')
    for m in metric_names + ['example_count']:
      out.append(f'<td>{_fmt(r["candidate"].get(m))}</td>'
                 f'<td>{_fmt((r["champion"] or {}).get(m))}</td>')
    out.append('</tr>')
  out.append('</table><h3>Chart</h3>')
  for m in metric_names:
    out.append(_bars(rows, m))
  out.append('</body></html>')
  return '\n'.join(out)

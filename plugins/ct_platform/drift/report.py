"""The drift report for people: one self-contained HTML page (inline SVG, no scripts).

A table of every feature (distance, threshold, missing rates, PSI, verdict), then for
each drifting feature an overlay of the champion's data and the new window: the
aligned histogram (numeric) or the most frequent values (categorical).
"""

from __future__ import annotations

import html

from ct_platform.drift import metrics

BASE_COLOR, NEW_COLOR = '#1a73e8', '#e8710a'


def _fmt(value, pct=False) -> str:
  if value is None:
    return '-'
  return f'{value:.1%}' if pct else f'{value:.4f}'


def bars_svg(labels: list[str], base: list[float], new: list[float], title: str,
             legend=("champion's data", 'new window')) -> str:
  """Grouped bars of two vectors (baseline, new); the rollout report draws with it too."""
  width, height, pad, bottom = 720, 220, 40, 70
  n = max(len(labels), 1)
  slot = (width - 2 * pad) / n
  top = max(base + new + [1e-9])
  out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom}" '
         f'role="img" aria-label="{html.escape(title)}">',
         f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#999"/>']
  for i, label in enumerate(labels):
    x = pad + i * slot
    for j, (value, color) in enumerate(((base[i], BASE_COLOR), (new[i], NEW_COLOR))):
      h = (height - 20) * value / top
      out.append(f'<rect x="{x + 2 + j * (slot - 4) / 2:.1f}" y="{height - h:.1f}" '
                 f'width="{max((slot - 4) / 2, 1):.1f}" height="{h:.1f}" fill="{color}" '
                 f'opacity="0.8"><title>{html.escape(label)}: '
                 f'{html.escape(legend[j])} {value:.3f}</title></rect>')
    out.append(f'<text x="{x + slot / 2:.1f}" y="{height + 12}" font-size="9" '
               f'text-anchor="end" transform="rotate(-45 {x + slot / 2:.1f} {height + 12})">'
               f'{html.escape(label[:18])}</text>')
  second = (f'  <tspan fill="{NEW_COLOR}">&#9632; {html.escape(legend[1])}</tspan>'
            if legend[1] else '')
  out.append(f'<text x="{pad}" y="14" font-size="12"><tspan fill="{BASE_COLOR}">&#9632; '
             f'{html.escape(legend[0])}</tspan>{second}</text></svg>')
  return ''.join(out)


def _normalized(values):
  total = sum(values)
  return [v / total if total else 0.0 for v in values]


def overlay_svg(name: str, base: dict, new: dict, top: int = 20) -> str:
  if base['kind'] == 'numeric' and new['kind'] == 'numeric':
    c1, c2, labels = metrics.align_histograms(base['histogram'], new['histogram'])
    text = [f'{lo:.4g}' if lo == hi else f'{lo:.4g}..{hi:.4g}' for lo, hi in labels]
    return bars_svg(text, _normalized(c1), _normalized(c2), name)
  b, n = base.get('values') or {}, new.get('values') or {}
  pb = dict(zip(b, _normalized(list(b.values()))))
  pn = dict(zip(n, _normalized(list(n.values()))))
  keys = sorted(set(pb) | set(pn), key=lambda k: -max(pb.get(k, 0), pn.get(k, 0)))[:top]
  return bars_svg(keys, [pb.get(k, 0.0) for k in keys], [pn.get(k, 0.0) for k in keys], name)


def drift_report_html(verdict: dict, baseline: dict | None, new: dict, title: str) -> str:
  color = '#e8710a' if verdict['retrain'] else '#188038'
  head = 'RETRAIN' if verdict['retrain'] else 'NO RETRAIN'
  rows = []
  for f in verdict.get('features', []):
    mr = f.get('missing_rate') or {}
    status = f.get('status', '-')
    style = ' style="background:#fde7e9"' if f['drifted'] else ''
    notes = '; '.join(f.get('reasons', []) + f.get('problems', []))
    rows.append(
        f'<tr{style}><td>{html.escape(f["feature"])}</td><td>{f["kind"]}</td>'
        f'<td>{f["metric"]}</td><td>{_fmt(f.get("distance"))}</td><td>{f["threshold"]}</td>'
        f'<td>{_fmt(mr.get("baseline"), True)}</td><td>{_fmt(mr.get("new"), True)}</td>'
        f'<td>{_fmt(f.get("psi"))}</td><td>{status}</td><td>{html.escape(notes)}</td></tr>')
  charts = []
  for f in verdict.get('features', []):
    if not f['drifted'] or baseline is None:
      continue
    b, n = baseline['features'].get(f['feature']), new['features'].get(f['feature'])
    if b and n:
      charts.append(f'<h3>{html.escape(f["feature"])}</h3>'
                    f'<p>{html.escape("; ".join(f.get("reasons", [])))}</p>'
                    + overlay_svg(f['feature'], b, n))
  reasons = ''.join(f'<li>{html.escape(r)}</li>' for r in verdict.get('reasons', []))
  return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:3px 7px;
font-size:13px}}th{{background:#f1f3f4}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2 style="color:{color}">{head}</h2>
<p>{html.escape(verdict['reason'])}</p><ul>{reasons}</ul>
<p>Rows: champion's data {verdict.get('baseline_rows') or '-'}, new window
{verdict.get('new_rows')}. Champion age (data time): {verdict.get('champion_age_days')}
days. Data quality: {html.escape((verdict.get('data_quality') or {}).get('message', '-'))}
(at most {(verdict.get('data_quality') or {}).get('max_duplicate_rate')} allowed).
Distances as TFDV defines them: Jensen-Shannon divergence (numeric), L-infinity
(categorical); missing values are compared as a rate of their own.</p>
<table><tr><th>feature</th><th>kind</th><th>metric</th><th>distance</th><th>threshold</th>
<th>missing (champion)</th><th>missing (new)</th><th>PSI</th><th>status</th><th>notes</th></tr>
{''.join(rows)}</table>
{''.join(charts)}
</body></html>
"""

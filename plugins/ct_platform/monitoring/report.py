"""The monitoring report of one run: one self-contained HTML page (inline SVG, no scripts).

The verdict and the retrain-request reasons first; then each check with its figures
beside their thresholds: skew per feature (a chart of distance against threshold),
the live score distribution against the offline and the previous window's, online
against offline metrics with the label coverage and delay, serving data quality, traffic.
"""

from __future__ import annotations

import html

from ct_platform.drift.report import bars_svg
from ct_platform.rollout.report import STYLE, _fmt

COLORS = {'ok': '#188038', 'crossed': '#d93025', 'no_verdict': '#80868b'}


def _status(status: str) -> str:
  return (f'<b style="color:{COLORS.get(status, "#000")}">'
          f'{html.escape(status.replace("_", " ").upper())}</b>')


def _table(header: list, rows: list) -> str:
  out = ['<table><tr>' + ''.join(f'<th>{html.escape(h)}</th>' for h in header) + '</tr>']
  for row in rows:
    out.append('<tr>' + ''.join(f'<td>{c}</td>' for c in row) + '</tr>')
  return ''.join(out) + '</table>'


def _share(histogram) -> list:
  counts = [c for _, _, c in histogram or []]
  total = sum(counts)
  return [c / total if total else 0.0 for c in counts]


def _skew(check) -> str:
  rows = check.get('features') or []
  out = [_table(['feature', 'metric', 'distance', 'skew threshold', 'result', 'notes'], [
      [html.escape(r['feature']), html.escape(r['metric']), _fmt(r['distance']),
       _fmt(r['threshold']), _status('crossed' if r['drifted'] else 'ok'),
       html.escape('; '.join(r.get('reasons') or r.get('problems') or []))] for r in rows])]
  if rows:
    out.append(bars_svg([r['feature'] for r in rows], [r['distance'] or 0.0 for r in rows],
                        [r['threshold'] for r in rows], 'skew per feature',
                        legend=('distance to training', 'skew threshold')))
  return ''.join(out)


def _drift(check) -> str:
  scores = check.get('scores') or []
  labels = [f'{lo:.1f}-{hi:.1f}' for lo, hi, _ in scores]
  out = []
  for name, against in (check.get('against') or {}).items():
    if not against:
      out.append(f'<p>{html.escape(name.replace("_", " "))}: nothing to compare with</p>')
      continue
    out.append(f'<p>against the {html.escape(name.replace("_", " "))}: PSI '
               f'{_fmt(against["psi"])}, JSD {_fmt(against["jsd"])}</p>')
    out.append(bars_svg(labels, _share(against['histogram']), _share(scores),
                        f'predicted scores: {name}', legend=(name.replace('_', ' '),
                                                             'this window')))
  return ''.join(out)


def _decay(check) -> str:
  online, offline = check.get('online') or {}, check.get('offline') or {}
  rows = [[m, _fmt(online.get(m)), _fmt(offline.get(m)),
           _fmt(None if online.get(m) is None or offline.get(m) is None
                else offline[m] - online[m])] for m in ('auc', 'binary_accuracy')]
  return (_table(['metric', 'online (this window)', 'offline (champion)', 'drop'], rows) +
          f'<p>{_fmt(online.get("labelled"))} labelled of {_fmt(check.get("instances"))} '
          f'served instances; coverage {_fmt(check.get("label_coverage"))}; labels arrive up '
          f'to {_fmt(check.get("label_delay_hours"))} h after the trip.</p>')


def _quality(check) -> str:
  rows = [[html.escape(f['feature']), _fmt(f['missing_rate']), _fmt(f['training_missing_rate']),
           _fmt(f['out_of_domain_rate']), html.escape(', '.join(map(str,
                                                                    f['out_of_domain_values'])))]
          for f in check.get('features') or []]
  return (f'<p>{_fmt(check.get("requests"))} requests, {_fmt(check.get("rejected"))} refused '
          f'(rate {_fmt(check.get("rejected_rate"))})</p>' +
          _table(['feature', 'missing rate', 'in training', 'out of domain', 'unseen values'],
                 rows))


SECTIONS = {'skew': _skew, 'prediction_drift': _drift, 'decay': _decay,
            'data_quality': _quality}


def monitoring_report_html(record: dict) -> str:
  verdict, window = record['verdict'], record['window']
  champion = record.get('champion') or {}
  head = 'RETRAIN REQUESTED' if verdict['retrain'] else 'NO RETRAINING'
  out = [f'<!doctype html><html><head><meta charset="utf-8"><title>Monitoring '
         f'{html.escape(record["run_id"])}</title><style>{STYLE}</style></head><body>',
         f'<h1>Monitoring: {html.escape(window["since"])} .. {html.escape(window["until"])}</h1>',
         f'<p>champion: version {_fmt(champion.get("version"))} (deployed as '
         f'{_fmt(champion.get("deployed_id"))}); run {html.escape(record["run_id"])}</p>',
         f'<h2 style="color:{"#d93025" if verdict["retrain"] else "#188038"}">{head}</h2>',
         f'<p>{html.escape(verdict["summary"])}</p>']
  if verdict['reasons']:
    out.append('<ul>' + ''.join(f'<li>{html.escape(r["text"])}</li>'
                                for r in verdict['reasons']) + '</ul>')
  out.append(_table(['check', 'status', 'detail'], [
      [html.escape(c['name']), _status(c['status']), html.escape(c['detail'])]
      for c in record['checks']]))
  for c in record['checks']:
    out.append(f'<h2>{html.escape(c["name"].replace("_", " "))} {_status(c["status"])}</h2>')
    out.append(f'<p>{html.escape(c["detail"])}</p>')
    out.append(SECTIONS[c['name']](c))
  if record.get('traffic'):
    out.append('<h2>traffic</h2>' + _table(
        ['day', 'deployed model', 'requests', 'instances', 'answered'],
        [[_fmt(t.get('day')), _fmt(t.get('deployed_model_id') or '(refused)'),
          _fmt(t.get('requests')), _fmt(t.get('instances')), _fmt(t.get('answered'))]
         for t in record['traffic']]))
  out.append('</body></html>')
  return '\n'.join(out)

"""Prints a run summary (run_summary.json) for people: verdict, metrics, reasons."""

import json
import sys


def fmt(v):
  return '-' if v is None else f'{v:.4f}' if isinstance(v, float) else str(v)


def main(path: str) -> int:
  s = json.load(open(path))
  print(f'\nrun {s["run_id"]}  pipeline {s["pipeline"]["name"]}@{s["pipeline"]["version"]} '
        f'({s["pipeline"]["variant"]})')
  print(f'span      {s["span"]["uri"]}  rows {s["span"]["split_counts"]}')
  print(f'status    {s["status"]}')
  dv = s['data_validation']
  print(f'anomalies {dv["anomaly_count"]}')
  for a in dv['anomalies']:
    print(f'  - [{a["split"]}] {a["feature"]}: {a["short_description"]} ({a["description"]})')
  if s['status'] == 'completed':
    cand = s['metrics']['candidate']['overall']
    base = (s['metrics']['baseline'] or {}).get('overall', {})
    print(f'{"metric":<18}{"candidate":>12}{"champion":>12}')
    for name in sorted(cand):
      print(f'{name:<18}{fmt(cand[name]):>12}{fmt(base.get(name)):>12}')
    print(f'blessed   {s["blessing"]["blessed"]}')
    for r in s['blessing']['reasons']:
      print(f'  - {r["message"]}')
    print(f'smoke     {"passed" if s["smoke_test"]["passed"] else "FAILED"}: '
          f'{s["smoke_test"]["message"]}')
    print(f'candidate {s["candidate_model_uri"]}')
  print(f'summary   {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1]))

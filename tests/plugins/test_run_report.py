"""run_report: the texts people read about a run (summarize's log, print_summary.py)."""

import json
import subprocess
import sys
from pathlib import Path

from ct_platform.run_report import run_report, summary_text

DATA = Path(__file__).parent / 'data'
REPO = Path(__file__).resolve().parents[2]


def _summary(name):
  return json.loads((DATA / f'run_summary_{name}.json').read_text())


def test_summary_text_of_a_completed_and_a_stopped_run():
  blessed = summary_text(_summary('blessed'), 'x/run_summary.json')
  assert 'status    completed' in blessed and 'blessed   True' in blessed
  assert 'auc' in blessed and blessed.endswith('summary   x/run_summary.json')
  stopped = _summary('stopped')
  first = stopped['data_validation']['anomalies'][0]
  text = summary_text(stopped)
  assert f'[{first["split"]}] {first["feature"]}: {first["short_description"]}' in text
  first['message'] = 'data validation (split train): fare: 3 of 9 values are NaN'
  assert '  - data validation (split train): fare: 3 of 9 values are NaN' in summary_text(
      stopped)


def test_print_summary_script_runs_without_airflow(tmp_path):
  path = tmp_path / 'run_summary.json'
  path.write_text(json.dumps(_summary('rejected')))
  out = subprocess.run([sys.executable, '-I', str(REPO / 'scripts' / 'print_summary.py'),
                        str(path)], capture_output=True, text=True, check=True).stdout
  assert 'blessed   False' in out and str(path) in out


def test_run_report_names_window_decision_and_champion():
  plan = {'run_id': 'manual__1', 'window': {'start': '2015-10-03', 'end': '2016-01-01',
                                             'days': 90, 'source': 'param'}}
  decision = {'outcome': 'reject', 'override': None, 'reasons': ['auc: too low'],
              'report': '/r/gate_report.html'}
  text = run_report(plan, {'rows': 10, 'uri': '/s'}, None, None, decision, None,
                    {'version': 3, 'model_uri': '/m/3'})
  assert 'window     2015-10-03 .. 2016-01-01 (90 days' in text
  assert 'decision   REJECT' in text and '  - auc: too low' in text
  assert 'champion   unchanged: version 3 at /m/3' in text

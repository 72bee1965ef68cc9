"""The payload shapes in payloads.py are the ones the tasks really produce."""

import datetime as dt
import typing

from ct_platform import payloads, tasks
from ct_platform.config import load_settings
from ct_platform.window import TrainingWindow


def _keys(cls):
  return set(typing.get_type_hints(cls))


def test_plan_has_exactly_the_documented_keys(tmp_path):
  settings = load_settings({'local_dir': str(tmp_path)})
  plan = tasks.plan_run({'window_end': '2016-01-01', 'window_days': 90}, None,
                        dt.datetime(2016, 1, 2, tzinfo=dt.timezone.utc), 'manual__1', settings)
  assert set(plan) == _keys(payloads.Plan)
  assert set(plan['window']) == _keys(payloads.Window)


def test_a_window_survives_its_dict():
  w = TrainingWindow(dt.date(2015, 10, 3), dt.date(2016, 1, 1), 'param')
  assert TrainingWindow.from_dict(w.as_dict()) == w
  assert TrainingWindow.from_dict(w.as_dict(), source='champion').source == 'champion'
  assert tasks.window_from_plan({'window': w.as_dict()}) == w


def test_gate_decision_keys(tmp_path):
  import json
  from pathlib import Path
  summary = json.loads((Path(__file__).parent / 'data' / 'run_summary_blessed.json')
                       .read_text())
  (tmp_path / 'r').mkdir()
  result = {'run_id': 'r', 'summary_uri': str(tmp_path / 'r' / 'run_summary.json'),
            'summary': summary}
  assert set(result) == _keys(payloads.PipelineResult)
  plan = {'force_promote': False, 'force_promote_reason': '', 'force_reject': False,
          'force_reject_reason': ''}
  decision = tasks.gate(result, None, plan, load_settings({'local_dir': str(tmp_path)}))
  assert set(decision) == _keys(payloads.GateDecision)

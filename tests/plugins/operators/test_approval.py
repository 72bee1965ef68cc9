"""PromotionApprovalOperator: its timeout is read when it runs, and it says it is waiting."""

import json
import types

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator

from ct_platform.operators.approval import PromotionApprovalOperator


def run(tmp_path, monkeypatch, hours):
  op = PromotionApprovalOperator(task_id='request_approval', subject='Promote v3?',
                                 settings_overrides={'local_dir': str(tmp_path),
                                                     'approval_timeout_hours': hours})
  monkeypatch.setattr(ApprovalOperator, 'execute', lambda self, context: 'parked')
  ctx = {'dag_run': types.SimpleNamespace(dag_id='continuous_training', run_id='r1')}
  return op, op.execute(ctx)


def test_the_timeout_comes_from_the_setting_and_the_request_is_announced(tmp_path,
                                                                         monkeypatch):
  op, result = run(tmp_path, monkeypatch, 0.5)
  assert result == 'parked' and op.response_timeout.total_seconds() == 1800
  events = [json.loads(line) for line in (tmp_path / 'notifications.jsonl').read_text()
            .splitlines()]
  assert events[-1]['event'] == 'approval_requested'
  assert 'within 0.5 h (no answer rejects)' in events[-1]['message']


def test_a_timeout_that_is_not_positive_is_refused_naming_the_setting(tmp_path, monkeypatch):
  with pytest.raises(ValueError, match='setting approval_timeout_hours: 0.0 must be > 0'):
    run(tmp_path, monkeypatch, 0)

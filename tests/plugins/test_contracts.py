"""The DAG's side of the contracts: the policy and the run summary it reads.

The summaries under data/ are real outputs of the pipeline tests' runs (blessed first
run, rejected second run, run stopped by a missing column).
"""

import copy
import json
from pathlib import Path

import pytest
import yaml

from ct_platform import contracts

DATA = Path(__file__).parent / 'data'


def _summary(name):
  return json.loads((DATA / f'run_summary_{name}.json').read_text())


@pytest.mark.parametrize('name', ['blessed', 'rejected', 'stopped'])
def test_real_summaries_validate(name):
  assert contracts.validate_run_summary(_summary(name))['schema_version'] == 1


@pytest.mark.parametrize('mutate, expected', [
    (lambda s: s.pop('blessing'), "<top>: 'blessing' is a required property"),
    (lambda s: s.update(status='done'), "status: 'done' is not one of"),
    (lambda s: s['blessing'].update(blessed='yes'), 'blessing/blessed'),
    (lambda s: s['smoke_test'].pop('passed'), 'smoke_test'),
    (lambda s: s.update(written_at='yesterday'), 'written_at'),
    (lambda s: s.update(extra=1), "'extra' was unexpected"),
])
def test_invalid_summary_is_named(mutate, expected):
  bad = copy.deepcopy(_summary('blessed'))
  mutate(bad)
  with pytest.raises(contracts.ContractError) as info:
    contracts.validate_run_summary(bad)
  assert expected in str(info.value)


def test_policy_loads():
  policy = contracts.load_policy()
  assert {m['name'] for m in policy['metrics']} == {'auc', 'binary_accuracy'}
  assert all(-1 < m['min_delta'] <= 0.1 for m in policy['metrics'])


@pytest.mark.parametrize('policy, expected', [
    ({}, '"metrics" must list at least one metric'),
    ({'metrics': [{'name': 'auc', 'class_name': 'AUC', 'min_delta': 0}]},
     'metrics[0] lacks "lower_bound"'),
    ({'metrics': [{'name': 'auc', 'class_name': 'AUC', 'min_delta': 0, 'lower_bound': 0.5}],
      'slices': [{'feature': 'payment_type'}]}, 'slices[0] lacks "max_regression"'),
])
def test_bad_policy_is_named(tmp_path, policy, expected):
  path = tmp_path / 'policy.yaml'
  path.write_text(yaml.safe_dump(policy))
  with pytest.raises(contracts.ContractError) as info:
    contracts.load_policy(path)
  assert expected in str(info.value)

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

DATA = Path(__file__).resolve().parents[1] / 'data'


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
    ({'metrics': [{'name': 'auc', 'class_name': 'AUC', 'min_delta': 0, 'lower_bound': 0.5}],
      'slices': [{'feature': 'payment_type', 'max_regression': 0.05, 'min_examples': 30,
                  'confidence': 95}]},
     'slices[0].confidence: 95 is not a number in [0, 1)'),
])
def test_bad_policy_is_named(tmp_path, policy, expected):
  path = tmp_path / 'policy.yaml'
  path.write_text(yaml.safe_dump(policy))
  with pytest.raises(contracts.ContractError) as info:
    contracts.load_policy(path)
  assert expected in str(info.value)


# --- the folder both environments read ------------------------------------------------

def _imports(path):
  import ast
  tree = ast.parse(path.read_text())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      yield ('.' * node.level) + (node.module or '')


def test_nothing_in_contracts_imports_ct_platform_or_a_sibling():
  """The pipeline env has no ct_platform and loads each file by path: an import of
  ct_platform, or a relative import, would break it there only."""
  from ct_platform.contracts import CONTRACTS_DIR

  allowed = {'json', 'pathlib', 'yaml', 'jsonschema', 're', 'dataclasses', '__future__', 'os',
             'tempfile'}
  modules = sorted(CONTRACTS_DIR.glob('*.py'))
  assert {p.name for p in modules} >= {'__init__.py', 'layout.py'}
  for path in modules:
    for name in _imports(path):
      assert name.split('.')[0] in allowed, f'{path.name} imports {name}'


def test_each_contracts_module_loads_by_path_alone():
  import importlib.util

  from ct_platform.contracts import CONTRACTS_DIR
  for path in sorted(CONTRACTS_DIR.glob('*.py')):
    spec = importlib.util.spec_from_file_location(f'alone_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # raises if it needs its package


def test_layout_names_the_variant_and_the_places():
  from ct_platform.contracts import layout
  assert layout.variant_for('gs://b/models/3') == 'with_baseline'
  assert layout.variant_for('') == layout.variant_for(None) == 'first_run'
  assert layout.run_summary_uri('gs://b/root/r1/') == 'gs://b/root/r1/run_summary.json'
  assert layout.candidate_dir('/runs/r1') == '/runs/r1/candidate'
  assert layout.drift_dir('gs://b/spans/w/r-try1/') == 'gs://b/spans/w/r-try1.drift'
  assert json.loads(layout.push_destination('gs://b/root/r1/candidate')) == {
      'filesystem': {'base_directory': 'gs://b/root/r1/candidate'}}

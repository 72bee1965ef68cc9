"""The policy and run-summary contracts, as the pipeline reads them."""

import copy
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
import yaml

from ct_pipeline import contracts
from ct_pipeline.eval_config import build_eval_config


def test_policy_becomes_overall_thresholds_and_slices():
  policy = contracts.load_policy()
  cfg = build_eval_config(policy)
  configs = {m.class_name: m for m in cfg.metrics_specs[0].metrics}
  for m in policy['metrics']:
    per_slice = configs[m['class_name']].per_slice_thresholds
    assert len(per_slice) == 1
    # thresholds hold the whole eval split only (a slice spec with no features)
    assert list(per_slice[0].slicing_specs) == [tfma.SlicingSpec()]
    threshold = per_slice[0].threshold
    assert threshold.value_threshold.lower_bound.value == m['lower_bound']
    assert threshold.change_threshold.absolute.value == m['min_delta']
  assert [list(s.feature_keys) for s in cfg.slicing_specs] == (
      [[]] + [[s['feature']] for s in policy['slices']])


def test_policy_missing_field_is_named(tmp_path):
  path = tmp_path / 'policy.yaml'
  path.write_text(yaml.safe_dump({'metrics': [{'name': 'auc', 'class_name': 'AUC',
                                               'lower_bound': 0.5}]}))
  with pytest.raises(ValueError, match=r'metrics\[0\] lacks "min_delta"'):
    contracts.load_policy(path)


def test_summary_schema_rejects_what_the_gate_cannot_use(first_run):
  good = first_run.summary
  contracts.validate_summary(good)
  for mutate, field in [
      (lambda s: s.pop('blessing'), 'blessing'),
      (lambda s: s.update(status='maybe'), 'maybe'),
      (lambda s: s['blessing'].update(blessed='yes'), 'yes'),
      (lambda s: s.update(thresholds=[{'metric': 'auc'}]), 'lower_bound'),
  ]:
    bad = copy.deepcopy(good)
    mutate(bad)
    with pytest.raises(ValueError, match=field) as raised:
      contracts.validate_summary(bad)
    assert type(raised.value).__name__ == 'ContractError'  # the DAG side's own check


def test_pipeline_reads_the_same_files_as_the_dag():
  repo = Path(__file__).resolve().parents[2]
  assert contracts.contracts_dir() == repo / 'plugins' / 'ct_platform' / 'contracts'

"""The whole pipeline on a small slice of the shipped data, through the local runner."""

import json
from pathlib import Path

from conftest import read_sample

from ct_pipeline import contracts


def test_first_run_is_blessed_with_a_valid_summary(first_run, good_span):
  s = first_run.summary
  contracts.validate_summary(s)  # the reader's check, too
  assert s['status'] == 'completed'
  assert s['pipeline']['variant'] == 'first_run'
  assert s['run_id'] == 'test-first'
  assert s['span']['uri'] == str(good_span)
  assert s['data_validation'] == {'anomaly_count': 0, 'anomalies': []}
  assert s['blessing'] == {'evaluated': True, 'blessed': True, 'reasons': []}
  assert s['smoke_test']['passed'] is True and s['smoke_test']['examples'] == 20
  assert s['metrics']['baseline'] is None and s['baseline_model_uri'] is None
  overall = s['metrics']['candidate']['overall']
  assert overall['auc'] >= 0.6 and overall['binary_accuracy'] >= 0.6
  assert Path(s['candidate_model_uri'], 'Format-Serving', 'saved_model.pb').is_file()
  assert s['pushed_model_uri'] is not None


def test_manifest_beside_the_span_is_not_read_as_rows(first_run):
  counts = first_run.summary['span']['split_counts']
  # A manifest read as CSV would add a row (or fail the parse).
  assert sum(counts.values()) == len(read_sample())
  assert set(counts) == {'train', 'eval'} and counts['train'] > 2 * counts['eval']


def test_summary_is_sliced_as_the_policy_says(first_run):
  policy = contracts.load_policy()
  slices = first_run.summary['metrics']['candidate']['slices']
  sliced_features = {k for entry in slices for k in entry['slice']}
  assert sliced_features == {sl['feature'] for sl in policy['slices']}
  cash = [e for e in slices if e['slice'] == {'payment_type': 'Cash'}]
  assert cash and cash[0]['metrics']['example_count'] > 0
  assert first_run.summary['thresholds'] == [
      {'metric': m['name'], 'lower_bound': m['lower_bound'], 'min_delta': m['min_delta']}
      for m in policy['metrics']]


def test_second_run_is_evaluated_against_the_champion(first_run, second_run):
  first, second = first_run.summary, second_run.summary
  assert second['pipeline']['variant'] == 'with_baseline'
  assert second['baseline_model_uri'] == first['candidate_model_uri']
  # Same eval split, same champion model: the baseline scores what it scored as candidate.
  base = second['metrics']['baseline']['overall']
  champion = first['metrics']['candidate']['overall']
  assert abs(base['auc'] - champion['auc']) < 1e-6
  # The untrained candidate is held back, and the summary says why.
  assert second['blessing']['blessed'] is False
  change = [r for r in second['blessing']['reasons'] if r['kind'] == 'change']
  assert change, second['blessing']['reasons']
  auc = [r for r in change if r['metric'] == 'auc'][0]
  assert auc['slice'] == {} and auc['threshold'] == -0.005
  assert abs(auc['baseline_value'] - champion['auc']) < 1e-6
  assert auc['value'] < auc['baseline_value'] - 0.005
  assert 'champion' in auc['message']
  # Pusher skips unblessed models; the candidate is still named for an audited override.
  assert second['pushed_model_uri'] is None
  assert Path(second['candidate_model_uri'], 'Format-Serving').is_dir()


def _assert_stopped(run, feature, short_description):
  s = run.summary
  contracts.validate_summary(s)
  assert s['status'] == 'stopped_by_anomalies'
  assert s['candidate_model_uri'] is None and s['smoke_test'] is None
  assert s['blessing'] == {'evaluated': False, 'blessed': None, 'reasons': []}
  found = [a for a in s['data_validation']['anomalies'] if a['feature'] == feature]
  assert found, json.dumps(s['data_validation'], indent=1)
  assert any(short_description in a['short_description'] for a in found), found
  # Stopped before Transform: nothing was trained.
  for component in ('Transform', 'Trainer', 'Evaluator', 'Pusher'):
    assert not (run.pipeline_root / component).exists(), component


def test_missing_column_stops_the_run_before_transform(missing_column_run):
  _assert_stopped(missing_column_run, 'payment_type', 'Column dropped')


def test_text_in_numeric_column_stops_the_run_before_transform(text_in_numeric_run):
  _assert_stopped(text_in_numeric_run, 'trip_miles', 'Unexpected data type')

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
  assert set(counts) == {'train', 'eval', 'test'}
  assert counts['train'] > 2 * counts['eval'] and counts['test'] > 0.1 * sum(counts.values())


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
  # TFDV names it "Multiple errors" when a second reason joins (a range, say): the
  # message a user reads names each reason
  assert any(short_description in a['short_description'] or short_description in a['message']
             for a in found), found
  # Stopped before Transform: nothing was trained.
  for component in ('Transform', 'Trainer', 'Evaluator', 'Pusher'):
    assert not (run.pipeline_root / component).exists(), component
  return found


def test_missing_column_stops_the_run_before_transform(missing_column_run):
  _assert_stopped(missing_column_run, 'payment_type', 'Column dropped')


def test_text_in_numeric_column_stops_the_run_before_transform(text_in_numeric_run):
  _assert_stopped(text_in_numeric_run, 'trip_miles', 'Unexpected data type')


def test_non_finite_values_stop_the_run_naming_feature_and_count(non_finite_run):
  fare = _assert_stopped(non_finite_run, 'fare', 'Invalid values')
  nan_rows = len(read_sample()[::9])
  counted = 0
  for a in fare:
    assert 'FLOAT_TYPE_HAS_NAN' in a['types']
    assert a['message'].startswith(f'data validation (split {a["split"]}): fare: ')
    assert 'values are NaN; the schema allows no NaN' in a['message'], a['message']
    counted += int(a['message'].split(': ')[3].split(' of ')[0])
  assert counted == nan_rows  # every NaN counted, over the splits
  miles = [a for a in non_finite_run.summary['data_validation']['anomalies']
           if a['feature'] == 'trip_miles']
  assert miles and all('FLOAT_TYPE_HAS_INF' in a['types'] for a in miles)
  assert all('values are infinite; the schema allows no infinity' in a['message']
             for a in miles), miles


def test_absurd_fare_and_garbage_payment_type_stop_the_run(out_of_range_run):
  fare = _assert_stopped(out_of_range_run, 'fare', 'Out-of-range values')
  assert any('4.1e+07>100000' in a['message'] for a in fare), fare
  payment = _assert_stopped(out_of_range_run, 'payment_type', 'Unexpected string values')
  assert all('Bitcoin??' in a['message'] for a in payment), payment


def _serialized_examples(split_dir: Path) -> set:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  files = [str(p) for p in split_dir.glob('*.gz')]
  return {bytes(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type='GZIP')}


def test_identical_rows_land_in_the_same_split(out_of_range_run):
  """Every row of that span is there twice: no copy may sit in another split than its
  twin (leakage that would flatter the test metrics)."""
  examples = sorted((out_of_range_run.pipeline_root / 'CsvExampleGen' / 'examples')
                    .iterdir())[0]
  splits = {name: _serialized_examples(examples / f'Split-{name}')
            for name in ('train', 'eval', 'test')}
  assert all(splits.values())
  assert not splits['train'] & splits['eval']
  assert not splits['train'] & splits['test']
  assert not splits['eval'] & splits['test']


def test_a_legitimate_new_payment_type_passes_validation(first_run, good_span):
  text = (good_span / 'part-000.csv').read_text()
  assert ',Mobile,' in text  # in the span, absent from the 2013-2016 sample
  assert first_run.summary['data_validation']['anomaly_count'] == 0


def test_evaluator_judges_the_held_out_test_split(first_run):
  s = first_run.summary
  counts = s['span']['split_counts']
  overall = s['metrics']['candidate']['overall']
  assert int(overall['example_count']) == counts['test']
  labels = s['label_distribution']
  assert labels['split'] == 'test' and labels['examples'] == counts['test']
  assert 0 < labels['positives'] < labels['examples'] and not labels['single_class']
  assert labels['message'] == ''
  # Transform writes only what the Trainer reads: the test split stays raw
  transformed = sorted((first_run.pipeline_root / 'Transform' / 'transformed_examples')
                       .iterdir())[0]
  assert {p.name for p in transformed.iterdir()} == {'Split-train', 'Split-eval'}


def test_a_window_with_one_class_says_auc_is_undefined(no_tips_run):
  s = no_tips_run.summary
  contracts.validate_summary(s)
  assert s['status'] == 'completed'
  labels = s['label_distribution']
  n = s['span']['split_counts']['test']
  assert labels == {'split': 'test', 'examples': n, 'positives': 0, 'single_class': True,
                    'message': f'test split has 0 positives of {n}: AUC undefined'}

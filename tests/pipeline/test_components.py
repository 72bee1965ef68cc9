"""Each component of the shared first run produced the artifacts it should."""

import json
from pathlib import Path

import tensorflow as tf

from ct_pipeline.components.smoke_test import run_smoke_test
from ct_pipeline.models import features


def _only(root, component, output):
  found = sorted((root / component / output).iterdir())
  assert len(found) == 1, found
  return found[0]


def test_example_gen_writes_hash_splits(first_run):
  examples = _only(first_run.pipeline_root, 'CsvExampleGen', 'examples')
  assert {p.name for p in examples.iterdir()} == {'Split-train', 'Split-eval', 'Split-test'}
  assert list((examples / 'Split-eval').glob('*.gz'))


def test_statistics_schema_anomalies(first_run):
  root = first_run.pipeline_root
  stats = _only(root, 'StatisticsGen', 'statistics')
  assert (stats / 'Split-train' / 'FeatureStats.pb').is_file()
  assert (_only(root, 'ImportSchemaGen', 'schema') / 'schema.pbtxt').is_file()
  anomalies = _only(root, 'ExampleValidator', 'anomalies')
  assert (anomalies / 'Split-eval' / 'SchemaDiff.pb').is_file()
  verdict = _only(root, 'AnomalyCheck', 'verdict')
  assert (verdict / 'value').read_text() == '0'


def test_transform_trainer_evaluator_pusher(first_run):
  root = first_run.pipeline_root
  graph = _only(root, 'Transform', 'transform_graph')
  assert (graph / 'transform_fn' / 'saved_model.pb').is_file()
  assert (graph / 'transformed_metadata' / 'schema.pbtxt').is_file()
  model = _only(root, 'Trainer', 'model')
  assert (model / 'Format-Serving' / 'saved_model.pb').is_file()
  assert (_only(root, 'Evaluator', 'blessing') / 'BLESSED').is_file()
  assert (_only(root, 'Evaluator', 'evaluation') / 'validations.tfrecord').is_file()
  pushed = _only(root, 'Pusher', 'pushed_model')
  assert (pushed / 'saved_model.pb').is_file()
  # and the candidate folder of this run (never production)
  assert list((first_run.out / 'candidate').glob('*/saved_model.pb'))


def test_smoke_test_records_a_pass(first_run):
  result = json.loads((_only(first_run.pipeline_root, 'SmokeTest', 'result') /
                       'smoke_test.json').read_text())
  assert result['passed'] and 0.0 <= result['prediction_min'] <= result['prediction_max'] <= 1.0
  # the rows it sent, as the model server takes them, and what the model answered
  rows = json.loads(Path(result['rows_uri']).read_text())
  assert len(rows['instances']) == len(rows['predictions']) == len(rows['labels']) == 20
  assert min(rows['predictions']) == result['prediction_min'] and result['examples'] == 20
  first = rows['instances'][0]
  assert isinstance(first['fare'], float) and isinstance(first['payment_type'], str)
  assert sorted(first) == sorted(features.RAW_FEATURE_KEYS)  # the label is not an input
  assert all(isinstance(label, float) for label in rows['labels'])
  # the offline score distribution monitoring compares live scores with: more examples
  # than the smoke rows, in ten buckets over [0, 1] that hold every one of them
  scores = result['eval_scores']
  assert scores['examples'] > 20 and len(scores['histogram']) == 10
  assert sum(c for _, _, c in scores['histogram']) == scores['examples']
  assert scores['histogram'][0][0] == 0.0 and scores['histogram'][-1][1] == 1.0


def test_smoke_test_fails_on_a_model_that_cannot_serve(first_run, tmp_path):
  examples = _only(first_run.pipeline_root, 'CsvExampleGen', 'examples')
  # A SavedModel without a serving signature: the smoke test must say so, not pass.
  module = tf.Module()
  module.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / 'model'), signatures={})
  result = run_smoke_test(str(tmp_path / 'model'), str(examples / 'Split-eval' / '*.gz'), 5)
  assert result['passed'] is False and 'serving_default' in result['message']


def test_smoke_test_fails_without_examples(first_run, tmp_path):
  model = _only(first_run.pipeline_root, 'Trainer', 'model') / 'Format-Serving'
  result = run_smoke_test(str(model), str(tmp_path / 'nothing' / '*.gz'), 5)
  assert result['passed'] is False and 'no eval examples' in result['message']


def test_tuner_feeds_the_trainer_its_best_hyperparameters(tuned_run):
  assert tuned_run.summary['status'] == 'completed'
  best = json.loads((_only(tuned_run.pipeline_root, 'Tuner', 'best_hyperparameters') /
                     'best_hyperparameters.txt').read_text())['values']
  expected = sorted(best[f'units_{i}'] for i in range(best['num_layers']))
  model = tf.saved_model.load(
      str(_only(tuned_run.pipeline_root, 'Trainer', 'model') / 'Format-Serving'))
  widths = sorted(v.shape[-1] for v in model.trainable_variables
                  if 'dense' in v.name and 'kernel' in v.name)
  assert widths == sorted(expected + [1])  # the hidden layers the Tuner chose, + output

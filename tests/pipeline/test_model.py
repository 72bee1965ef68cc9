"""The Keras model on the shared run's real Transform output."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from ct_pipeline.models import features
from ct_pipeline.models import model as model_lib

LABEL = features.transformed_name(features.LABEL_KEY)


@pytest.fixture(scope='module')
def transform_output(first_run):
  graph = next((first_run.pipeline_root / 'Transform' / 'transform_graph').iterdir())
  return tft.TFTransformOutput(str(graph))


@pytest.fixture(scope='module')
def fifty_rows(first_run, transform_output):
  examples = next((first_run.pipeline_root / 'Transform' / 'transformed_examples').iterdir())
  files = [str(p) for p in (examples / 'Split-train').glob('*.gz')]
  spec = transform_output.transformed_feature_spec()
  batch = next(iter(tf.data.TFRecordDataset(files, compression_type='GZIP').batch(50)))
  parsed = tf.io.parse_example(batch, spec)
  labels = parsed.pop(LABEL)
  x = {k: tf.reshape(v, [-1, 1]) for k, v in parsed.items()}
  return x, tf.reshape(labels, [-1, 1])


def test_model_takes_every_transformed_feature(transform_output):
  m = model_lib.build_keras_model(transform_output, model_lib.DEFAULT_HPARAMS)
  expected = set(transform_output.transformed_feature_spec()) - {LABEL}
  assert set(m.input_names) == expected
  assert m.output_shape == (None, 1)


def test_few_steps_lower_the_loss_without_nan(transform_output, fifty_rows):
  x, y = fifty_rows
  tf.random.set_seed(1)
  m = model_lib.build_keras_model(transform_output, model_lib.DEFAULT_HPARAMS)
  before = m.evaluate(x, y, verbose=0)[0]
  m.fit(x, y, epochs=10, batch_size=50, verbose=0)
  after = m.evaluate(x, y, verbose=0)[0]
  assert after < before
  assert not np.isnan(m.predict(x, verbose=0)).any()


def test_model_overfits_fifty_rows(transform_output, fifty_rows):
  x, y = fifty_rows
  tf.random.set_seed(2)
  m = model_lib.build_keras_model(transform_output, dict(
      model_lib.DEFAULT_HPARAMS, learning_rate=0.01))
  history = m.fit(x, y, epochs=150, batch_size=50, verbose=0)
  assert history.history['binary_accuracy'][-1] >= 0.98
  assert history.history['loss'][-1] < 0.1


def test_unknown_hyperparameter_is_named():
  with pytest.raises(ValueError, match=r"unknown keys \['hiden_units'\]"):
    model_lib.hparams_from({'hparams': {'hiden_units': [3]}})

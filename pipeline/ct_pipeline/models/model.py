"""The Keras model and the Trainer's run_fn (plus the Tuner's tuner_fn).

Keras version: TFX 1.16 installs TensorFlow 2.16, whose `tf.keras` is Keras 3, next
to tf-keras 2.16 (Keras 2). We build the model with `tf_keras` (Keras 2) on purpose:
tf.Transform's TransformFeaturesLayer is a tf_keras Model (tensorflow_transform
.keras_lib sets TF_USE_LEGACY_KERAS=1 and uses tf_keras), and TFMA 0.47 loads and
evaluates SavedModels built the Keras 2 way. Mixing a Keras 3 model with the
Keras 2 transform layer fails to track the layer's resources at save time.
"""

import json

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx_bsl.public import tfxio

from ct_pipeline import tfx_api as tfx
from ct_pipeline.models import features

# Defaults for the model's hyperparameters; the Trainer's custom_config (and the
# Tuner, when enabled) override them.
DEFAULT_HPARAMS = {
    'hidden_units': [64, 32],
    'learning_rate': 0.003,
    'train_batch_size': 64,
    'eval_batch_size': 64,
    'embedding_dim': 8,
    # Steps per tf.function call: fewer Python round trips per step once traced (the
    # first call's tracing costs the same either way; figures: README, Benchmarks).
    'steps_per_execution': 50,
}


def hparams_from(custom_config) -> dict:
  hp = dict(DEFAULT_HPARAMS)
  if custom_config:
    unknown = set(custom_config.get('hparams', {})) - set(hp)
    if unknown:
      raise ValueError(f'custom_config.hparams has unknown keys {sorted(unknown)}; '
                       f'expected some of {sorted(hp)}')
    hp.update(custom_config.get('hparams', {}))
  return hp


def input_fn(file_pattern, data_accessor, tf_transform_output, batch_size):
  """Batches of (transformed features, label) from the transformed examples."""
  return data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(
          batch_size=batch_size,
          label_key=features.transformed_name(features.LABEL_KEY)),
      tf_transform_output.transformed_metadata.schema).repeat()


def _vocab_size(tf_transform_output, key):
  return tf_transform_output.vocabulary_size_by_name(key) + features.OOV_SIZE


def build_keras_model(tf_transform_output, hparams) -> keras.Model:
  """Wide & deep: numeric features through a DNN, categories as embeddings + one-hot."""
  inputs = {}
  deep, wide = [], []
  for key in features.transformed_names(features.DENSE_FLOAT_FEATURE_KEYS):
    inputs[key] = keras.layers.Input(name=key, shape=(1,), dtype=tf.float32)
    deep.append(inputs[key])

  categorical = []
  for key in features.BUCKET_FEATURE_KEYS:
    categorical.append((features.transformed_name(key),
                        features.BUCKET_FEATURE_BUCKET_COUNT + 1))
  for key, max_value in zip(features.CATEGORICAL_FEATURE_KEYS,
                            features.CATEGORICAL_FEATURE_MAX_VALUES):
    categorical.append((features.transformed_name(key), max_value))
  for key in features.VOCAB_FEATURE_KEYS:
    categorical.append((features.transformed_name(key),
                        _vocab_size(tf_transform_output, key)))

  for name, num_tokens in categorical:
    inputs[name] = keras.layers.Input(name=name, shape=(1,), dtype=tf.int64)
    wide.append(keras.layers.CategoryEncoding(num_tokens=num_tokens,
                                              output_mode='one_hot')(inputs[name]))
    emb = keras.layers.Embedding(num_tokens, hparams['embedding_dim'])(inputs[name])
    deep.append(keras.layers.Flatten()(emb))

  x = keras.layers.concatenate(deep)
  for units in hparams['hidden_units']:
    x = keras.layers.Dense(units, activation='relu')(x)
  output = keras.layers.Dense(1, activation='sigmoid')(
      keras.layers.concatenate([x] + wide))

  model = keras.Model(inputs, output)
  model.compile(
      loss='binary_crossentropy',
      optimizer=keras.optimizers.Adam(learning_rate=hparams['learning_rate']),
      metrics=[keras.metrics.BinaryAccuracy(), keras.metrics.AUC(name='auc')],
      steps_per_execution=hparams['steps_per_execution'])
  model.summary(print_fn=logging.info)
  return model


def _serving_signature(model, tf_transform_output):
  """serving_default: serialized tf.Example with the raw features -> probability."""
  model.tft_layer_inference = tf_transform_output.transform_features_layer()

  @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string,
                                               name='examples')])
  def serve_tf_examples_fn(serialized_tf_example):
    raw_feature_spec = tf_transform_output.raw_feature_spec()
    raw_feature_spec.pop(features.LABEL_KEY)  # not known at serving time
    raw_features = tf.io.parse_example(serialized_tf_example, raw_feature_spec)
    transformed = model.tft_layer_inference(raw_features)
    return {'outputs': model(transformed)}

  return serve_tf_examples_fn


def _transform_features_signature(model, tf_transform_output):
  """transform_features: lets TFMA compute the transformed label (tips_xf)."""
  model.tft_layer_eval = tf_transform_output.transform_features_layer()

  @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string,
                                               name='examples')])
  def transform_features_fn(serialized_tf_example):
    raw_features = tf.io.parse_example(serialized_tf_example,
                                       tf_transform_output.raw_feature_spec())
    return model.tft_layer_eval(raw_features)

  return transform_features_fn


def save_model(model, tf_transform_output, serving_model_dir):
  signatures = {
      'serving_default': _serving_signature(model, tf_transform_output),
      'transform_features': _transform_features_signature(model, tf_transform_output),
  }
  tf.saved_model.save(model, serving_model_dir, signatures=signatures)


def run_fn(fn_args: tfx.components.FnArgs):
  """Trainer entry point: trains on the transformed examples and exports the model."""
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  if fn_args.hyperparameters:  # from the Tuner
    hparams = dict(DEFAULT_HPARAMS)
    hparams.update(_tuned(fn_args.hyperparameters))
  else:
    hparams = hparams_from(fn_args.custom_config)
  logging.info('hyperparameters: %s', json.dumps(hparams))

  train = input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                   hparams['train_batch_size'])
  evaluation = input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                        hparams['eval_batch_size'])
  tf.random.set_seed(42)
  model = build_keras_model(tf_transform_output, hparams)
  model.fit(
      train,
      steps_per_epoch=fn_args.train_steps,
      validation_data=evaluation,
      validation_steps=fn_args.eval_steps,
      callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir,
                                             update_freq='epoch')],
      verbose=2)
  save_model(model, tf_transform_output, fn_args.serving_model_dir)


def _tuned(hyperparameters) -> dict:
  values = hyperparameters.get('values', hyperparameters)
  units = [values[f'units_{i}'] for i in range(values['num_layers'])]
  return {'hidden_units': units, 'learning_rate': values['learning_rate']}


def tuner_fn(fn_args: tfx.components.FnArgs):
  """Tuner entry point: a small random search over depth, width and learning rate.

  keras_tuner 1.4 picks Keras 3 when it is installed (it is, beside tf-keras) and its
  Keras `Tuner` refuses our tf_keras models. So the search runs on keras_tuner's
  BaseTuner, its documented route for any training loop: the oracle proposes
  hyperparameters, run_trial trains our model and reports val_auc.
  """
  import keras_tuner  # pylint: disable=g-import-not-at-top  (only the Tuner needs it)

  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)

  def hparams_for(hp):
    num_layers = hp.Int('num_layers', 1, 3)
    return dict(DEFAULT_HPARAMS,
                hidden_units=[hp.Choice(f'units_{i}', [16, 32, 64]) for i in range(num_layers)],
                learning_rate=hp.Choice('learning_rate', [1e-3, 3e-3, 1e-2]))

  class TfKerasSearch(keras_tuner.engine.base_tuner.BaseTuner):

    def run_trial(self, trial, x, validation_data, steps_per_epoch, validation_steps):
      model = build_keras_model(tf_transform_output, hparams_for(trial.hyperparameters))
      history = model.fit(x, steps_per_epoch=steps_per_epoch, validation_data=validation_data,
                          validation_steps=validation_steps, verbose=0)
      return {'val_auc': float(history.history['val_auc'][-1])}

    def save_model(self, trial_id, model, step=0):
      pass  # the Trainer retrains with the best hyperparameters

    def load_model(self, trial):
      raise NotImplementedError('the Tuner outputs hyperparameters, not models')

  oracle = keras_tuner.oracles.RandomSearchOracle(
      objective=keras_tuner.Objective('val_auc', 'max'),
      max_trials=int((fn_args.custom_config or {}).get('max_trials', 4)), seed=42)
  # declare the search space up front (BaseTuner does not build a model to find it)
  hp = keras_tuner.HyperParameters()
  hparams_for(hp)
  for i in range(3):
    hp.Choice(f'units_{i}', [16, 32, 64])
  oracle.hyperparameters = hp
  tuner = TfKerasSearch(oracle=oracle, directory=fn_args.working_dir,
                        project_name='ct_tuning')
  train = input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                   DEFAULT_HPARAMS['train_batch_size'])
  evaluation = input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                        DEFAULT_HPARAMS['eval_batch_size'])
  return tfx.components.TunerFnResult(
      tuner=tuner,
      fit_kwargs={'x': train, 'validation_data': evaluation,
                  'steps_per_epoch': fn_args.train_steps,
                  'validation_steps': fn_args.eval_steps})

"""tf.Transform preprocessing_fn: the same graph runs in training and serving."""

import tensorflow as tf
import tensorflow_transform as tft

from ct_pipeline.models import features


def _densify(x, default_value):
  """Turns a [batch, 0-or-1] SparseTensor (optional CSV column) into a [batch] tensor.

  Missing cells become `default_value`; a feature that is already dense is squeezed.
  """
  if isinstance(x, tf.sparse.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value)
  if x.shape.rank == 2:
    x = tf.squeeze(x, axis=1)
  return x


def _densify_float(x):
  """[batch] float32 with NaN where the value is missing (int columns included)."""
  if isinstance(x, tf.sparse.SparseTensor):
    x = tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
  else:
    x = tf.cast(x, tf.float32)
  return _densify(x, float('nan'))


def preprocessing_fn(inputs):
  """Maps raw taxi features to model inputs and the big-tipper label."""
  outputs = {}

  # Every analyzer reads raw inputs only, so tf.Transform needs a single analysis
  # pass over the data (an analyzer fed by another analyzer's output adds a pass).
  for key in features.DENSE_FLOAT_FEATURE_KEYS:
    values = _densify_float(inputs[key])
    present = ~tf.math.is_nan(values)
    known = tf.boolean_mask(values, present)
    mean, var = tft.mean(known), tft.var(known)
    std = tf.sqrt(var)
    z = tf.math.divide_no_nan(values - mean, std)
    # A missing number lands at z=0, the mean of the present values (and a column
    # with no values at all gives 0 everywhere).
    outputs[features.transformed_name(key)] = tf.where(
        present & ~tf.math.is_nan(mean), z, 0.0)

  for key in features.BUCKET_FEATURE_KEYS:
    values = _densify_float(inputs[key])
    present = ~tf.math.is_nan(values)
    # Quantile boundaries from the known coordinates only.
    boundaries = tft.quantiles(tf.boolean_mask(values, present),
                               features.BUCKET_FEATURE_BUCKET_COUNT, epsilon=0.01)
    buckets = tft.apply_buckets(tf.where(present, values, 0.0), boundaries)
    # Bucket ids 0..N-1 for known coordinates, N for a missing one.
    outputs[features.transformed_name(key)] = tf.where(
        present, tf.cast(buckets, tf.int64),
        tf.constant(features.BUCKET_FEATURE_BUCKET_COUNT, tf.int64))

  for key, max_value in zip(features.CATEGORICAL_FEATURE_KEYS,
                            features.CATEGORICAL_FEATURE_MAX_VALUES):
    ids = tf.cast(_densify(inputs[key], 0), tf.int64)
    outputs[features.transformed_name(key)] = tf.clip_by_value(ids, 0, max_value - 1)

  for key in features.VOCAB_FEATURE_KEYS:
    raw = inputs[key]
    if raw.dtype == tf.string:
      values = _densify(raw, '')
    else:
      values = tf.strings.as_string(_densify(raw, 0))
    outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
        values, top_k=features.VOCAB_SIZE, num_oov_buckets=features.OOV_SIZE,
        vocab_filename=key)

  # Was this passenger a big tipper? A trip without a fare is labelled 0.
  fare = _densify_float(inputs[features.FARE_KEY])
  tips = _densify_float(inputs[features.LABEL_KEY])
  big_tip = tf.greater(tips, fare * features.BIG_TIP_FRACTION)
  outputs[features.transformed_name(features.LABEL_KEY)] = tf.where(
      tf.math.is_nan(fare) | tf.math.is_nan(tips), tf.zeros_like(fare, tf.int64),
      tf.cast(big_tip, tf.int64))
  return outputs

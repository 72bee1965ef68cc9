"""Small stand-in SavedModels with our signature's shape (serving_default parses serialized
tf.Examples), and the smoke rows the pipeline would record for each. The serving suite
builds them in a fixture; the rollout's DAG tests (another env) build them with this CLI:

    .venv-serving/bin/python tests/serving/stand_in_models.py OUT_DIR [NAME ...]
"""

import json
import sys
from pathlib import Path


def build_stand_in_model(folder: Path, weight: float = 0.1, bias: float = -1.0,
                         fail_above: float | None = None, slow_matmuls: int = 0) -> Path:
  """A SavedModel at folder/Format-Serving: fare, trip_seconds, company as VarLen features;
  outputs sigmoid(weight * fare + bias), or `bias` itself when weight is 0 (a constant).
  With fail_above, a fare above it makes the signature raise (a model that breaks); with
  slow_matmuls, each call first multiplies that many 256x256 matrices (a slow model: real
  work, not a sleep, which a SavedModel cannot hold).

  Also writes folder/smoke_rows.json as the pipeline's SmokeTest does (STAND_IN_ROWS and
  what this model answers for them)."""
  import tensorflow as tf

  spec = {'fare': tf.io.VarLenFeature(tf.float32),
          'trip_seconds': tf.io.VarLenFeature(tf.int64),
          'company': tf.io.VarLenFeature(tf.string)}

  class StandIn(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
    def serve(self, examples):
      parsed = tf.io.parse_example(examples, spec)
      fare = tf.sparse.to_dense(parsed['fare'], default_value=0.0)[:, :1]
      fare = tf.pad(fare, [[0, 0], [0, 1 - tf.shape(fare)[1]]])
      if fail_above is not None:
        with tf.control_dependencies([tf.debugging.assert_less_equal(
            fare, tf.constant(fail_above), message='fare too high for this model')]):
          fare = tf.identity(fare)
      if slow_matmuls:
        # from the input, so that grappler cannot fold it into a constant at load time
        m = tf.ones([256, 256]) * (1.0 + tf.reduce_mean(fare) * 1e-6)
        for _ in range(slow_matmuls):
          m = tf.tanh(tf.matmul(m, m) / 256.0)  # bounded: never inf
        fare = fare + 1e-12 * tf.reduce_sum(m)  # used, so not pruned (0 * x would be)
      if weight == 0:
        return {'outputs': tf.fill(tf.shape(fare), tf.constant(bias))}
      return {'outputs': tf.sigmoid(weight * fare + bias)}

  module = StandIn()
  out = folder / 'Format-Serving'
  tf.saved_model.save(module, str(out), signatures={'serving_default': module.serve})
  records = [_example(row) for row in STAND_IN_ROWS]
  predictions = module.serve(tf.constant(records))['outputs'].numpy().reshape(-1).tolist()
  (folder / 'smoke_rows.json').write_text(json.dumps(
      {'instances': STAND_IN_ROWS, 'predictions': predictions, 'labels': [None] * len(records)}))
  return folder


STAND_IN_ROWS = [{'fare': 4.0 + 3 * i, 'trip_seconds': 120 * (i + 1),
                  'company': ['Flash Cab', 'Taxi Affiliation Services', None][i % 3]}
                 for i in range(12)]


def _example(row: dict) -> bytes:
  import tensorflow as tf

  feature = {}
  if row['fare'] is not None:
    feature['fare'] = tf.train.Feature(float_list=tf.train.FloatList(value=[row['fare']]))
  if row['trip_seconds'] is not None:
    feature['trip_seconds'] = tf.train.Feature(
        int64_list=tf.train.Int64List(value=[row['trip_seconds']]))
  if row['company'] is not None:
    feature['company'] = tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[row['company'].encode()]))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()



# name -> build_stand_in_model arguments
MODELS = {
    'a': dict(weight=0.1, bias=-1.0),
    'a2': dict(weight=0.1, bias=-0.97),  # a close retrain of a: the canary passes it
    'b': dict(weight=0.2, bias=-2.0),
    'constant': dict(weight=0.0, bias=0.5),  # predicts 0.5 whatever the trip
    'breaks': dict(weight=0.1, bias=-1.0, fail_above=1000.0),
    'slow': dict(weight=0.1, bias=-1.0, slow_matmuls=100),
    'very-slow': dict(weight=0.1, bias=-1.0, slow_matmuls=800),
}


def build_all(root: Path, names=None) -> dict:
  return {name: build_stand_in_model(Path(root) / name, **MODELS[name])
          for name in (names or ['a', 'b', 'constant', 'breaks', 'slow'])}


if __name__ == '__main__':
  built = build_all(Path(sys.argv[1]), sys.argv[2:] or None)
  print(json.dumps({name: str(path) for name, path in built.items()}))

"""SmokeTest: loads the trained model through its serving signature and predicts.

Production has no TensorFlow in Airflow, so this runs in the pipeline. It never fails
the run: it records what happened (passed, examples, message) on an InfraBlessing
artifact, and the run summary carries it to the promotion gate, which refuses a
candidate whose smoke test did not pass.

When it passes it also records the rows it sent (as raw-feature JSON instances, the shape
the model server takes) and the predictions it got, in `smoke_rows.json` beside the
result (`rows_uri`): the rollout's infrastructure validation sends the same rows to the
serving stack and expects the same predictions.

And the model's offline score distribution (`eval_scores`: a 10-bucket histogram over [0, 1]
of its predictions on up to `score_examples` eval examples): the registry keeps it with the
version, and monitoring compares the live scores with it (prediction drift).
"""

import json
import math
import os
import time

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from ct_pipeline import tfx_api as tfx

RESULT_FILE = 'smoke_test.json'
ROWS_FILE = 'smoke_rows.json'
SCORE_BINS = 10  # as the monitoring's and the canary's score histograms


def example_values(record: bytes) -> dict:
  """A serialized raw tf.Example as {feature: its first value, or None when empty}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  values = {}
  for name, feature in tf.train.Example.FromString(record).features.feature.items():
    kind = feature.WhichOneof('kind')
    found = list(getattr(feature, kind).value) if kind else []
    value = found[0] if found else None
    values[name] = value.decode('utf-8') if isinstance(value, bytes) else value
  return values


def smoke_rows(records: list, predictions: list) -> dict:
  """What the serving stack must answer: the raw features it takes (no label), the
  predictions the pipeline got, and the labels (for whoever wants accuracy)."""
  from ct_pipeline.models import features  # pylint: disable=g-import-not-at-top

  rows = [example_values(r) for r in records]
  return {'instances': [{k: row.get(k) for k in features.RAW_FEATURE_KEYS} for row in rows],
          'predictions': predictions,
          'labels': [row.get(features.LABEL_KEY) for row in rows]}


def score_histogram(scores: list, bins: int = SCORE_BINS) -> list:
  """[[low, high, count]] buckets of equal width over [0, 1]."""
  counts = [0] * bins
  for s in scores:
    counts[min(bins - 1, max(0, int(s * bins)))] += 1
  return [[i / bins, (i + 1) / bins, float(c)] for i, c in enumerate(counts)]


def eval_scores(serve, files: list, limit: int, batch: int = 500) -> dict:
  """The model's predictions on up to `limit` eval examples, as a histogram."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  scores = []
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').take(limit).batch(batch)
  for records in dataset:
    scores += serve(examples=records)['outputs'].numpy().reshape(-1).tolist()
  return {'examples': len(scores), 'histogram': score_histogram(scores)}


def run_smoke_test(model_dir: str, eval_files_glob: str, num_examples: int,
                   rows_uri: str = '', score_examples: int = 0) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  result = {'passed': False, 'examples': 0, 'message': '', 'latency_ms': None,
            'prediction_min': None, 'prediction_max': None}
  try:
    files = tf.io.gfile.glob(eval_files_glob)
    if not files:
      result['message'] = f'no eval examples at {eval_files_glob}'
      return result
    records = [r.numpy() for r in
               tf.data.TFRecordDataset(files, compression_type='GZIP').take(num_examples)]
    loaded = tf.saved_model.load(model_dir)
    serve = loaded.signatures['serving_default']
    started = time.perf_counter()
    outputs = serve(examples=tf.constant(records))
    latency = (time.perf_counter() - started) * 1000
    predictions = outputs['outputs'].numpy().reshape(-1).tolist()
    result.update(examples=len(records), latency_ms=round(latency, 2))
    if len(predictions) != len(records):
      result['message'] = f'{len(predictions)} predictions for {len(records)} examples'
      return result
    bad = [p for p in predictions if not (math.isfinite(p) and 0.0 <= p <= 1.0)]
    if bad:
      result['message'] = f'{len(bad)} predictions are not probabilities, e.g. {bad[0]}'
      return result
    result.update(passed=True, prediction_min=min(predictions),
                  prediction_max=max(predictions),
                  message=f'serving_default answered {len(records)} examples')
    if rows_uri:
      with tf.io.gfile.GFile(rows_uri, 'w') as f:
        f.write(json.dumps(smoke_rows(records, predictions)))
      result['rows_uri'] = rows_uri
    if score_examples:
      result['eval_scores'] = eval_scores(serve, files, score_examples)
  except Exception as e:  # pylint: disable=broad-except  (recorded, judged by the gate)
    result['message'] = f'{type(e).__name__}: {e}'[:2000]
  return result


@component
def SmokeTest(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    result: OutputArtifact[standard_artifacts.InfraBlessing],
    num_examples: Parameter[int] = 20,
    split: Parameter[str] = 'eval',
    score_examples: Parameter[int] = 2000,
):
  model_dir = os.path.join(model.uri, 'Format-Serving')
  eval_glob = os.path.join(artifact_utils.get_split_uri([examples], split), '*.gz')
  outcome = run_smoke_test(model_dir, eval_glob, num_examples,
                           rows_uri=os.path.join(result.uri, ROWS_FILE),
                           score_examples=score_examples)
  with tfx.dsl.io.fileio.open(os.path.join(result.uri, RESULT_FILE), 'w') as f:
    f.write(json.dumps(outcome))
  result.set_int_custom_property('blessed', int(outcome['passed']))

"""Fixtures for the serving tests: small stand-in SavedModels built here (same signature shape
as ours: serving_default parses serialized tf.Examples), the real model the pipeline suite
trained, and a real server process on a free port."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The pipeline suite's first run (tests/pipeline/conftest.py writes it here); when this suite
# runs alone, the real_model fixture trains its own.
PIPELINE_RUNS = REPO / 'build' / 'test-output' / 'pipeline-runs'
SAMPLE_CSV = REPO / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv'


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


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def post(url: str, body, timeout=30) -> tuple[int, dict]:
  data = body if isinstance(body, bytes) else json.dumps(body).encode()
  req = urllib.request.Request(url, data=data, headers={'Content-Type': 'application/json'})
  try:
    with urllib.request.urlopen(req, timeout=timeout) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read() or b'{}')


def get(url: str, timeout=10) -> tuple[int, dict]:
  try:
    with urllib.request.urlopen(url, timeout=timeout) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read() or b'{}')


class Server:
  """python -m ct_serving.server in its own process, as `make serve` starts it."""

  def __init__(self, endpoint_file: Path, log_dir: Path, *extra):
    self.port = free_port()
    self.base = f'http://127.0.0.1:{self.port}'
    self.log_dir = log_dir
    self.output = log_dir.parent / f'server-{self.port}.log'
    env = dict(os.environ, PYTHONPATH=str(REPO / 'serving'), TF_CPP_MIN_LOG_LEVEL='2')
    self.proc = subprocess.Popen(
        [sys.executable, '-m', 'ct_serving.server', '--endpoint-file', str(endpoint_file),
         '--log-dir', str(log_dir), '--port', str(self.port), *extra],
        stdout=open(self.output, 'w'), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300  # TensorFlow's import, on a loaded CI machine
    while time.monotonic() < deadline:
      if self.proc.poll() is not None:
        raise RuntimeError(f'server exited {self.proc.returncode}:\n{self.log()}')
      try:
        if get(f'{self.base}/v1/models/chicago-taxi-tipper')[0] == 200:
          return
      except OSError:
        pass
      time.sleep(0.3)
    raise RuntimeError(f'server not ready in 300 s:\n{self.log()}')

  def log(self) -> str:
    return self.output.read_text()[-5000:]

  def predict(self, instances, **extra):
    return post(f'{self.base}/v1/models/chicago-taxi-tipper:predict',
                dict(instances=instances, **extra))

  def stop(self) -> int:
    """A clean shutdown (SIGTERM), as a process manager does it."""
    if self.proc.poll() is None:
      self.proc.terminate()
    return self.proc.wait(timeout=60)


@pytest.fixture(scope='session')
def stand_in_models(tmp_path_factory):
  root = tmp_path_factory.mktemp('models')
  return {'a': build_stand_in_model(root / 'a', 0.1, -1.0),
          'b': build_stand_in_model(root / 'b', 0.2, -2.0),
          'constant': build_stand_in_model(root / 'constant', 0.0, 0.5),
          'breaks': build_stand_in_model(root / 'breaks', 0.1, -1.0, fail_above=1000.0),
          'slow': build_stand_in_model(root / 'slow', 0.1, -1.0, slow_matmuls=100)}


@pytest.fixture(scope='session')
def real_model(real_run_summary) -> Path:
  """The model folder (with Format-Serving/) of a real pipeline run on the shipped sample."""
  return Path(real_run_summary['candidate_model_uri'])


@pytest.fixture(scope='session')
def real_run_summary(tmp_path_factory) -> dict:
  """The run summary of a real pipeline run on the shipped sample."""
  summary = PIPELINE_RUNS / 'first' / 'run_summary.json'
  if not summary.is_file():
    out = tmp_path_factory.mktemp('pipeline-run')
    span = out / 'span'
    span.mkdir()
    lines = SAMPLE_CSV.read_text().splitlines()
    (span / 'data.csv').write_text('\n'.join(lines[:1] + lines[1::25]) + '\n')
    env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'), TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(
        [str(REPO / '.venv-pipeline' / 'bin' / 'python'), '-m',
         'ct_pipeline.runners.local_runner', '--span-uri', str(span), '--output-dir',
         str(out / 'run'), '--train-steps', '60', '--eval-steps', '10', '--run-id',
         'serving-tests'], env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = out / 'run' / 'run_summary.json'
  return json.loads(summary.read_text())

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
from stand_in_models import build_all

REPO = Path(__file__).resolve().parents[2]
# The pipeline suite's first run (tests/pipeline/conftest.py writes it here); when this suite
# runs alone, the real_model fixture trains its own.
PIPELINE_RUNS = REPO / 'build' / 'test-output' / 'pipeline-runs'
SAMPLE_CSV = REPO / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv'


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def post(url: str, body, headers: dict | None = None, timeout=30) -> tuple[int, dict]:
  data = body if isinstance(body, bytes) else json.dumps(body).encode()
  req = urllib.request.Request(url, data=data,
                               headers=headers or {'Content-Type': 'application/json'})
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
  return build_all(tmp_path_factory.mktemp('models'))


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

"""The rollout's pre-traffic checks, run in the serving env (the DAG calls this CLI, as it
calls the pipeline env for TFX; Airflow never imports TensorFlow):

  python -m ct_serving.checks validate --model-uri M --version 7 --smoke-rows R --out F
  python -m ct_serving.checks loadtest --model-uri M --version 7 --smoke-rows R \
      --users 8 --seconds 20 --out F

Both start the real model server (ct_serving.server, the stack `make serve` runs) on a
free loopback port with the challenger alone at 100%, so nothing they do reaches the
live endpoint or its prediction log.

validate: the server loads the model and answers the smoke-test rows the pipeline
recorded (smoke_rows.json) with the predictions the pipeline got from the same SavedModel.
loadtest: Locust, as a library, headless: `users` concurrent clients for `seconds`, each
sending one smoke row per request; QPS, p50/p99 latency and the error rate. With `--url`
(a Vertex AI validation endpoint's :predict URL) it loads that instead of a private
server, sending `CT_LOADTEST_AUTHORIZATION` (from the environment, not the command line)
as the Authorization header.
Each writes one JSON object to --out (and prints it); the thresholds are judged in the DAG.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

MODEL_NAME = 'chicago-taxi-tipper'


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _post(url: str, body: dict, timeout=60) -> tuple[int, dict]:
  req = urllib.request.Request(url, data=json.dumps(body).encode(),
                               headers={'Content-Type': 'application/json'})
  try:
    with urllib.request.urlopen(req, timeout=timeout) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read() or b'{}')


@contextlib.contextmanager
def private_server(model_uri: str, version: str, ready_timeout: float = 300):
  """The model server with one deployed model, on its own port and log folder; yields
  (base url, seconds until ready). Stopped (SIGTERM) on exit."""
  from ct_serving import endpoint as endpoint_lib

  with tempfile.TemporaryDirectory(prefix='ct-serving-check-') as tmp:
    deployed = endpoint_lib.DeployedModel(f'v{version}', str(version), model_uri)
    endpoint_file = Path(tmp) / 'endpoint.json'
    endpoint_lib.write(endpoint_file, endpoint_lib.EndpointState(
        MODEL_NAME, (deployed,), {deployed.id: 100}))
    port = _free_port()
    output = Path(tmp) / 'server.log'
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    env['PYTHONPATH'] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + [p for p in [env.get('PYTHONPATH')] if p])
    started = time.monotonic()
    with open(output, 'w') as out:
      proc = subprocess.Popen(
          [sys.executable, '-m', 'ct_serving.server', '--endpoint-file', str(endpoint_file),
           '--log-dir', str(Path(tmp) / 'log'), '--port', str(port)],
          stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f'http://127.0.0.1:{port}'
    try:
      while True:
        if proc.poll() is not None:
          raise RuntimeError(f'the model server exited with {proc.returncode} before it was '
                             f'ready:\n{output.read_text()[-3000:]}')
        try:
          with urllib.request.urlopen(f'{base}/v1/models/{MODEL_NAME}', timeout=5) as r:
            if r.status == 200:
              break
        except OSError:
          pass
        if time.monotonic() - started > ready_timeout:
          raise RuntimeError(f'the model server was not ready after {ready_timeout} s:\n'
                             f'{output.read_text()[-3000:]}')
        time.sleep(0.3)
      yield base, round(time.monotonic() - started, 2)
    finally:
      if proc.poll() is None:
        proc.terminate()
        try:
          proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
          proc.kill()


def read_smoke_rows(path: str) -> dict:
  rows = json.loads(Path(path).read_text())
  if not rows.get('instances') or len(rows['instances']) != len(rows.get('predictions', [])):
    raise ValueError(f'{path}: expected "instances" and as many "predictions"')
  return rows


def validate(model_uri: str, version: str, smoke_rows: str) -> dict:
  """Does the serving stack load the model and answer the recorded rows as the pipeline
  saw them? Never raises for a bad model: the verdict says what went wrong."""
  import tensorflow as tf

  result = {'check': 'infrastructure_validation', 'passed': False, 'version': str(version),
            'tensorflow': tf.__version__, 'rows': 0, 'max_abs_diff': None,
            'ready_seconds': None, 'message': ''}
  try:
    rows = read_smoke_rows(smoke_rows)
    with private_server(model_uri, version) as (base, ready):
      result['ready_seconds'] = ready
      status, body = _post(f'{base}/v1/models/{MODEL_NAME}:predict',
                           {'instances': rows['instances']})
    if status != 200:
      result['message'] = f'the server answered {status}: {body}'
      return result
    from ct_serving.endpoint import compare_smoke_predictions

    compared = compare_smoke_predictions(body['predictions'], rows['predictions'])
    result.update(rows=compared['rows'], max_abs_diff=compared['max_abs_diff'])
    if compared['problem']:
      result['message'] = compared['problem']
      return result
    result.update(passed=True, message=f'the serving stack (TensorFlow {tf.__version__}) '
                  f'answered {compared["rows"]} smoke rows as the pipeline did (max diff '
                  f'{compared["max_abs_diff"]:.2e})')
  except Exception as e:  # recorded: the DAG turns it into the rollout's verdict
    result['message'] = f'{type(e).__name__}: {e}'[:3000]
  return result


def load_test(model_uri: str, version: str, smoke_rows: str, users: int,
              seconds: float, url: str | None = None) -> dict:
  """Locust, headless, at a fixed concurrency against the challenger alone: a private
  model server, or `url` (the challenger alone on a validation endpoint)."""
  import gevent
  from locust import FastHttpUser, constant, events, task
  from locust.env import Environment

  rows = read_smoke_rows(smoke_rows)['instances']
  path = f'/v1/models/{MODEL_NAME}:predict'
  headers = {'Content-Type': 'application/json'}
  if url:
    parts = urllib.parse.urlsplit(url)
    host, path = f'{parts.scheme}://{parts.netloc}', parts.path
    if os.environ.get('CT_LOADTEST_AUTHORIZATION'):
      headers['Authorization'] = os.environ['CT_LOADTEST_AUTHORIZATION']
  bodies = [json.dumps({'instances': [row]}) for row in rows]

  class Client(FastHttpUser):
    wait_time = constant(0)
    _next = 0

    @task
    def predict(self):
      Client._next = (Client._next + 1) % len(bodies)
      self.client.post(path, data=bodies[Client._next], headers=headers)

  result = {'check': 'load_test', 'version': str(version), 'users': users,
            'seconds': seconds, 'target': url or 'a private model server'}
  server = contextlib.nullcontext((host, None)) if url else private_server(model_uri, version)
  with server as (base, ready):
    Client.host = base
    env = Environment(user_classes=[Client], events=events)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.quit()
    stats = env.stats.total
  requests = stats.num_requests
  result.update(
      ready_seconds=ready, requests=requests, failures=stats.num_failures,
      error_rate=round(stats.num_failures / requests, 6) if requests else None,
      qps=round(requests / seconds, 2),
      p50_ms=stats.get_response_time_percentile(0.5) if requests else None,
      p99_ms=stats.get_response_time_percentile(0.99) if requests else None,
      histogram_ms=dict(sorted((int(k), v) for k, v in stats.response_times.items())))
  return result


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m ct_serving.checks', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest='command', required=True)
  for name in ('validate', 'loadtest'):
    s = sub.add_parser(name)
    s.add_argument('--model-uri', required=True, help='a model folder with Format-Serving/')
    s.add_argument('--version', required=True)
    s.add_argument('--smoke-rows', required=True, help="the pipeline's smoke_rows.json")
    s.add_argument('--out', required=True, help='where the JSON result goes')
    if name == 'loadtest':
      s.add_argument('--users', type=int, default=8)
      s.add_argument('--seconds', type=float, default=20.0)
      s.add_argument('--url', help="load this :predict URL instead of a private server")
  args = p.parse_args(argv)
  if args.command == 'validate':
    result = validate(args.model_uri, args.version, args.smoke_rows)
  else:
    result = load_test(args.model_uri, args.version, args.smoke_rows, args.users,
                       args.seconds, args.url)
  text = json.dumps(result, indent=2)
  Path(args.out).write_text(text)
  print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())

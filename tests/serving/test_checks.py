"""The rollout's pre-traffic checks (python -m ct_serving.checks): the challenger in the real
serving stack on a private port, against the rows and predictions the pipeline recorded,
and a Locust load test at a fixed concurrency."""

import json
import subprocess
import sys

from conftest import REPO


def run_checks(*args, tmp_path, env=None) -> dict:
  out = tmp_path / f'{args[0]}.json'
  proc = subprocess.run([sys.executable, '-m', 'ct_serving.checks', *args, '--out', str(out)],
                        capture_output=True, text=True, timeout=600,
                        env={'PYTHONPATH': str(REPO / 'serving'), 'PATH': '/usr/bin:/bin',
                             **(env or {})})
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return json.loads(out.read_text())


def model_args(folder, version='7'):
  return ['--model-uri', str(folder), '--version', version,
          '--smoke-rows', str(folder / 'smoke_rows.json')]


def test_validation_passes_when_the_server_answers_the_recorded_rows(stand_in_models, tmp_path):
  result = run_checks('validate', *model_args(stand_in_models['a']), tmp_path=tmp_path)
  assert result['passed'] is True, result
  assert result['rows'] == 12 and result['max_abs_diff'] < 1e-6
  assert result['tensorflow'].startswith('2.') and result['ready_seconds'] > 0


def test_validation_fails_when_the_served_model_answers_otherwise(stand_in_models, tmp_path):
  # the rows and predictions recorded for model a, served by model b: the stack must say so
  args = ['--model-uri', str(stand_in_models['b']), '--version', '8', '--smoke-rows',
          str(stand_in_models['a'] / 'smoke_rows.json')]
  result = run_checks('validate', *args, tmp_path=tmp_path)
  assert result['passed'] is False
  assert 'differ from the pipeline\'s by up to' in result['message'] and result['rows'] == 12


def test_validation_fails_with_the_servers_own_words_for_a_folder_without_a_model(
    stand_in_models, tmp_path):
  (tmp_path / 'empty').mkdir()
  args = ['--model-uri', str(tmp_path / 'empty'), '--version', '9', '--smoke-rows',
          str(stand_in_models['a'] / 'smoke_rows.json')]
  result = run_checks('validate', *args, tmp_path=tmp_path)
  assert result['passed'] is False and 'exited' in result['message']


def test_the_load_test_measures_a_slow_model_as_slower(stand_in_models, tmp_path):
  fast = run_checks('loadtest', *model_args(stand_in_models['a']), '--users', '2',
                    '--seconds', '4', tmp_path=tmp_path)
  slow = run_checks('loadtest', *model_args(stand_in_models['slow']), '--users', '2',
                    '--seconds', '4', tmp_path=tmp_path)
  for result in (fast, slow):
    assert result['requests'] > 0 and result['failures'] == 0 and result['error_rate'] == 0
    assert result['p50_ms'] <= result['p99_ms']
    assert sum(result['histogram_ms'].values()) == result['requests']
  print(f'load test: fast p99 {fast["p99_ms"]} ms {fast["qps"]} qps; '
        f'slow p99 {slow["p99_ms"]} ms {slow["qps"]} qps')
  assert slow['p50_ms'] > fast['p50_ms'] and slow['qps'] < fast['qps']


def test_a_real_model_validates_against_the_rows_its_pipeline_recorded(real_run_summary,
                                                                      tmp_path):
  smoke = real_run_summary['smoke_test']
  args = ['--model-uri', real_run_summary['candidate_model_uri'], '--version', '1',
          '--smoke-rows', smoke['rows_uri']]
  result = run_checks('validate', *args, tmp_path=tmp_path)
  assert result['passed'] is True, result
  assert result['rows'] == smoke['examples'] == 20


def test_the_load_test_can_load_a_url_with_the_given_authorization(stand_in_models, tmp_path):
  """--url: a Vertex AI validation endpoint's :predict (here a recording server that
  answers as one), with CT_LOADTEST_AUTHORIZATION as the header; no private server."""
  import threading
  from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

  seen = []

  class Endpoint(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
      body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
      seen.append((self.path, self.headers.get('Authorization'), len(body['instances'])))
      answer = json.dumps({'predictions': [[0.5]], 'deployedModelId': '7'}).encode()
      self.send_response(200)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(answer)))
      self.end_headers()
      self.wfile.write(answer)

    def log_message(self, *args):
      pass

  server = ThreadingHTTPServer(('127.0.0.1', 0), Endpoint)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  path = '/v1/projects/p/locations/us-central1/endpoints/m-validation:predict'
  try:
    result = run_checks('loadtest', *model_args(stand_in_models['a']), '--users', '2',
                        '--seconds', '1', '--url', f'http://127.0.0.1:{server.server_port}{path}',
                        tmp_path=tmp_path, env={'CT_LOADTEST_AUTHORIZATION': 'Bearer t0ken'})
  finally:
    server.shutdown()
  assert result['target'].endswith(path) and result['ready_seconds'] is None
  assert result['requests'] == len(seen) > 5 and result['failures'] == 0
  assert set(seen) == {(path, 'Bearer t0ken', 1)}

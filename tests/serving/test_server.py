"""The model server as a process: the V1 routes, predictions equal to the in-process serving
signature, each bad request's 400 (and the server keeps serving), the traffic split and its
change under load, and the prediction log after a clean shutdown."""

import concurrent.futures
import csv
import json
import time

import duckdb
import pytest
from conftest import SAMPLE_CSV, Server, get, post

from ct_serving import endpoint
from ct_serving.prediction_log import read_sql

ROW = {'fare': 12.5, 'trip_seconds': 600, 'company': 'Flash Cab'}


def deploy(path, models: dict, split: dict):
  endpoint.write(path, endpoint.EndpointState('chicago-taxi-tipper', tuple(
      endpoint.DeployedModel(mid, mid.lstrip('v'), str(folder))
      for mid, folder in models.items()), split))


def log_rows(folder) -> list[tuple]:
  return duckdb.connect().execute(
      f'SELECT deployed_model_id, status_code, error, request_payload, response_payload, '
      f'request_id FROM {read_sql(folder)} ORDER BY logging_time').fetchall()


def start_two_models(folder, stand_in_models):
  path = folder / 'endpoint.json'
  deploy(path, {'v1': stand_in_models['a'], 'v2': stand_in_models['b']}, {'v1': 100, 'v2': 0})
  return Server(path, folder / 'log', '--max-instances', '50', '--max-body-bytes', '20000'), path


@pytest.fixture(scope='module')
def two_models(tmp_path_factory, stand_in_models):
  """One server for the route and bad-request tests (they change nothing on it)."""
  server, path = start_two_models(tmp_path_factory.mktemp('two-models'), stand_in_models)
  yield server, path
  server.stop()


def test_routes_answer_in_the_v1_shape_and_name_the_deployed_model(two_models):
  server, _ = two_models
  assert get(f'{server.base}/v1/models') == (200, {'models': ['chicago-taxi-tipper']})
  assert get(f'{server.base}/v1/models/chicago-taxi-tipper') == (
      200, {'name': 'chicago-taxi-tipper', 'ready': True})
  status, body = server.predict([ROW, dict(ROW, fare=None, unique_key='trip-7')])
  assert status == 200, body
  assert len(body['predictions']) == 2 and all(len(p) == 1 for p in body['predictions'])
  assert body['deployed_model_id'] == 'v1' and body['model_version_id'] == '1'
  status, meta = get(f'{server.base}/v1/models/chicago-taxi-tipper/metadata')
  assert status == 200 and meta['endpoint']['traffic_split'] == {'v1': 100, 'v2': 0}
  assert meta['inputs']['v1']['fare'] == {'type': 'float', 'nullable': True}


@pytest.mark.parametrize('body, status, message', [
    ({'instances': [dict(ROW, tip=1.0)]}, 400, 'instances[0].tip: unknown field'),
    ({'instances': [{'fare': 1.0, 'company': 'x'}]}, 400, 'instances[0].trip_seconds: missing'),
    ({'instances': [dict(ROW, fare='a lot')]}, 400,
     "instances[0].fare: expected a number, got 'a lot'"),
    ({'instances': [ROW] * 51}, 400, 'instances: 51 instances, over the limit of 50'),
    ({'instances': [dict(ROW, company='x' * 30000)]}, 400,
     'over the limit of 20000 bytes (--max-body-bytes)'),
])
def test_each_bad_request_gets_a_400_naming_the_field_and_the_server_keeps_serving(
    two_models, body, status, message):
  server, _ = two_models
  got, answer = server.predict(**body)
  assert got == status and message in answer['error'], answer
  assert server.predict([ROW])[0] == 200


def chunked_post(server, body: bytes):
  """A body sent in 1 kB chunks, without a Content-Length (Transfer-Encoding: chunked)."""
  import http.client
  conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=30)
  try:
    conn.request('POST', '/v1/models/chicago-taxi-tipper:predict',
                 (body[i:i + 1024] for i in range(0, len(body), 1024)),
                 {'Content-Type': 'application/json'}, encode_chunked=True)
    response = conn.getresponse()
    return response.status, json.loads(response.read())
  finally:
    conn.close()


def test_a_chunked_body_is_held_to_the_same_size_limit_as_one_with_a_length(two_models):
  server, _ = two_models
  status, body = chunked_post(server, json.dumps({'instances': [ROW] * 3}).encode())
  assert status == 200 and len(body['predictions']) == 3, body
  big = json.dumps({'instances': [dict(ROW, company='x' * 30000)]}).encode()
  status, body = chunked_post(server, big)
  assert status == 400, body
  assert 'over the limit of 20000 bytes (--max-body-bytes)' in body['error'], body
  assert server.predict([ROW])[0] == 200


def test_a_structured_cloudevent_is_answered_as_kserve_answers_it(two_models):
  """KServe's data plane answers a CloudEvent with a CloudEvent (bytes, not a dict)."""
  server, _ = two_models
  event = {'specversion': '1.0', 'type': 'predict', 'source': 'tests', 'id': 'e-1',
           'time': '2026-12-07T12:00:00Z',
           'datacontenttype': 'application/json', 'data': {'instances': [ROW]}}
  status, body = post(f'{server.base}/v1/models/chicago-taxi-tipper:predict',
                      json.dumps(event).encode(),
                      {'Content-Type': 'application/cloudevents+json'})
  assert status == 200, body
  assert len(body['data']['predictions']) == 1 and body['specversion'] == '1.0', body


def test_the_server_log_has_no_line_per_request_unless_asked(two_models):
  server, _ = two_models
  for _ in range(3):
    assert server.predict([ROW])[0] == 200
  time.sleep(0.5)
  output = server.log()
  assert 'predict HTTP/1.1" 200' not in output and 'kserve.trace' not in output, output[-2000:]


def test_a_body_without_a_json_content_type_is_read_as_json_as_tf_serving_does(two_models):
  import urllib.error
  import urllib.request
  server, _ = two_models
  url = f'{server.base}/v1/models/chicago-taxi-tipper:predict'
  with urllib.request.urlopen(url, data=json.dumps({'instances': [ROW]}).encode()) as r:
    assert r.status == 200 and len(json.loads(r.read())['predictions']) == 1  # curl's default
  try:
    urllib.request.urlopen(url, data=b'{"instances": [')
    raise AssertionError('a body that is not JSON was accepted')
  except urllib.error.HTTPError as e:
    assert e.code == 400 and json.loads(e.read())['error'].startswith('the body is not JSON')
  status, body = post(url, b'{"instances": [')  # with the JSON type, KServe's own 400
  assert status == 400 and 'Unrecognized request format' in body['error'], body


def test_an_endpoint_file_the_server_refuses_leaves_the_last_good_state_serving(two_models):
  server, path = two_models
  good = path.read_text()
  bad = json.loads(good)
  bad['traffic_split'] = {'v1': 50, 'v2': 40}  # written by hand, past endpoint.write's check
  path.write_text(json.dumps(bad))
  try:
    time.sleep(1.5)  # three of the server's 0.5 s checks
    status, body = server.predict([ROW])
    assert status == 200 and body['deployed_model_id'] == 'v1'
    meta = get(f'{server.base}/v1/models/chicago-taxi-tipper/metadata')[1]
    assert meta['endpoint']['traffic_split'] == {'v1': 100, 'v2': 0}
    assert 'traffic_split sums to 90, not 100' in server.output.read_text()
  finally:
    path.write_text(good)


def test_a_split_change_under_load_drops_no_request_and_the_log_has_every_row(
    tmp_path, stand_in_models):
  server, path = start_two_models(tmp_path, stand_in_models)
  changed_at = []

  def one(i):
    if i == 150:
      deploy(path, {'v1': stand_in_models['a'], 'v2': stand_in_models['b']},
             {'v1': 10, 'v2': 90})
      changed_at.append(time.monotonic())
    return server.predict([dict(ROW, unique_key=f'k{i}')])

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(one, range(600)))
  assert [s for s, _ in answers].count(200) == 600, [a for a in answers if a[0] != 200][:3]
  late = [b['deployed_model_id'] for _, b in answers[450:]]
  assert late.count('v2') > late.count('v1')  # the new split took effect, no restart
  bad = server.predict([dict(ROW, fare='x')])
  assert bad[0] == 400
  assert server.stop() == 0
  rows = log_rows(server.log_dir)
  assert len(rows) == 601  # every request, the rejected one too, after a clean shutdown
  assert len({r[5] for r in rows}) == 601  # one request id each
  served = [r for r in rows if r[1] == 200]
  assert {r[0] for r in served} == {'v1', 'v2'}
  assert json.loads(served[0][3][0])['unique_key'].startswith('k')
  assert len(json.loads(served[0][4][0])) == 1
  rejected = [r for r in rows if r[1] == 400]
  assert len(rejected) == 1 and 'instances[0].fare' in rejected[0][2]


def _sample_rows(n=40):
  with open(SAMPLE_CSV, newline='') as f:
    return [r for _, r in zip(range(n), csv.DictReader(f))]


def test_predictions_equal_the_in_process_serving_signature_on_a_real_model(
    tmp_path, real_model):
  import tensorflow as tf

  from ct_serving.model import LoadedModel
  from ct_serving.spec import to_examples

  path = tmp_path / 'endpoint.json'
  deploy(path, {'v1': real_model}, {'v1': 100})
  loaded = LoadedModel.load(endpoint.read(path).deployed_models[0])
  spec = loaded.spec
  assert 'fare' in spec.names and 'tips' not in spec.names
  casts = {'float': float, 'int': lambda v: int(float(v)), 'string': str}
  instances = [{f.name: (casts[f.kind](row[f.name]) if row.get(f.name) not in ('', None)
                         else None) for f in spec.features} for row in _sample_rows()]
  server = Server(path, tmp_path / 'log')
  try:
    status, body = server.predict(instances)
  finally:
    server.stop()
  assert status == 200, body
  signature = tf.saved_model.load(loaded.deployed.saved_model_dir).signatures['serving_default']
  (expected,) = signature(examples=tf.constant(to_examples(instances, spec))).values()
  assert [p[0] for p in body['predictions']] == pytest.approx(
      expected.numpy().reshape(-1).tolist(), abs=1e-6)


def test_a_model_that_fails_answers_500_logs_why_and_the_server_keeps_serving(
    tmp_path, stand_in_models):
  path = tmp_path / 'endpoint.json'
  deploy(path, {'v1': stand_in_models['breaks']}, {'v1': 100})
  server = Server(path, tmp_path / 'log')
  try:
    assert server.predict([dict(ROW, fare=5000.0)])[0] == 500
    assert server.predict([ROW])[0] == 200
  finally:
    assert server.stop() == 0
  rows = {r[1]: r for r in log_rows(server.log_dir)}
  assert set(rows) == {200, 500}
  assert rows[500][0] == 'v1' and 'fare too high for this model' in rows[500][2]

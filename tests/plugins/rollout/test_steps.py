"""What model_rollout's first step refuses, and the local server's start failing loudly."""

import pytest

from ct_platform.backends.local_registry import LocalModelRegistry
from ct_platform.config import load_settings
from ct_platform.rollout import server, steps


@pytest.fixture
def settings(tmp_path):
  return load_settings({'local_dir': str(tmp_path)}, use_variable=False)


def _version(settings, tmp_path, name, smoke_passed=True):
  model = tmp_path / name / 'Format-Serving'
  model.mkdir(parents=True)
  (model / 'saved_model.pb').write_bytes(name.encode())
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  return reg, reg.register(str(model.parent), {'smoke_test': {
      'passed': smoke_passed, 'message': 'm', 'rows_uri': '/rows.json'}})['version']


def test_plan_rollout_refuses_what_cannot_be_rolled_out(settings, tmp_path):
  with pytest.raises(ValueError, match='no champion yet'):
    steps.plan_rollout({}, 'r1', settings)
  reg, v1 = _version(settings, tmp_path, 'a')
  reg.set_alias(v1, 'champion')
  with pytest.raises(ValueError, match='no version has the challenger alias'):
    steps.plan_rollout({}, 'r1', settings)
  with pytest.raises(ValueError, match='version: 1 is the champion already'):
    steps.plan_rollout({'version': 1}, 'r1', settings)
  _, v2 = _version(settings, tmp_path, 'b', smoke_passed=False)
  with pytest.raises(ValueError, match='version: 2 did not pass its smoke test'):
    steps.plan_rollout({'version': v2}, 'r1', settings)
  _, v3 = _version(settings, tmp_path, 'c')
  with pytest.raises(ValueError, match='canary_percent: 100 is not within 1..99'):
    steps.plan_rollout({'version': v3, 'canary_percent': 100}, 'r1', settings)
  reg.set_alias(v3, 'challenger')
  plan = steps.plan_rollout({'reason': 'nightly'}, 'manual__2026-12-01', settings)
  assert plan['challenger']['version'] == 3 and plan['champion']['version'] == 1
  assert plan['canary_percent'] == 10 and plan['min_requests'] == 200
  assert plan['challenger']['smoke_rows'] == '/rows.json' and plan['reason'] == 'nightly'


def test_a_server_that_cannot_start_fails_with_its_own_output(tmp_path):
  settings = load_settings({'local_dir': str(tmp_path), 'serving_python': '/bin/false',
                            'serve_port': 1}, use_variable=False)
  with pytest.raises(RuntimeError, match='the model server exited with 1'):
    server.ensure_running(settings, timeout=30)


@pytest.fixture
def vertex_canary(tmp_path, monkeypatch):
  """A canary on Vertex AI: its logging table (Vertex AI's columns, resource names) in the
  BigQuery fake, which runs the queries on DuckDB, and Cloud Monitoring's fake with each
  deployed model's latency and errors; the real clients above both."""
  import datetime as dt
  import json

  import duckdb
  from fakes.bigquery import FakeBigQuery
  from fakes.cloud_monitoring import FakeMetricService, serve
  from fakes.prediction_log import traffic

  now = dt.datetime.now(dt.timezone.utc)
  rows = traffic('1', 400, seed=1) + traffic('2', 120, seed=2)
  for i, r in enumerate(rows):
    r['logging_time'] = now - dt.timedelta(seconds=60 - (i % 500) * 0.1)
  db = tmp_path / 'log.duckdb'
  con = duckdb.connect(str(db))
  con.execute('CREATE SCHEMA ct_monitoring')
  con.execute('CREATE TABLE ct_monitoring.prediction_log (endpoint VARCHAR, deployed_model_id '
              'VARCHAR, logging_time TIMESTAMP, request_id DECIMAL(38, 0), request_payload '
              'VARCHAR[], response_payload VARCHAR[])')
  for r in rows:
    con.execute('INSERT INTO ct_monitoring.prediction_log VALUES (?, ?, ?, ?, ?, ?)', [
        'projects/123/locations/us-central1/endpoints/chicago-taxi-tipper',
        r['deployed_model_id'], r['logging_time'].replace(tzinfo=None), r['request_id'],
        r['request_payload'], r['response_payload']])
  con.close()

  def engine():
    c = duckdb.connect()
    c.execute(f"ATTACH '{db}' AS \"ct-test-project\" (READ_ONLY)")
    return c

  bigquery = FakeBigQuery()
  bigquery.engine = engine
  metrics = FakeMetricService()
  server, address = serve(metrics)
  monkeypatch.setenv('BIGQUERY_EMULATOR_HOST', bigquery.endpoint)
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform',
       'extra': {'is_anonymous': True, 'project': 'ct-test-project'}}))
  settings = load_settings({
      'profile': 'gcp', 'endpoint': 'vertex', 'project': 'ct-test-project', 'bucket': 'gs://b',
      'prediction_log_table': 'bq://ct-test-project.ct_monitoring.prediction_log',
      'cloud_monitoring_api_endpoint': address, 'local_dir': str(tmp_path)},
      use_variable=False)
  deployment = {'champion_id': '1', 'challenger_id': '2',
                'since': (now - dt.timedelta(minutes=5)).isoformat()}
  yield settings, deployment, metrics
  server.stop(None)
  bigquery.close()


LATENCY = 'aiplatform.googleapis.com/prediction/online/prediction_latencies'
ERRORS = 'aiplatform.googleapis.com/prediction/online/error_count'


def test_on_vertex_the_canary_reads_the_logging_table_and_cloud_monitoring(vertex_canary):
  settings, deployment, metrics = vertex_canary
  metrics.points = {
      (LATENCY, '1', 'ALIGN_PERCENTILE_50'): [8.0], (LATENCY, '1', 'ALIGN_PERCENTILE_99'): [30.0],
      (LATENCY, '2', 'ALIGN_PERCENTILE_50'): [9.0],
      (LATENCY, '2', 'ALIGN_PERCENTILE_99'): [28.0, 31.0],  # two replicas: the larger counts
      (ERRORS, '1', 'ALIGN_SUM'): [2], (ERRORS, '2', 'ALIGN_SUM'): [1]}
  verdict = steps.compare_canary({'min_requests': 100}, deployment, settings)
  champion, challenger = verdict['champion'], verdict['challenger']
  # from the logging table: answered requests and the score distributions
  assert champion['predictions'] == 400 and challenger['predictions'] == 120
  # from Cloud Monitoring: latency and server errors
  assert (challenger['p50_ms'], challenger['p99_ms'], challenger['errors']) == (9.0, 31.0, 1)
  assert challenger['requests'] == 121 and champion['requests'] == 402
  assert abs(challenger['error_rate'] - 1 / 121) < 1e-9
  assert verdict['passed'], verdict['reasons']
  asked = {r.filter for r in metrics.requests}
  assert all('resource.labels.endpoint_id = "chicago-taxi-tipper"' in f for f in asked)
  assert any('deployed_model_id = "2"' in f and LATENCY in f for f in asked)
  # the canary's wait counts the challenger's requests there too (the trigger's log config)
  import datetime as dt

  from ct_platform.monitoring.window import log_from_config, prediction_log_for
  from ct_platform.rollout.log import count_requests
  log = log_from_config(prediction_log_for(settings).config())
  assert count_requests(log, '2', dt.datetime.fromisoformat(deployment['since'])) == 120

  # a challenger that is slow and fails where the champion does not is stopped
  metrics.points[(LATENCY, '2', 'ALIGN_PERCENTILE_99')] = [400.0]
  metrics.points[(ERRORS, '2', 'ALIGN_SUM')] = [40]
  verdict = steps.compare_canary({'min_requests': 100}, deployment, settings)
  failed = {c['name'] for c in verdict['checks'] if not c['passed']}
  assert failed == {'error_rate_delta', 'p99_latency_ratio'}, verdict['reasons']


def test_the_canary_joins_the_labels_that_arrived_and_they_outrank_a_score_shift(tmp_path):
  """The local log (Parquet parts) with the seeded warehouse attached: the label join runs
  in DuckDB on the trips' unique_key, as monitoring's does. A challenger whose scores are
  squeezed towards 0.5 (same side of it: same accuracy) shifts the score distribution
  but is as accurate; a constant challenger is not."""
  import datetime as dt

  from fakes import monitoring

  settings = monitoring.seed(tmp_path)
  now = dt.datetime.now(dt.timezone.utc)
  rows = monitoring.trips(tmp_path, dt.date(2013, 1, 1), 1095, 600)
  scores = monitoring.scores(rows)
  champion, challenger = slice(0, 300), slice(300, 600)
  monitoring.write_log(tmp_path, rows[champion], scores[champion], now, version=1,
                       name='part-v1.parquet')
  squeezed = [0.5 + (s - 0.5) * 0.3 for s in scores[challenger]]
  monitoring.write_log(tmp_path, rows[challenger], squeezed, now, version=2,
                       name='part-v2.parquet')
  deployment = {'champion_id': 'v1', 'challenger_id': 'v2',
                'since': (now - dt.timedelta(hours=2)).isoformat()}
  verdict = steps.compare_canary({'min_requests': 100}, deployment, settings)
  labelled = sum(1 for _, label in rows[challenger] if label is not None)
  assert verdict['challenger']['labelled'] == labelled > 250
  assert verdict['champion']['labelled'] == sum(
      1 for _, label in rows[champion] if label is not None)
  assert verdict['challenger']['auc'] > 0.85 and verdict['champion']['auc'] > 0.85
  checks = {c['name']: c for c in verdict['checks']}
  assert checks['score_psi']['value'] > 0.25 and 'passed on labels' in checks['score_psi']['detail']
  assert checks['online_accuracy_drop']['value'] is not None
  assert verdict['passed'], verdict['reasons']

  # a constant challenger: as wrong as the share of big tips; the shift fails it too
  (tmp_path / 'serving' / 'prediction_log' / 'part-v2.parquet').unlink()
  monitoring.write_log(tmp_path, rows[challenger], [0.3] * 300, now, version=2,
                       name='part-v2.parquet')
  verdict = steps.compare_canary({'min_requests': 100}, deployment, settings)
  failed = {c['name'] for c in verdict['checks'] if not c['passed']}
  assert failed == {'score_psi', 'score_jsd', 'online_accuracy_drop', 'online_auc_drop'}, \
      verdict['reasons']

  # without the warehouse there is no label join: accuracy is not judged, and says why
  settings.warehouse_file.unlink()
  verdict = steps.compare_canary({'min_requests': 100}, deployment, settings)
  (acc,) = [c for c in verdict['checks'] if c['name'] == 'online_accuracy_drop']
  assert acc['value'] is None and 'the label join failed' in acc['detail'], acc


@pytest.fixture
def validation_endpoint(tmp_path, monkeypatch):
  """The Vertex fake with versions 1 and 2 registered, the challenger's recorded smoke rows,
  and a stand-in serving container for deployed model 2 answering `answer` (the
  real-model case runs under airflow dags test: tests/dags/test_vertex_backend.py)."""
  import json

  from fakes.http import RecordingJsonServer
  from fakes.vertex import FakeVertex

  from ct_platform.backends.vertex_endpoint import VertexEndpoint
  from ct_platform.backends.vertex_registry import VertexModelRegistry

  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))
  vertex = FakeVertex()
  registry = VertexModelRegistry('p1', 'us-central1', 'chicago-taxi-tipper',
                                 api_endpoint=vertex.endpoint, serving_image='img:1')
  for i in (1, 2):
    (tmp_path / f'c{i}' / 'Format-Serving').mkdir(parents=True)
    registry.register(str(tmp_path / f'c{i}'), {'run_id': f'r{i}', 'smoke_test': {
        'passed': True, 'message': 'ok'}})
  rows = tmp_path / 'smoke_rows.json'
  rows.write_text(json.dumps({'instances': [{'fare': 1.0}, {'fare': 2.0}],
                              'predictions': [0.25, 0.75]}))
  answer = {'predictions': [[0.25], [0.75]]}

  class Container(RecordingJsonServer):
    def route(self, method, path, query, body):
      return 200, answer

  container = Container()
  vertex.serving_backends['2'] = f'{container.endpoint}/predict'
  settings = load_settings({'profile': 'gcp', 'endpoint': 'vertex', 'project': 'p1',
                            'bucket': 'gs://b', 'serving_image': 'img:1',
                            'vertex_api_endpoint': vertex.endpoint,
                            'local_dir': str(tmp_path)}, use_variable=False)
  endpoint = VertexEndpoint('p1', 'us-central1', 'chicago-taxi-tipper',
                            api_endpoint=vertex.endpoint).validation()
  plan = {'challenger': {'version': 2, 'model_uri': 'gs://m/2', 'smoke_rows': str(rows)}}
  yield vertex, endpoint, plan, settings, answer
  container.close()
  vertex.close()


def test_on_vertex_a_container_that_answers_otherwise_fails_the_validation_and_leaves(
    validation_endpoint):
  vertex, endpoint, plan, settings, answer = validation_endpoint
  operation, what = steps.begin_validation_deploy(plan, endpoint)
  endpoint.wait_operation(operation, what)
  assert steps.begin_validation_deploy(plan, endpoint) is None  # there already: no 2nd deploy
  result = steps.validate_on_endpoint(plan, endpoint, settings)
  assert result['passed'], result
  assert result['max_abs_diff'] < 1e-9 and result['rows'] == 2
  answer['predictions'] = [[0.25], [0.5]]  # the container answers another model's scores
  result = steps.validate_on_endpoint(plan, endpoint, settings)
  assert not result['passed'] and result['max_abs_diff'] == 0.25
  assert "served predictions differ from the pipeline's by up to 0.250000" in result['message']
  endpoint.wait_operation(result['released'], 'the release')
  assert endpoint.state().deployed_models == ()  # it left the validation endpoint
  # a deploy that failed in the container: the verdict, with Vertex AI's words; no predict
  before = len(vertex.calls('POST', r':predict$'))
  result = steps.validate_on_endpoint(plan, endpoint, settings,
                                      deploy_error='the container exited')
  assert not result['passed'] and result['message'] == (
      'the challenger did not deploy in the serving container (img:1): the container exited')
  assert len(vertex.calls('POST', r':predict$')) == before

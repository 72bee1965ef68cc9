"""continuous_training under `airflow dags test` with the Vertex AI configuration.

Same DAG file; only configuration changes (CT_RUNNER=vertex, CT_REGISTRY=vertex, a gs://
bucket): spans, drift outputs, run summary and reports go to the GCS API served by
gcp-storage-emulator, the pipeline job and the model registry to a local server that
answers as Vertex AI does (tests/fakes/vertex.py), through the real client libraries.
The "pipeline run" on that server writes what the pipeline's last step would: a
candidate model and the run summary, which the DAG reads, gates and promotes.
"""

import json

import pytest
from dag_runs import REPO, task_states
from fakes.http import gcs_emulator
from fakes.vertex import FakeVertex, summary_writer, write_compiled_pipeline

BUCKET = 'ct-vertex-test'


@pytest.fixture
def gcs(monkeypatch):
  from google.cloud import storage

  with gcs_emulator() as host:
    monkeypatch.setenv('STORAGE_EMULATOR_HOST', host)
    client = storage.Client()
    client.create_bucket(BUCKET)
    yield host, client


def test_vertex_configuration_reaches_the_gate_with_the_servers_summary_and_promotes(
    airflow_env, local_dir, gcs, tmp_path):
  host, client = gcs
  vertex = FakeVertex()
  vertex.on_succeeded = summary_writer(REPO / 'tests' / 'plugins' / 'data' /
                                       'run_summary_blessed.json')
  try:
    airflow_env.seed(local_dir)
    compiled = write_compiled_pipeline(tmp_path / 'compiled')
    env = {
        'CT_RUNNER': 'vertex', 'CT_REGISTRY': 'vertex', 'CT_BUCKET': f'gs://{BUCKET}',
        'CT_PROJECT': 'p1', 'CT_REGION': 'us-central1',
        'CT_VERTEX_API_ENDPOINT': vertex.endpoint, 'CT_PIPELINE_SPEC_URI': str(compiled),
        'CT_IMPERSONATION_CHAIN': 'ct-pipeline@p1.iam.gserviceaccount.com',
        'CT_POLL_INTERVAL_SECONDS': '1', 'CT_SERVING_IMAGE': 'us-docker.pkg.dev/x/y:1',
        'CT_ROLLOUT': 'none',
        'STORAGE_EMULATOR_HOST': host,
        'AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT': json.dumps(
            {'conn_type': 'google_cloud_platform',
             'extra': {'is_anonymous': True, 'project': 'p1'}})}
    rc, log = airflow_env.run('continuous_training', local_dir,
                              {'window_end': '2016-01-01', 'window_days': 90}, **env)
    assert rc == 0, log[-5000:]
    states = task_states(airflow_env, local_dir, 'continuous_training', log)
    assert states['run_pipeline'] == 'success' and states['promote'] == 'success', states

    # one pipeline job, with this run's span and parameters
    (_, _, query, body), = vertex.creates()
    params = {k: v['stringValue'] for k, v in body['runtimeConfig']['parameters'].items()}
    run_id = query['pipelineJobId'][0]
    assert params['span_uri'].startswith(f'gs://{BUCKET}/spans/20151003-20160101/')
    assert params['summary_uri'] == (f'gs://{BUCKET}/pipeline_root/{run_id}/'
                                     f'run_summary.json')
    assert 'baseline_model_uri' not in params  # no champion yet: the first-run variant
    names = {b.name for b in client.list_blobs(BUCKET)}
    span = params['span_uri'][len(f'gs://{BUCKET}/'):]
    assert {f'{span}/part-00000.csv', f'{span}/_MANIFEST.json',
            f'{span}.drift/drift_report.html'} <= names

    # the gate read the server's summary and wrote its report next to it
    decision = json.loads(client.bucket(BUCKET).blob(
        f'pipeline_root/{run_id}/gate_decision.json').download_as_text())
    assert decision['outcome'] == 'promote' and decision['run_id'] == run_id

    # the registry: version 1 uploaded from the candidate, then the champion alias
    (_, _, _, upload), = vertex.calls('POST', r'models:upload$')
    assert upload['modelId'] == 'chicago-taxi-tipper'
    assert upload['model']['artifactUri'] == (f'gs://{BUCKET}/pipeline_root/{run_id}/'
                                              f'candidate/1/Format-Serving')
    assert vertex.calls('POST', r'models/chicago-taxi-tipper@1:mergeVersionAliases$')
    meta = json.loads(client.bucket(BUCKET).blob(
        f'pipeline_root/{run_id}/candidate/1/metadata.json').download_as_text())
    assert meta['smoke_test']['passed'] and meta['drift_baseline']['profile']['rows'] > 0

    # a second run: the champion (found through the alias) is the pipeline's baseline
    rc, log = airflow_env.run('continuous_training', local_dir,
                              {'window_end': '2016-01-01', 'window_days': 90,
                               'force_retrain': True}, **env)
    assert rc == 0, log[-5000:]
    second = vertex.creates()[-1]
    params = {k: v['stringValue'] for k, v in second[3]['runtimeConfig']['parameters'].items()}
    assert params['baseline_model_uri'] == f'gs://{BUCKET}/pipeline_root/{run_id}/candidate/1'
    assert second[2]['pipelineJobId'][0] != run_id
  finally:
    vertex.close()


@pytest.fixture
def vertex_endpoint(tmp_path, monkeypatch):
  """The fake with versions 1 and 2 of the model registered; each deploy's operation is
  done at its third poll; the settings a DAG run needs to reach it."""
  from ct_platform.backends.vertex_registry import VertexModelRegistry

  vertex = FakeVertex()
  vertex.deploy_polls = 3
  connection = json.dumps({'conn_type': 'google_cloud_platform',
                           'extra': {'is_anonymous': True, 'project': 'ct-proj1'}})
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', connection)
  registry = VertexModelRegistry('ct-proj1', 'us-central1', 'chicago-taxi-tipper',
                                 api_endpoint=vertex.endpoint, serving_image='img:1')
  for i in (1, 2):
    (tmp_path / f'c{i}' / 'Format-Serving').mkdir(parents=True)
    registry.register(str(tmp_path / f'c{i}'), {'run_id': f'r{i}', 'smoke_test': {
        'passed': True, 'message': 'ok'}})
  # the canary reads the Endpoint's logging table, so the warehouse is BigQuery (the
  # deploy step only names the table; nothing is queried here)
  env = {'CT_ENDPOINT': 'vertex', 'CT_WAREHOUSE': 'bigquery', 'CT_PROJECT': 'ct-proj1',
         'CT_REGION': 'us-central1',
         'CT_VERTEX_API_ENDPOINT': vertex.endpoint, 'CT_POLL_INTERVAL_SECONDS': '0.5',
         'AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT': connection}
  yield vertex, env
  vertex.close()


def _deploys(vertex):
  return [c[3]['deployedModel']['id'] for c in vertex.calls('POST', r':deployModel$')]


def _split(vertex):
  (endpoint,) = vertex.endpoints.values()
  return endpoint['trafficSplit']


def test_a_canary_on_vertex_defers_on_each_deploy_and_ends_at_its_split(
    fixture_airflow_env, local_dir, vertex_endpoint):
  vertex, env = vertex_endpoint
  rc, log = fixture_airflow_env.run('ct_canary_deploy', local_dir, **env)
  assert rc == 0, log[-5000:]
  states = task_states(fixture_airflow_env, local_dir, 'ct_canary_deploy', log)
  assert states == {'deploy_canary': 'success'}
  # a first rollout: the champion first, then the challenger; each waited for by the
  # trigger, not by the worker
  assert _deploys(vertex) == ['1', '2']
  assert log.count('waiting (deferred) for deploy of') == 2
  assert 'waiting for deploy of champion version 1: operation' in log  # the trigger's line
  assert _split(vertex) == {'1': 90, '2': 10}
  # the endpoint was created with request-response logging to BigQuery
  (create,) = vertex.calls('POST', r'/endpoints$')
  assert create[3]['predictRequestResponseLoggingConfig']['enabled']


def test_a_retry_after_a_crash_waits_for_the_deploy_it_started(
    fixture_airflow_env, local_dir, vertex_endpoint):
  vertex, env = vertex_endpoint
  rc, log = fixture_airflow_env.run('ct_canary_deploy_crash', local_dir, **env)
  assert rc == 0, log[-5000:]
  assert 'simulated worker crash right after starting deploy of champion version 1' in log
  assert 'reconnecting to deploy of champion version 1' in log
  assert _deploys(vertex) == ['1', '2']  # never a second deploy of the champion
  assert _split(vertex) == {'1': 90, '2': 10}


def test_a_deploy_that_fails_fails_the_try_with_vertex_ais_message_and_a_retry_redeploys(
    fixture_airflow_env, local_dir, vertex_endpoint):
  from ct_platform.backends.vertex_endpoint import VertexEndpoint

  vertex, env = vertex_endpoint
  VertexEndpoint('ct-proj1', 'us-central1', 'chicago-taxi-tipper',
                 api_endpoint=vertex.endpoint).deploy(1, 'gs://models/1', 100)
  vertex.fail_deploy = 'Model server never became ready: the container exited'
  rc, log = fixture_airflow_env.run('ct_canary_deploy', local_dir, **env)
  assert rc == 0, log[-5000:]
  # try 1 failed with Vertex AI's own words (the split stayed: a failed deploy applies none)
  assert 'deploy of challenger version 2 failed: Model server never became ready' in log
  assert 'EndpointError' in log
  # try 2 (the DAG's retries: 1) found no recorded operation and deployed again
  assert _deploys(vertex) == ['1', '2', '2']
  assert _split(vertex) == {'1': 90, '2': 10}


@pytest.fixture(scope='module')
def container_models(tmp_path_factory):
  """Stand-in model 'a' (the serving env builds it), with the smoke rows
  the pipeline would have recorded for it."""
  from fakes import serving_models
  return serving_models.build(tmp_path_factory.mktemp('validation-models'), 'a')


@pytest.fixture
def validation_on_vertex(vertex_endpoint, container_models, tmp_path):
  """The fake's :predict for deployed model 2 answered by a real model server (the
  serving env's, as the prebuilt container would) serving `served`; returns
  (vertex, env for the DAG run, serve(name))."""
  from fakes import serving_models
  from fakes.http import free_port

  from ct_platform.backends import endpoint_for
  from ct_platform.config import load_settings
  from ct_platform.rollout import server

  vertex, env = vertex_endpoint
  started = []

  def serve(name):
    settings = load_settings({'local_dir': str(tmp_path / f'container-{name}'),
                              'serve_port': free_port()}, use_variable=False)
    endpoint_for(settings).deploy(2, container_models[name], 100)
    server.ensure_running(settings)
    started.append(settings)
    vertex.serving_backends['2'] = (f'{server.base_url(settings)}/v1/models/'
                                    f'chicago-taxi-tipper:predict')

  plan = {'challenger': {'version': 2, 'model_uri': 'gs://models/2',
                         'smoke_rows': f'{container_models["a"]}/smoke_rows.json'},
          'champion': {'version': 1, 'model_uri': 'gs://models/1'},
          'report_dir': str(tmp_path / 'report')}
  policy = serving_models.quick_policy(tmp_path / 'policy.yaml')
  env = dict(env, CT_TEST_PLAN=json.dumps(plan), CT_SERVING_POLICY_FILE=str(policy),
             CT_SERVING_IMAGE='us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:pinned')
  yield vertex, env, serve
  for settings in started:
    server.stop(settings)


VALIDATION_ENDPOINT = ('projects/ct-proj1/locations/us-central1/endpoints/'
                       'chicago-taxi-tipper-validation')


def _validation_endpoint(vertex):
  return vertex.endpoints[VALIDATION_ENDPOINT]


def test_on_vertex_the_challenger_is_validated_and_load_tested_alone_on_a_private_endpoint(
    fixture_airflow_env, local_dir, validation_on_vertex):
  vertex, env, serve = validation_on_vertex
  serve('a')  # the container serves the model whose smoke rows the pipeline recorded
  rc, log = fixture_airflow_env.run('ct_validate_on_vertex', local_dir, **env)
  assert rc == 0, log[-5000:]
  states = task_states(fixture_airflow_env, local_dir, 'ct_validate_on_vertex', log)
  assert states == {'validate_infrastructure': 'success', 'load_test': 'success'}
  # the deploy was waited for by the trigger, on the validation endpoint only
  assert 'waiting (deferred) for deploy of challenger version 2 on the validation ' \
         'endpoint' in log
  assert list(vertex.endpoints) == [VALIDATION_ENDPOINT]
  (create,) = vertex.calls('POST', r'/endpoints$')
  assert 'predictRequestResponseLoggingConfig' not in create[3]  # nobody's traffic
  assert create[3]['labels'] == {'ct_model': 'chicago-taxi-tipper', 'ct_purpose': 'validation'}
  assert 'infrastructure validation: pass: ' + VALIDATION_ENDPOINT in log
  # the load test's clients went through the endpoint's :predict, not a local server
  predicts = vertex.calls('POST', r'-validation:predict$')
  (line,) = [x for x in log.splitlines() if 'load test: {' in x]
  result = json.loads(line.split('load test: ', 1)[1])
  assert result['figures']['target'].endswith(VALIDATION_ENDPOINT + ':predict')
  assert result['figures']['requests'] > 10 and result['figures']['failures'] == 0
  assert len(predicts) >= result['figures']['requests']  # + the validation's own call
  # then the challenger leaves the validation endpoint (machines cost by the hour)
  assert _released(vertex, result['released']) == []


def _released(vertex, operation):
  """The validation endpoint's deployed models once the undeploy the task started (and
  did not wait for: it needs no worker) is done."""
  from ct_platform.backends.vertex_endpoint import VertexEndpoint

  (undeploy,) = vertex.calls('POST', r'-validation:undeployModel$')
  assert undeploy[3]['deployedModelId'] == '2' and operation
  VertexEndpoint('ct-proj1', 'us-central1', 'chicago-taxi-tipper', api_endpoint=vertex.endpoint
                 ).wait_operation(operation, 'the release')
  return _validation_endpoint(vertex)['deployedModels']


def test_on_vertex_a_deploy_that_fails_in_the_container_is_the_verdict_not_a_task_failure(
    fixture_airflow_env, local_dir, validation_on_vertex):
  vertex, env, serve = validation_on_vertex
  vertex.fail_deploy = 'Model server never became ready: the container exited'
  rc, log = fixture_airflow_env.run('ct_validate_on_vertex', local_dir, **env)
  assert rc == 0, log[-5000:]
  states = task_states(fixture_airflow_env, local_dir, 'ct_validate_on_vertex', log)
  assert states == {'validate_infrastructure': 'success', 'load_test': 'skipped'}
  assert ('infrastructure validation: FAIL: the challenger did not deploy in the serving '
          'container (us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:pinned): deploy of '
          'challenger version 2 on the validation endpoint failed: Model server never became '
          'ready: the container exited (code 13, ') in log
  assert not vertex.calls('POST', r':predict$')

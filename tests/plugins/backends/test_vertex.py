"""Vertex AI backends with the real google-cloud-aiplatform client (REST) above a local
server that answers in Vertex AI's JSON (tests/fakes/vertex.py) and records requests.

Credentials come the production way, from the provider's GoogleBaseHook: the
Connection google_cloud_default is anonymous here (its `is_anonymous` extra).
"""

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from fakes.vertex import FakeVertex, write_compiled_pipeline  # noqa: E402

from ct_platform.backends.runner import PipelineRunSpec  # noqa: E402
from ct_platform.backends.vertex import VertexPipelineRunner  # noqa: E402
from ct_platform.backends.vertex_registry import VertexModelRegistry  # noqa: E402
from ct_platform.labels import validate_labels  # noqa: E402
from ct_platform.triggers.pipeline_run import PipelineRunTrigger  # noqa: E402

CHAIN = 'ct-pipeline@p1.iam.gserviceaccount.com'


def compiled_pipeline(root, schema='2.0.0'):
  return write_compiled_pipeline(root, schema)


@pytest.fixture
def fake():
  server = FakeVertex()
  yield server
  server.close()


@pytest.fixture(autouse=True)
def anonymous_connection(monkeypatch):
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))


@pytest.fixture
def runner(fake, tmp_path):
  return VertexPipelineRunner(
      project='p1', region='us-central1', pipeline_root=str(tmp_path / 'root'),
      compiled_pipeline_uri=str(compiled_pipeline(tmp_path / 'compiled')),
      api_endpoint=fake.endpoint, impersonation_chain=CHAIN)


def spec(run_id='ct-continuous-training-r1-a1-abc', baseline=''):
  return PipelineRunSpec(run_id=run_id, span_uri='gs://b/spans/w/r1-try1',
                         summary_uri=f'gs://b/root/{run_id}/run_summary.json',
                         pipeline_version='0123456789ab', baseline_model_uri=baseline,
                         train_args={'num_steps': 500}, labels={'dag_id': 'continuous_training'})


def first_event(trigger):
  async def run():
    async for event in trigger.run():
      return event.payload
  return asyncio.run(run())


def trigger_for(runner, run_id, poll=0.01, deadline_minutes=5):
  deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=deadline_minutes)
  return PipelineRunTrigger(runner.config(), run_id, deadline.isoformat(), poll_interval=poll,
                            max_poll_error_seconds=30)


def test_create_sends_the_run_parameters_and_champion_as_runtime_config(fake, runner):
  run_id = runner.submit(spec(baseline='gs://b/registry/v3/model'))
  (_, path, query, body), = fake.creates()
  assert path == '/v1/projects/p1/locations/us-central1/pipelineJobs'
  assert query['pipelineJobId'] == [run_id]
  params = body['runtimeConfig']['parameters']
  assert params['span_uri'] == {'stringValue': 'gs://b/spans/w/r1-try1'}
  assert params['baseline_model_uri'] == {'stringValue': 'gs://b/registry/v3/model'}
  assert json.loads(params['train_args']['stringValue']) == {'num_steps': 500}
  assert body['runtimeConfig']['gcsOutputDirectory'].endswith(f'root/{run_id}')
  assert body['labels'] == {'tfx_version': '1-16-0', 'dag_id': 'continuous_training',
                            'ct_run': run_id, 'ct_version': '0123456789ab'}


def test_a_2_1_spec_gets_plain_parameter_values(fake, tmp_path):
  runner = VertexPipelineRunner('p1', 'us-central1', str(tmp_path / 'root'),
                                str(compiled_pipeline(tmp_path / 'c21', schema='2.1.0')),
                                api_endpoint=fake.endpoint)
  runner.submit(spec())
  body = fake.creates()[0][3]
  assert body['runtimeConfig']['parameterValues']['span_uri'] == 'gs://b/spans/w/r1-try1'
  assert 'baseline_model_uri' not in body['runtimeConfig']['parameterValues']


def test_get_state_and_cancel(fake, runner):
  run_id = runner.submit(spec())
  assert runner.get_state(run_id).state == 'RUNNING'
  runner.cancel(run_id, 'test')
  assert fake.calls('POST', r':cancel$')
  assert runner.get_state(run_id).state == 'CANCELLED'
  runner.cancel(run_id)  # finished: cancelling again is a no-op, not an error
  assert runner.get_state('ct-never-created').state == 'NOT_FOUND'


def test_a_second_submit_of_the_same_attempt_reattaches(fake, runner):
  runner.submit(spec())
  runner.submit(spec())  # 409 from the server: the job exists; nothing new starts
  assert len(fake.creates()) == 2 and len(fake.jobs) == 1


def test_trigger_rides_out_a_503_and_reports_success(fake, runner):
  run_id = runner.submit(spec())
  fake.fail_next = [503, 429]
  event = first_event(trigger_for(runner, run_id))
  assert event['status'] == 'SUCCEEDED' and event['run_id'] == run_id
  gets = fake.calls('GET', r'/pipelineJobs/')
  assert len(gets) == 4  # 503, 429, RUNNING, SUCCEEDED


def test_trigger_does_not_retry_a_permission_error(fake, runner):
  run_id = runner.submit(spec())
  fake.fail_next = [403]
  event = first_event(trigger_for(runner, run_id))
  assert event['status'] == 'POLL_ERROR' and 'Forbidden' in event['message']
  assert len(fake.calls('GET', r'/pipelineJobs/')) == 1


@pytest.mark.parametrize('state, status, words', [
    ('PIPELINE_STATE_FAILED', 'FAILED', 'infrastructure failure (retried)'),
    ('PIPELINE_STATE_CANCELLED', 'CANCELLED', ''),
    ('PIPELINE_STATE_PAUSED', 'PAUSED', 'paused'),
])
def test_only_succeeded_is_success(fake, runner, state, status, words):
  from ct_platform.operators.pipeline_run import PipelineRunFailed, RunTfxPipelineOperator

  fake.failure = {'error': {'code': 14, 'message': 'The DAG failed because some tasks '
                                                   'failed.'},
                  'tasks': [{'taskName': 'trainer', 'error': {
                      'code': 14, 'message': 'The replica workerpool0-0 was preempted'}}]}
  run_id = runner.submit(spec())
  fake.scripts[run_id] = [state]
  event = first_event(trigger_for(runner, run_id))
  assert event['status'] == status and words in event['message']
  op = RunTfxPipelineOperator(task_id='run_pipeline', span={'uri': 'x'})
  with pytest.raises(PipelineRunFailed, match={'FAILED': 'failed', 'CANCELLED': 'cancelled',
                                               'PAUSED': 'paused, which is not success'}[status]):
    op.execute_complete({'task_state_store': DictStore()}, event)


def test_a_killed_deferred_task_cancels_the_job_and_a_deadline_too(fake, runner):
  run_id = runner.submit(spec())
  trigger = trigger_for(runner, run_id)
  fake.fail_cancel = 1  # a 503 on the first cancel must not leave the job running
  asyncio.run(trigger.on_kill())
  assert [c[1] for c in fake.calls('POST', r':cancel$')] == [
      f'/v1/projects/p1/locations/us-central1/pipelineJobs/{run_id}:cancel'] * 2
  other = runner.submit(spec(run_id='ct-continuous-training-r2-a1-def'))
  event = first_event(trigger_for(runner, other, deadline_minutes=-1))
  assert event['status'] == 'TIMEOUT'
  assert fake.calls('POST', rf'{other}:cancel$')


def test_connection_and_impersonation_reach_the_trigger(runner):
  path, kwargs = trigger_for(runner, 'ct-x').serialize()
  restored = PipelineRunTrigger(**kwargs)
  config = restored.runner_config['kwargs']
  assert config['impersonation_chain'] == CHAIN
  assert config['gcp_conn_id'] == 'google_cloud_default'
  assert config['api_endpoint'] == runner.api_endpoint
  assert restored._runner().config() == runner.config()
  # the way the triggerer stores and reloads it (the provider lost these in #29535, #34727)
  from airflow.serialization.serialized_objects import BaseSerialization
  stored = BaseSerialization.deserialize(BaseSerialization.serialize(kwargs))
  assert PipelineRunTrigger(**stored)._runner().config() == runner.config()


class DictStore(dict):
  def set(self, key, value):
    self[key] = value

  def delete(self, key):
    self.pop(key, None)


class FakeDagRun:
  dag_id, run_id = 'continuous_training', 'manual__2026-11-25T00:00:00+00:00'


def test_a_component_failing_on_its_code_or_data_fails_at_once_naming_it(fake, runner):
  """Vertex reports the job FAILED_PRECONDITION with the Trainer's own error: the same
  span fails the same way, so the task fails now (AirflowFailException: no retry)."""
  from airflow.sdk.exceptions import AirflowFailException

  from ct_platform.operators.pipeline_run import RunTfxPipelineOperator

  run_id = runner.submit(spec())
  fake.scripts[run_id] = ['PIPELINE_STATE_FAILED']
  state = runner.get_state(run_id)
  assert state.state == 'FAILED' and state.retryable is False
  assert state.message == ('component trainer failed: The replica workerpool0-0 exited with '
                           'a non-zero status of 1: ValueError: NaN loss (a retry would fail '
                           'the same way: not retried)')
  event = first_event(trigger_for(runner, run_id))
  assert event['retryable'] is False
  op = RunTfxPipelineOperator(task_id='run_pipeline', span={'uri': 'x'})
  with pytest.raises(AirflowFailException, match='not retried.*component trainer failed'):
    op.execute_complete({'task_state_store': DictStore()}, event)


@pytest.mark.parametrize('job_code, task, retryable', [
    (9, {'code': 14, 'message': 'unavailable'}, True),                 # a task's transient code
    (9, {'code': 9, 'message': 'The VM was preempted (spot)'}, True),  # preemption, said
    (13, None, True),                                                  # INTERNAL, no task
    (8, None, True),                                                   # quota
    (9, None, False),                                                  # tasks failed, no detail
])
def test_infrastructure_failures_are_retried_the_pipelines_own_are_not(
    fake, runner, job_code, task, retryable):
  fake.failure = {'error': {'code': job_code, 'message': 'the job failed'},
                  'tasks': [dict(taskName='transform', error=task)] if task else []}
  run_id = runner.submit(spec())
  fake.scripts[run_id] = ['PIPELINE_STATE_FAILED']
  state = runner.get_state(run_id)
  assert state.retryable is retryable, state.message


def test_operator_retry_reattaches_instead_of_creating_a_second_job(fake, runner, tmp_path):
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY, RunTfxPipelineOperator
  from ct_platform.spans import SpanWriter

  span = SpanWriter(str(tmp_path / 'span')).finish({'rows': 1})
  overrides = {'runner': 'vertex', 'project': 'p1', 'region': 'us-central1',
               'vertex_api_endpoint': fake.endpoint, 'pipeline_root': str(tmp_path / 'root'),
               'pipeline_spec_uri': runner.compiled_pipeline_uri}
  op = RunTfxPipelineOperator(task_id='run_pipeline', span=span, champion={},
                              plan={'train_steps': 7}, settings_overrides=overrides)
  store = DictStore()
  context = {'task_state_store': store, 'dag_run': FakeDagRun()}
  with pytest.raises(TaskDeferred):
    op.execute(context)
  record = store[STATE_KEY]
  assert record['attempt'] == 1 and record['runner'] == 'vertex'
  with pytest.raises(TaskDeferred):  # the worker died; the retry finds the running job
    op.execute(context)
  assert len(fake.creates()) == 1
  # the job failed: the next try is attempt 2, a new job id
  first_run_id = record['run_id']
  fake.jobs[runner.job_name(record['run_id'])]['state'] = 'PIPELINE_STATE_FAILED'
  fake.scripts[record['run_id']] = []
  with pytest.raises(TaskDeferred):
    op.execute(context)
  assert store[STATE_KEY]['attempt'] == 2 and len(fake.creates()) == 2
  assert '-a2-' in store[STATE_KEY]['run_id']
  # execution caching on every task of both attempts (a task run without it leaves no
  # cache entry), so attempt 2 reuses the steps attempt 1 completed on the same span
  first, second = (body['pipelineSpec'] for _, _, _, body in fake.creates())
  assert caching(first) == caching(second) == {'CsvExampleGen': True, 'Trainer': True}
  assert store[STATE_KEY]['resume_from'] == first_run_id


def test_pipeline_retry_rerun_starts_a_retry_over(fake, runner, tmp_path):
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY

  store = DictStore()
  context = {'task_state_store': store, 'dag_run': FakeDagRun()}
  op = _operator(fake, runner, tmp_path, pipeline_retry='rerun')
  with pytest.raises(TaskDeferred):
    op.execute(context)
  fake.jobs[runner.job_name(store[STATE_KEY]['run_id'])]['state'] = 'PIPELINE_STATE_FAILED'
  fake.scripts[store[STATE_KEY]['run_id']] = []
  with pytest.raises(TaskDeferred):
    op.execute(context)
  assert store[STATE_KEY]['attempt'] == 2 and store[STATE_KEY]['resume_from'] == ''
  first, second = (body['pipelineSpec'] for _, _, _, body in fake.creates())
  assert caching(first) == caching(second) == {'CsvExampleGen': False, 'Trainer': False}


def test_an_attempt_recorded_but_never_submitted_passes_its_resume_on(fake, runner, tmp_path):
  # a crash between recording attempt 2 and submitting it: attempt 3 resumes from attempt 1
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY

  store = DictStore()
  store[STATE_KEY] = {'run_id': 'ct-continuous-training-r1-a2-never', 'attempt': 2,
                      'resume_from': 'ct-continuous-training-r1-a1-done', 'fresh': False}
  with pytest.raises(TaskDeferred):
    _operator(fake, runner, tmp_path).execute(
        {'task_state_store': store, 'dag_run': FakeDagRun()})
  assert store[STATE_KEY]['attempt'] == 3
  assert store[STATE_KEY]['resume_from'] == 'ct-continuous-training-r1-a1-done'


def caching(spec):
  """{task: enableCache} over the root DAG and the condition's sub-DAG."""
  tasks = dict(spec['root']['dag']['tasks'])
  tasks.update(spec['components']['comp-condition-1']['dag']['tasks'])
  return {name: task['cachingOptions'].get('enableCache', False) for name, task in tasks.items()}


# --- model registry --------------------------------------------------------------------

def record(run_id, passed=True, **extra):
  return dict({'run_id': run_id, 'airflow_run_id': f'manual__{run_id}', 'git_sha': 'deadbee',
               'metrics': {'overall': {'auc': 0.9}}, 'span': {'uri': 'gs://b/spans/s'},
               'smoke_test': {'passed': passed, 'message': 'ok' if passed else 'NaN output'}},
              **extra)


@pytest.fixture
def registry(fake):
  return VertexModelRegistry('p1', 'us-central1', 'chicago-taxi-tipper',
                             api_endpoint=fake.endpoint, serving_image='img:1')


def candidate(tmp_path, name):
  path = tmp_path / name
  (path / 'Format-Serving').mkdir(parents=True)
  return str(path)


def test_upload_creates_then_adds_versions_and_the_alias_moves(fake, registry, tmp_path):
  assert registry.get_alias() is None
  v1 = registry.register(candidate(tmp_path, 'c1'), record('r1'))
  v2 = registry.register(candidate(tmp_path, 'c2'), record('r2'))
  assert (v1['version'], v2['version']) == (1, 2)
  uploads = [c[3] for c in fake.calls('POST', r'models:upload$')]
  assert uploads[0]['modelId'] == 'chicago-taxi-tipper' and 'parentModel' not in uploads[0]
  assert uploads[1]['parentModel'] == 'projects/p1/locations/us-central1/models/chicago-taxi-tipper'
  assert uploads[1]['model']['artifactUri'] == str(Path(tmp_path / 'c2' / 'Format-Serving'))
  assert uploads[1]['model']['labels']['git_sha'] == 'deadbee'
  assert json.loads(uploads[1]['model']['versionDescription'])['span_uri'] == 'gs://b/spans/s'
  assert json.loads((tmp_path / 'c2' / 'metadata.json').read_text())['run_id'] == 'r2'
  assert registry.get_alias() is None  # uploading never moves the champion
  registry.set_alias(2, 'champion')
  champion = registry.get_alias()
  assert champion['version'] == 2 and champion['run_id'] == 'r2'
  assert champion['model_uri'] == str(tmp_path / 'c2')
  registry.set_alias(1, 'champion')  # rollback
  assert registry.get_alias()['version'] == 1


def test_a_failed_smoke_test_is_never_uploaded(fake, registry, tmp_path):
  with pytest.raises(ValueError, match='smoke test did not pass'):
    registry.register(candidate(tmp_path, 'c1'), record('r1', passed=False))
  assert not fake.calls('POST', r'models:upload$')


def test_a_failed_upload_leaves_the_alias_where_it_was(fake, registry, tmp_path):
  registry.register(candidate(tmp_path, 'c1'), record('r1'))
  registry.set_alias(1, 'champion')
  fake.fail_upload = True
  with pytest.raises(Exception, match='no saved model'):
    registry.register(candidate(tmp_path, 'c2'), record('r2'))
  assert registry.get_alias()['version'] == 1


def test_labels_follow_vertex_rules_in_both_registries(fake, registry, tmp_path):
  from ct_platform.backends.local_registry import LocalModelRegistry

  bad = record('r1', labels={'Team': 'ml'})
  with pytest.raises(ValueError, match="key 'Team'"):
    registry.register(candidate(tmp_path, 'c1'), bad)
  local = LocalModelRegistry(tmp_path / 'registry', 'chicago-taxi-tipper')
  model = Path(candidate(tmp_path, 'c2'))
  (model / 'Format-Serving' / 'saved_model.pb').write_bytes(b'x')
  with pytest.raises(ValueError, match="key 'Team'"):
    local.register(str(model), bad)
  with pytest.raises(ValueError, match="labels.team: 'ML Platform'"):
    validate_labels({'team': 'ML Platform'})
  ok = local.register(str(model), record('Run 1/with spaces'))
  assert ok['labels']['ct_run'] == 'run-1-with-spaces'


def test_cleanup_without_on_kill_leaves_the_job_running(fake, runner):
  """A triggerer restart calls cleanup, not on_kill: the job must go on."""
  run_id = runner.submit(spec())
  asyncio.run(trigger_for(runner, run_id).cleanup())
  assert not fake.calls('POST', r':cancel$')


def test_a_deadline_whose_cancel_fails_still_ends_the_wait(fake, runner):
  run_id = runner.submit(spec())
  fake.fail_cancel = 10
  trigger = trigger_for(runner, run_id, deadline_minutes=-1)

  async def fast_sleep(_):  # the cancel retries' backoff, without the wait
    return None
  import ct_platform.triggers.pipeline_run as module
  real_sleep = module.asyncio.sleep
  module.asyncio.sleep = fast_sleep
  try:
    event = first_event(trigger)
  finally:
    module.asyncio.sleep = real_sleep
  assert event['status'] == 'TIMEOUT' and 'cancelling it FAILED' in event['message']


def _operator(fake, runner, tmp_path, **settings):
  from ct_platform.operators.pipeline_run import RunTfxPipelineOperator
  from ct_platform.spans import SpanWriter

  span = SpanWriter(str(tmp_path / f'span{len(fake.jobs)}')).finish({'rows': 1})
  overrides = {'runner': 'vertex', 'project': 'p1', 'region': 'us-central1',
               'vertex_api_endpoint': fake.endpoint, 'pipeline_root': str(tmp_path / 'root'),
               'pipeline_spec_uri': runner.compiled_pipeline_uri, **settings}
  return RunTfxPipelineOperator(task_id='run_pipeline', span=span, champion={},
                                settings_overrides=overrides)


def test_a_clear_after_success_starts_a_new_job_never_the_old_one(fake, runner, tmp_path):
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY

  store = DictStore()
  context = {'task_state_store': store, 'dag_run': FakeDagRun()}
  op = _operator(fake, runner, tmp_path)
  with pytest.raises(TaskDeferred):
    op.execute(context)
  first = store[STATE_KEY]
  data = Path(__file__).resolve().parents[1] / 'data'
  summary = json.loads((data / 'run_summary_blessed.json').read_text())
  Path(first['summary_uri']).parent.mkdir(parents=True, exist_ok=True)
  Path(first['summary_uri']).write_text(json.dumps(dict(summary, run_id=first['run_id'])))
  result = op.execute_complete(context, {'status': 'SUCCEEDED', 'run_id': first['run_id']})
  assert result['run_id'] == first['run_id'] and store[STATE_KEY]['finished']
  with pytest.raises(TaskDeferred):  # cleared: a new span, a new job
    _operator(fake, runner, tmp_path).execute(context)
  assert store[STATE_KEY]['attempt'] == 2 and len(fake.jobs) == 2
  # a clear after success asks for a new run: nothing is taken from the cache
  first_body, second_body = (body['pipelineSpec'] for _, _, _, body in fake.creates())
  assert caching(first_body) == {'CsvExampleGen': True, 'Trainer': True}
  assert caching(second_body) == {'CsvExampleGen': False, 'Trainer': False}
  assert store[STATE_KEY]['fresh'] is True and store[STATE_KEY]['resume_from'] == ''


def test_a_retry_onto_a_cancelling_job_cancels_it_and_starts_the_next_attempt(fake, runner,
                                                                               tmp_path):
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY

  store = DictStore()
  context = {'task_state_store': store, 'dag_run': FakeDagRun()}
  with pytest.raises(TaskDeferred):
    _operator(fake, runner, tmp_path).execute(context)
  first = store[STATE_KEY]
  fake.jobs[runner.job_name(first['run_id'])]['state'] = 'PIPELINE_STATE_CANCELLING'
  fake.scripts[first['run_id']] = []
  with pytest.raises(TaskDeferred):
    _operator(fake, runner, tmp_path).execute(context)
  assert store[STATE_KEY]['attempt'] == 2
  assert fake.calls('POST', rf'{first["run_id"]}:cancel$')
  assert store[STATE_KEY]['deadline']  # fixed at submit; a reconnect keeps it


def test_a_rerun_of_promote_reuses_the_uploaded_version_and_retries_the_alias(
    fake, registry, tmp_path):
  model = candidate(tmp_path, 'c1')
  v1 = registry.register(model, record('r1'))
  again = registry.register(model, record('r1'))
  assert again['version'] == v1['version'] == 1
  assert len(fake.calls('POST', r'models:upload$')) == 1
  fake.fail_merge = 1
  registry.set_alias(1, 'champion')  # a 503 first, retried
  assert registry.get_alias()['version'] == 1


def test_the_registry_needs_a_serving_image():
  from ct_platform.config import load_settings

  settings = load_settings({'registry': 'vertex', 'project': 'p1'}, use_variable=False)
  with pytest.raises(ValueError, match='serving_image is empty'):
    VertexModelRegistry.from_settings(settings)
  latest = load_settings({'registry': 'vertex', 'project': 'p1', 'serving_image':
                          'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest'},
                         use_variable=False)
  with pytest.raises(ValueError, match='is not pinned'):
    VertexModelRegistry.from_settings(latest)


def test_the_alias_moves_only_from_the_version_the_caller_saw(fake, registry, tmp_path):
  from ct_platform.backends.registry import AliasMoved

  for i in (1, 2, 3):
    registry.register(candidate(tmp_path, f'c{i}'), record(f'r{i}'))
  registry.set_alias(1, 'champion', expected_version=None)
  registry.set_alias(2, 'champion', expected_version=1)
  merges = len(fake.calls('POST', r'mergeVersionAliases$'))
  assert merges == 2
  with pytest.raises(AliasMoved, match='points to version 2 now, not 1'):
    registry.set_alias(3, 'champion', expected_version=1)
  assert len(fake.calls('POST', r'mergeVersionAliases$')) == merges  # no merge sent
  assert registry.get_alias()['version'] == 2


class FakeTI:
  def __init__(self, ti_id):
    self.id = ti_id

  def xcom_push(self, key, value):
    pass


def test_a_new_try_never_reattaches_to_an_old_run_even_without_its_record(fake, runner,
                                                                          tmp_path):
  from airflow.sdk.exceptions import TaskDeferred

  from ct_platform.operators.pipeline_run import STATE_KEY, RunTfxPipelineOperator
  from ct_platform.spans import SpanWriter

  span = SpanWriter(str(tmp_path / 'span')).finish({'rows': 1})
  overrides = {'runner': 'vertex', 'project': 'p1', 'region': 'us-central1',
               'vertex_api_endpoint': fake.endpoint, 'pipeline_root': str(tmp_path / 'root'),
               'pipeline_spec_uri': runner.compiled_pipeline_uri}
  op = RunTfxPipelineOperator(task_id='run_pipeline', span=span, champion={},
                              plan={'train_steps': 7}, settings_overrides=overrides)
  store = DictStore()
  try1 = {'task_state_store': store, 'dag_run': FakeDagRun(), 'ti': FakeTI('0193-try-1')}
  with pytest.raises(TaskDeferred):
    op.execute(try1)
  first = store[STATE_KEY]['run_id']
  with pytest.raises(TaskDeferred):  # the same try again (the record is there): re-attach
    op.execute(try1)
  assert len(fake.creates()) == 1
  store.clear()  # the record is gone (retention, a clear that dropped it)
  try2 = {'task_state_store': store, 'dag_run': FakeDagRun(), 'ti': FakeTI('0193-try-2')}
  with pytest.raises(TaskDeferred):
    op.execute(try2)
  second = store[STATE_KEY]['run_id']
  assert store[STATE_KEY]['attempt'] == 1 and second != first  # attempt 1 again, new id
  assert '-a1-' in second and len(fake.creates()) == 2  # a new job, not the old one

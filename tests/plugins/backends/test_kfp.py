"""The (experimental) open-source KFP backend with the real kfp.Client above a local
server answering in KFP's v2beta1 JSON (tests/fakes/kfp.py)."""

import asyncio
import datetime as dt
import json

import pytest
import yaml
from fakes.kfp import FakeKfp  # noqa: E402

from ct_platform.backends.kfp import KfpPipelineRunner  # noqa: E402
from ct_platform.backends.runner import PipelineRunSpec  # noqa: E402
from ct_platform.triggers.pipeline_run import PipelineRunTrigger  # noqa: E402

RUN_ID = 'ct-continuous-training-r1-a1-abc'


@pytest.fixture
def fake(monkeypatch, tmp_path):
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))  # no developer's kfp context.json
  server = FakeKfp()
  yield server
  server.close()


@pytest.fixture
def runner(fake, tmp_path):
  compiled = tmp_path / 'compiled'
  for variant in ('first_run', 'with_baseline'):
    (compiled / variant).mkdir(parents=True)
    (compiled / variant / 'pipeline.yaml').write_text(yaml.safe_dump(
        {'pipelineInfo': {'name': 'tipper'}, 'schemaVersion': '2.1.0', 'sdkVersion': 'tfx-1.16.0',
         'root': {'dag': {'tasks': {'CsvExampleGen': {'cachingOptions': {}}}}},
         'components': {}, 'deploymentSpec': {}}))
  return KfpPipelineRunner(host=fake.host, compiled_pipeline_uri=str(compiled),
                           pipeline_root='gs://b/root')


def spec(run_id=RUN_ID, baseline=''):
  return PipelineRunSpec(run_id=run_id, span_uri='gs://b/spans/w/r1-try1',
                         summary_uri=f'gs://b/root/{run_id}/run_summary.json',
                         baseline_model_uri=baseline, train_args={'num_steps': 100})


def first_event(runner, run_id, deadline_minutes=5):
  deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=deadline_minutes)
  trigger = PipelineRunTrigger(runner.config(), run_id, deadline.isoformat(), poll_interval=0.01,
                               max_poll_error_seconds=30)

  async def run():
    async for event in trigger.run():
      return event.payload
  return asyncio.run(run())


def test_create_get_cancel_and_the_parameters_the_server_received(fake, runner):
  runner.submit(spec(baseline='gs://b/registry/v2/model'))
  fake.scripts[next(iter(fake.runs))] = ['RUNNING'] * 3  # one state per read
  (_, _, _, body), = fake.creates()
  assert body['display_name'] == RUN_ID
  config = body['runtime_config']
  assert config['pipeline_root'] == f'gs://b/root/{RUN_ID}'
  assert config['parameters']['span_uri'] == 'gs://b/spans/w/r1-try1'
  assert config['parameters']['baseline_model_uri'] == 'gs://b/registry/v2/model'
  assert json.loads(config['parameters']['train_args']) == {'num_steps': 100}
  assert runner.get_state(RUN_ID).state == 'RUNNING'
  runner.cancel(RUN_ID)
  assert [e for e in fake.log if e[1].endswith(':terminate')]
  assert runner.get_state(RUN_ID).state == 'CANCELLED'
  assert runner.get_state('ct-unknown').state == 'NOT_FOUND'


def test_execution_caching_follows_the_spec(fake, runner):
  # on for the attempts of one run (a retry reuses what they completed), off for a new run
  runner.submit(PipelineRunSpec(**dict(vars(spec()), enable_cache=True)))
  runner.submit(spec('ct-continuous-training-r1-a2-abc'))
  first, second = (body['pipeline_spec']['root']['dag']['tasks']['CsvExampleGen']
                   for _, _, _, body in fake.creates())
  assert first['cachingOptions'] == {'enableCache': True}
  assert second['cachingOptions'].get('enableCache', False) is False


def test_a_retried_submit_reattaches_by_name(fake, runner):
  runner.submit(spec())
  runner.submit(spec())
  assert len(fake.creates()) == 1


def test_a_503_while_polling_is_retried(fake, runner):
  runner.submit(spec())
  fake.fail_next = [503]
  assert first_event(runner, RUN_ID)['status'] == 'SUCCEEDED'


@pytest.mark.parametrize('state, status', [('FAILED', 'FAILED'), ('CANCELED', 'CANCELLED'),
                                           ('PAUSED', 'PAUSED'), ('SKIPPED', 'FAILED')])
def test_only_succeeded_is_success(fake, runner, state, status):
  runner.submit(spec())
  run_id = next(iter(fake.runs))
  fake.scripts[run_id] = [state]
  event = first_event(runner, RUN_ID)
  assert event['status'] == status
  if state == 'FAILED':
    assert 'component trainer failed' in event['message'] and event['retryable'] is False


@pytest.mark.parametrize('task_error, retryable', [
    ({'code': 2, 'message': 'ValueError: NaN loss during training'}, False),
    ({'code': 14, 'message': 'pod deleted: node shut down'}, True),
    ({'code': 2, 'message': 'The node was low on resource; pod evicted'}, True),
])
def test_a_failed_run_is_retried_only_for_the_platforms_failures(fake, runner, task_error,
                                                                 retryable):
  fake.failed_tasks = [{'display_name': 'trainer', 'error': task_error}]
  runner.submit(spec())
  run_id = next(iter(fake.runs))
  fake.scripts[run_id] = ['FAILED']
  state = runner.get_state(RUN_ID)
  assert state.state == 'FAILED' and state.retryable is retryable
  assert f'component trainer failed: {task_error["message"]}' in state.message


def test_a_killed_deferred_task_terminates_the_run(fake, runner):
  runner.submit(spec())
  deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat()
  asyncio.run(PipelineRunTrigger(runner.config(), RUN_ID, deadline).on_kill())
  assert [e for e in fake.log if e[1].endswith(':terminate')]


def test_a_paused_run_is_terminated_before_the_next_attempt(fake, runner):
  runner.submit(spec())
  run_id = next(iter(fake.runs))
  fake.scripts[run_id] = ['PAUSED', 'PAUSED']
  assert runner.get_state(RUN_ID).state == 'PAUSED'
  runner.cancel(RUN_ID, 'superseded by attempt 2')  # what the operator does for PAUSED
  assert [e for e in fake.log if e[1] == f'/apis/v2beta1/runs/{run_id}:terminate']


def test_every_kfp_call_is_bounded_in_time(fake, runner, monkeypatch):
  from ct_platform.backends import kfp as kfp_backend

  runner.submit(spec())
  monkeypatch.setattr(kfp_backend, 'REQUEST_TIMEOUT_SECONDS', 1)
  fake.hang_seconds = 3  # past the 1 s bound: without it the call would wait it out
  with pytest.raises(Exception,
                     match=r'ReadTimeoutError.*Read timed out\. \(read timeout=0\.9'):
    runner.get_state(RUN_ID)
  fake.hang_seconds = 0

"""PipelineRunTrigger: serializes, polls asynchronously, yields one event; on_kill
cancels only when the task really left deferred; its deadline cancels the run."""

import asyncio
import datetime as dt
import json
import time

import pytest
from fakes.local_runs import make_runner, spec, wait_for

from ct_platform.backends.local_pipeline import LocalPipelineRunner
from ct_platform.triggers.pipeline_run import PipelineRunTrigger


@pytest.fixture
def runner(tmp_path, monkeypatch):
  return make_runner(tmp_path, monkeypatch)


def _trigger(runner, run_id, seconds=600):
  deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()
  return PipelineRunTrigger(runner.config(), run_id, deadline, poll_interval=0.2)


async def _first_event(trigger):
  async for event in trigger.run():
    return event.payload


def test_trigger_serializes_and_yields_success(runner):
  s = spec(runner)
  runner.submit(s)
  trigger = _trigger(runner, s.run_id)
  path, kwargs = trigger.serialize()
  assert path == 'ct_platform.triggers.pipeline_run.PipelineRunTrigger'
  rebuilt = PipelineRunTrigger(**json.loads(json.dumps(kwargs)))
  event = asyncio.run(_first_event(rebuilt))
  assert event['status'] == 'SUCCEEDED' and event['run_id'] == s.run_id


def test_trigger_on_kill_cancels_but_cleanup_does_not(runner, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  killed, restarted = spec(runner, 'ct-killed-a1-0'), spec(runner, 'ct-restart-a1-0')
  runner.submit(killed)
  runner.submit(restarted)
  wait_for(runner, killed.run_id, {'RUNNING'})
  wait_for(runner, restarted.run_id, {'RUNNING'})

  async def scenario(run_id, user_action):
    trigger = _trigger(runner, run_id)
    task = asyncio.ensure_future(_first_event(trigger))
    await asyncio.sleep(0.5)
    task.cancel()  # what the triggerer does in both cases
    try:
      await task
    except asyncio.CancelledError:
      pass
    if user_action:
      await trigger.on_kill()
    await trigger.cleanup()

  asyncio.run(scenario(killed.run_id, user_action=True))
  asyncio.run(scenario(restarted.run_id, user_action=False))
  assert wait_for(runner, killed.run_id, {'CANCELLED'}).state == 'CANCELLED'
  time.sleep(1)
  assert runner.get_state(restarted.run_id).state == 'RUNNING'  # a triggerer restart
  runner.cancel(restarted.run_id)


class _TaskInstance:  # what the triggerer sets on a trigger: which task it serves
  dag_id, run_id, task_id, map_index = 'continuous_training', 'manual__1', 'run_pipeline', -1


@pytest.mark.parametrize('task_state,cancelled', [
    ('deferred', False),   # the trigger moved to another triggerer (apache/airflow#73454)
    ('failed', True),      # a user marked the task failed
    ('success', True),     # ... or success
    (None, True),          # cleared (or the state could not be read)
])
def test_on_kill_cancels_only_when_the_task_left_deferred(runner, monkeypatch, task_state,
                                                          cancelled):
  from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

  asked = []

  def get_task_states(**kwargs):
    asked.append(kwargs)
    return {'manual__1': {'run_pipeline': task_state}} if task_state else {}

  monkeypatch.setattr(RuntimeTaskInstance, 'get_task_states', staticmethod(get_task_states))
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  s = spec(runner, f'ct-kill-{task_state}-a1-0')
  runner.submit(s)
  wait_for(runner, s.run_id, {'RUNNING'})
  trigger = _trigger(runner, s.run_id)
  trigger.task_instance = _TaskInstance()
  asyncio.run(trigger.on_kill())
  assert asked == [{'dag_id': 'continuous_training', 'task_ids': ['run_pipeline'],
                    'run_ids': ['manual__1'], 'map_index': -1}]
  if cancelled:
    assert wait_for(runner, s.run_id, {'CANCELLED'}).state == 'CANCELLED'
  else:
    time.sleep(1)
    assert runner.get_state(s.run_id).state == 'RUNNING'
    runner.cancel(s.run_id)


def test_on_kill_finishes_when_the_triggerer_cancels_it_again(runner, monkeypatch):
  # the triggerer re-cancels a trigger's task on each sync while on_kill still runs; a
  # slow state read (a loaded machine) must not leave the pipeline running
  from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

  def slow_state(**kwargs):
    time.sleep(1.5)
    return {'manual__1': {'run_pipeline': 'failed'}}

  monkeypatch.setattr(RuntimeTaskInstance, 'get_task_states', staticmethod(slow_state))
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  s = spec(runner, 'ct-kill-again-a1-0')
  runner.submit(s)
  wait_for(runner, s.run_id, {'RUNNING'})
  trigger = _trigger(runner, s.run_id)
  trigger.task_instance = _TaskInstance()

  async def killed_twice():
    kill = asyncio.ensure_future(trigger.on_kill())
    await asyncio.sleep(0.3)
    kill.cancel()  # the triggerer's second cancel
    with pytest.raises(asyncio.CancelledError):
      await kill
    await asyncio.wait_for(trigger._kill_work, 30)  # the loop keeps running it
  asyncio.run(killed_twice())
  assert wait_for(runner, s.run_id, {'CANCELLED'}).state == 'CANCELLED'


def test_trigger_deadline_cancels_the_run(runner, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  s = spec(runner)
  runner.submit(s)
  wait_for(runner, s.run_id, {'RUNNING'})
  event = asyncio.run(_first_event(_trigger(runner, s.run_id, seconds=1)))
  assert event['status'] == 'TIMEOUT' and 'cancelled' in event['message']
  assert wait_for(runner, s.run_id, {'CANCELLED'}).state == 'CANCELLED'


def test_trigger_retries_transient_poll_errors(runner, monkeypatch):
  s = spec(runner)
  runner.submit(s)
  calls = {'n': 0}
  real = LocalPipelineRunner.get_state

  def flaky(self, run_id):
    calls['n'] += 1
    if calls['n'] <= 2:
      raise OSError('503 from the backend')
    return real(self, run_id)

  monkeypatch.setattr(LocalPipelineRunner, 'get_state', flaky)
  event = asyncio.run(_first_event(_trigger(runner, s.run_id)))
  assert event['status'] == 'SUCCEEDED' and calls['n'] > 2

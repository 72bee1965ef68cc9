"""The local backend and its trigger, with a stand-in pipeline process (seconds)."""

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ct_platform.backends import runner_from_config
from ct_platform.backends.local_pipeline import LocalPipelineRunner
from ct_platform.backends.runner import PipelineRunSpec
from ct_platform.triggers.pipeline_run import PipelineRunTrigger

FAKE = Path(__file__).resolve().parents[2] / 'fakes' / 'pipeline.py'


@pytest.fixture
def runner(tmp_path, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_COUNTER', str(tmp_path / 'starts.txt'))
  monkeypatch.setenv('FAKE_PIPELINE_SECONDS', '0.5')
  return LocalPipelineRunner(runs_root=str(tmp_path / 'runs'), python=sys.executable,
                             pipeline_source=str(tmp_path), command=[sys.executable, str(FAKE)],
                             heartbeat_stale_seconds=4)


def spec(runner, run_id='ct-test-a1-0000', tmp=None):
  return PipelineRunSpec(run_id=run_id, span_uri='/spans/x', summary_uri=runner.summary_uri(run_id))


def wait_for(runner, run_id, states, timeout=30):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    state = runner.get_state(run_id)
    if state.state in states:
      return state
    time.sleep(0.2)
  raise AssertionError(f'{run_id} never reached {states}: {runner.get_state(run_id)}')


def starts(tmp_path):
  path = tmp_path / 'starts.txt'
  return path.read_text().splitlines() if path.exists() else []


def test_success_and_resubmit_is_idempotent(runner, tmp_path):
  s = spec(runner)
  runner.submit(s)
  runner.submit(s)  # a retry racing a crash: reconnects, starts nothing
  state = wait_for(runner, s.run_id, {'SUCCEEDED', 'FAILED'})
  assert state.succeeded, state
  assert json.loads(Path(s.summary_uri).read_text())['run_id'] == s.run_id
  assert len(starts(tmp_path)) == 1


def test_failure_carries_the_log_tail(runner, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'fail')
  s = spec(runner)
  runner.submit(s)
  state = wait_for(runner, s.run_id, {'SUCCEEDED', 'FAILED'})
  assert state.state == 'FAILED' and 'exited with code 3' in state.message
  assert 'the fake pipeline failed on purpose' in state.log_tail
  # an error of the pipeline itself: a retry would fail the same way
  assert state.retryable is False and 'a retry would fail the same way' in state.message


def test_a_pipeline_killed_by_a_signal_is_worth_a_retry(runner, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'crash-first-attempt')  # SIGKILLs itself (OOM)
  s = spec(runner)
  runner.submit(s)
  state = wait_for(runner, s.run_id, {'SUCCEEDED', 'FAILED'})
  assert state.state == 'FAILED' and 'exited with code -9' in state.message
  assert state.retryable is True


def test_cancel_stops_the_pipeline(runner, monkeypatch, tmp_path):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  s = spec(runner)
  runner.submit(s)
  wait_for(runner, s.run_id, {'RUNNING'})
  runner.cancel(s.run_id, 'a user cancelled it')
  state = wait_for(runner, s.run_id, {'CANCELLED'})
  assert state.message == 'a user cancelled it'
  pid = int(starts(tmp_path)[0].split()[1])
  time.sleep(0.5)
  with pytest.raises(ProcessLookupError):
    os.kill(pid, 0)


def test_a_killed_run_is_lost_with_a_clear_message(runner, monkeypatch):
  monkeypatch.setenv('FAKE_PIPELINE_MODE', 'hang')
  s = spec(runner)
  runner.submit(s)
  wait_for(runner, s.run_id, {'RUNNING'})
  # kill -9 the supervisor and the pipeline (a machine or container dying)
  out = subprocess.run(['pgrep', '-f', str(runner.run_dir(s.run_id))], capture_output=True,
                       text=True).stdout.split()
  assert out
  for pid in out:
    os.kill(int(pid), signal.SIGKILL)
  state = wait_for(runner, s.run_id, {'LOST'}, timeout=20)
  assert 'stopped without a verdict' in state.message and 'no heartbeat' in state.message
  # recorded in its folder (state.json said RUNNING), once
  assert runner.mark_lost(s.run_id, state.message) is True
  recorded = json.loads((runner.run_dir(s.run_id) / 'state.json').read_text())
  assert recorded['state'] == 'LOST' and recorded['previous_state'] == 'RUNNING'
  assert (runner.run_dir(s.run_id) / 'cancel').exists()  # a supervisor that comes back stops
  assert runner.mark_lost(s.run_id, state.message) is False
  assert runner.get_state(s.run_id).state == 'LOST'


def test_unknown_run_is_not_found(runner):
  assert runner.get_state('ct-nope-a1-0').state == 'NOT_FOUND'


def test_runner_config_round_trips(runner):
  again = runner_from_config(json.loads(json.dumps(runner.config())))
  assert again.config() == runner.config()


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

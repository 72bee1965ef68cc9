"""The local backend (LocalPipelineRunner), with a stand-in pipeline process (seconds);
the trigger that polls it: tests/plugins/triggers/test_pipeline_run.py."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fakes.local_runs import make_runner, spec, starts, wait_for

from ct_platform.backends import runner_from_config


@pytest.fixture
def runner(tmp_path, monkeypatch):
  return make_runner(tmp_path, monkeypatch)


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

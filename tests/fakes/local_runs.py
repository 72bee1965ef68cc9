"""A LocalPipelineRunner on the stand-in pipeline (tests/fakes/pipeline.py), for the
tests of the local backend and of the trigger that polls it."""

import sys
import time
from pathlib import Path

from ct_platform.backends.local_pipeline import LocalPipelineRunner
from ct_platform.backends.runner import PipelineRunSpec

FAKE = Path(__file__).resolve().parent / 'pipeline.py'


def make_runner(tmp_path, monkeypatch):
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

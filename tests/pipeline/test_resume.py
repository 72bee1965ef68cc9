"""A retried attempt resumes from the failed one's completed steps (runners/resume.py)."""

import json
import shutil
import signal
import sqlite3
import time

import pytest
from conftest import Run, start_run

from ct_pipeline import contracts
from ct_pipeline.runners import resume


def node_states(metadata_path, first_id=0):
  """{component id: MLMD state name} of the executions from first_id on."""
  from ml_metadata.proto import metadata_store_pb2

  names = {v.number: k for k, v in
           metadata_store_pb2.Execution.State.DESCRIPTOR.values_by_name.items()}
  con = sqlite3.connect(metadata_path)
  try:
    rows = con.execute(
        "SELECT c.name, e.last_known_state FROM Execution e JOIN Association a "
        "ON a.execution_id = e.id JOIN Context c ON c.id = a.context_id JOIN Type t "
        "ON t.id = c.type_id WHERE t.name = 'node' AND e.id >= ? ORDER BY e.id",
        (first_id,)).fetchall()
  finally:
    con.close()
  return {name.split('.', 1)[-1]: names[state] for name, state in rows}


def last_execution_id(metadata_path):
  con = sqlite3.connect(metadata_path)
  try:
    return con.execute('SELECT MAX(id) FROM Execution').fetchone()[0]
  finally:
    con.close()


def wait_for_step(log_path, step, proc, timeout=900):
  # the runner's log, not its MLMD: a reader polling SQLite could lock out TFX's writes
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      pytest.fail(f'the run ended (exit {proc.returncode}) before {step} completed')
    if f'Component {step} is finished.' in log_path.read_text(errors='replace'):
      return
    time.sleep(0.5)
  pytest.fail(f'{step} did not complete within {timeout} s')


@pytest.fixture(scope='module')
def killed_and_resumed(good_span, runs_dir):
  """Attempt 1 is killed (SIGKILL: the OOM killer, a node drain) once Transform has
  completed; attempt 2, as the DAG's retry starts it, resumes from attempt 1's folder."""
  first = runs_dir / 'killed-attempt-1'
  proc = start_run(good_span, first)
  wait_for_step(first / 'runner.log', 'Transform', proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  second = runs_dir / 'killed-attempt-2'
  return first, Run(second, start_run(good_span, second, '--resume-from', str(first))).wait()


def test_a_retry_after_a_killed_attempt_resumes_after_its_last_completed_step(
    killed_and_resumed):
  first, resumed = killed_and_resumed
  before = node_states(first / 'metadata.sqlite')
  assert before['Transform'] == 'COMPLETE' and 'run_summary' not in before, before
  record = json.loads((resumed.out / resume.RESUME_RECORD).read_text())
  assert record['resumed'] is True and record['from'] == str(first)
  states = node_states(resumed.out / 'metadata.sqlite',
                       first_id=1 + last_execution_id(first / 'metadata.sqlite'))
  for step in ('CsvExampleGen', 'StatisticsGen', 'ExampleValidator', 'Transform'):
    assert states[step] == 'CACHED', states
  for step in ('Trainer', 'Evaluator', 'run_summary'):
    assert states[step] == 'COMPLETE', states
  assert record['reused_steps'] == [s for s, v in states.items() if v == 'CACHED']
  # the model is this attempt's, trained on the examples attempt 1 transformed
  summary = resumed.summary
  assert summary['status'] == 'completed' and summary['run_id'] == 'test-killed-attempt-2'
  assert summary['candidate_model_uri'].startswith(str(resumed.pipeline_root))
  assert not (resumed.pipeline_root / 'Transform').exists()
  assert (first / 'pipeline_root' / 'Transform').is_dir()
  # attempt 1's MLMD is read, never written
  assert node_states(first / 'metadata.sqlite') == before


def fingerprint():
  return resume.code_fingerprint(contracts.contracts_dir(), '')


def test_an_attempt_with_other_code_is_not_resumed_from(first_run, tmp_path):
  previous = tmp_path / 'attempt-1'
  previous.mkdir()
  shutil.copy(first_run.out / 'metadata.sqlite', previous / 'metadata.sqlite')
  (previous / resume.CODE_FINGERPRINT).write_text('0' * 64 + '\n')
  out = tmp_path / 'attempt-2'
  out.mkdir()
  plan = resume.prepare(str(previous), str(out), str(out / 'metadata.sqlite'),
                        fingerprint())
  assert not plan.enabled and 'changed since attempt-1 ran' in plan.reason
  assert not (out / 'metadata.sqlite').exists()
  # the same code: resumed, from a copy of its MLMD
  (previous / resume.CODE_FINGERPRINT).write_text(fingerprint() + '\n')
  plan = resume.prepare(str(previous), str(out), str(out / 'metadata.sqlite'),
                        fingerprint())
  assert plan.enabled and (out / 'metadata.sqlite').is_file()
  assert plan.first_new_execution_id == 1 + last_execution_id(previous / 'metadata.sqlite')


def test_an_attempt_that_never_started_a_step_is_not_resumed_from(tmp_path):
  (tmp_path / 'attempt-1').mkdir()
  plan = resume.prepare(str(tmp_path / 'attempt-1'), str(tmp_path / 'attempt-2'),
                        str(tmp_path / 'attempt-2' / 'metadata.sqlite'), fingerprint())
  assert not plan.enabled and 'has no metadata.sqlite' in plan.reason


def test_the_fingerprint_follows_the_code(tmp_path):
  contracts_copy = tmp_path / 'contracts'
  shutil.copytree(contracts.contracts_dir(), contracts_copy)
  before = resume.code_fingerprint(contracts_copy, '')
  assert before == resume.code_fingerprint(contracts_copy, '')
  policy = contracts_copy / 'promotion_policy.yaml'
  policy.write_text(policy.read_text() + '\n# changed\n')
  assert resume.code_fingerprint(contracts_copy, '') != before

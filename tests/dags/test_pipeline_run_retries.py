"""Crash safety of RunTfxPipelineOperator under `airflow dags test` (which runs retries
and keeps task_state_store across them), with the real local runner and a stand-in
pipeline process."""

import json
import os
import signal
import sqlite3
import subprocess
import time

from dag_runs import task_states


def starts(fake_pipeline_env):
  path = fake_pipeline_env['FAKE_PIPELINE_COUNTER']
  return open(path).read().splitlines() if os.path.exists(path) else []


def state_store_rows(env):
  con = sqlite3.connect(env.home / 'airflow.db')
  try:
    return con.execute("SELECT key, value FROM task_state_store WHERE task_id = "
                       "'run_pipeline'").fetchall()
  finally:
    con.close()


def test_a_retry_reconnects_to_the_running_pipeline(fixture_airflow_env, local_dir,
                                                    fake_pipeline_env):
  env = dict(fake_pipeline_env, FAKE_PIPELINE_SECONDS='8')
  rc, log = fixture_airflow_env.run('ct_crash_after_submit', local_dir, **env)
  assert rc == 0, log[-4000:]
  assert 'simulated worker crash right after submitting' in log
  assert 'reconnecting to the running pipeline run' in log
  assert len(starts(env)) == 1  # one pipeline process, not two
  assert len(list((local_dir / 'pipeline_runs').iterdir())) == 1
  assert task_states(fixture_airflow_env, local_dir, 'ct_crash_after_submit',
                     log)['run_pipeline'] == 'success'
  # kept on success, marked finished: a clear of the task starts attempt 2, not this run
  (key, value), = state_store_rows(fixture_airflow_env)
  assert key == 'ct_pipeline_run' and '"finished": true' in value.replace("'", '"').replace(
      'True', 'true')


def test_a_retry_after_the_run_succeeded_returns_at_once(fixture_airflow_env, local_dir,
                                                         fake_pipeline_env):
  env = dict(fake_pipeline_env, FAKE_PIPELINE_SECONDS='0', CRASH_AFTER_RUN_FINISHED='1')
  rc, log = fixture_airflow_env.run('ct_crash_after_submit', local_dir, **env)
  assert rc == 0, log[-4000:]
  assert 'is SUCCEEDED' in log and 'reconnecting' not in log  # no second wait
  assert len(starts(env)) == 1  # no second submit


def test_a_retry_after_a_killed_pipeline_starts_attempt_2(fixture_airflow_env, local_dir,
                                                          fake_pipeline_env):
  # an infrastructure failure (the pipeline process killed by a signal): retried
  env = dict(fake_pipeline_env, FAKE_PIPELINE_MODE='crash-first-attempt')
  rc, log = fixture_airflow_env.run('ct_retry_after_failed_run', local_dir, **env)
  assert rc == 0, log[-4000:]
  runs = [line.split()[0] for line in starts(env)]
  assert len(runs) == 2 and '-a1-' in runs[0] and '-a2-' in runs[1]
  assert 'the pipeline run failed' in log and 'exited with code -9' in log
  assert 'starting attempt 2' in log
  # attempt 2 resumes from attempt 1's completed steps (its run folder)
  resumed_from = [line.split()[2] for line in starts(env)]
  assert resumed_from == ['-', str(local_dir / 'pipeline_runs' / runs[0])]
  assert f'attempt 2 resumes from the completed steps of {runs[0]}' in log


def test_a_pipeline_failing_on_its_code_or_data_is_not_retried(fixture_airflow_env,
                                                               local_dir, fake_pipeline_env):
  # the same DAG (retries=1): a failure of the pipeline itself fails the task at once
  env = dict(fake_pipeline_env, FAKE_PIPELINE_MODE='fail')
  rc, log = fixture_airflow_env.run('ct_retry_after_failed_run', local_dir, **env)
  assert rc != 0
  assert len(starts(env)) == 1  # one pipeline start, not two
  assert 'the pipeline run failed and is not retried' in log
  assert 'a retry would fail the same way' in log and 'fake pipeline failed on purpose' in log
  states = task_states(fixture_airflow_env, local_dir, 'ct_retry_after_failed_run', log)
  assert states['run_pipeline'] == 'failed'


def test_a_killed_pipeline_process_fails_the_await_clearly(fixture_airflow_env, local_dir,
                                                          fake_pipeline_env):
  env = dict(fake_pipeline_env, FAKE_PIPELINE_MODE='hang', CT_HEARTBEAT_STALE_SECONDS='4')
  proc = fixture_airflow_env.start('ct_no_retry', local_dir, **env)
  deadline = time.monotonic() + 120
  while not starts(env) and time.monotonic() < deadline:
    time.sleep(0.5)
  assert starts(env), 'the pipeline never started'
  runs_dir = local_dir / 'pipeline_runs'
  run_dir = next(runs_dir.iterdir())
  pids = subprocess.run(['pgrep', '-f', str(run_dir)], capture_output=True,
                        text=True).stdout.split()
  for pid in pids:  # the supervisor and the pipeline die (a node going away)
    os.kill(int(pid), signal.SIGKILL)
  proc.wait(timeout=120)
  log = (local_dir / 'dags-test-ct_no_retry.log').read_text()
  assert proc.returncode != 0
  assert 'the pipeline process died without a verdict' in log
  assert 'no heartbeat for' in log and 'fake pipeline' in log  # message + log tail
  # the lost attempt is written down in its run folder and said
  state = json.loads((run_dir / 'state.json').read_text())
  assert state['state'] == 'LOST' and state['previous_state'] == 'RUNNING'
  events = [json.loads(line) for line in (local_dir / 'notifications.jsonl').read_text()
            .splitlines()]
  lost = [e for e in events if e['event'] == 'pipeline_attempt_lost']
  assert len(lost) == 1 and 'was lost: the pipeline process stopped without a verdict' in (
      lost[0]['message'])

"""continuous_training under a real Airflow: scheduler, triggerer, dag-processor and
api-server as their own processes, driven through the REST API as users' workflows do.

The tests share one Airflow (conftest.cluster) and run in file order: the registry's
history (first champion, then candidates judged against it) is part of what they check.
The stand-in pipeline (tests/fakes/pipeline.py) runs everywhere but in one case, which
runs the real TFX pipeline on a small window.
"""

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import fake_pipeline_command, notifications
from harness import REPO

DAG = 'continuous_training'
CONSUMER = 'ct_e2e_champion_consumer'
OUTPUT = REPO / 'build' / 'test-output' / 'airflow_e2e'
ALIAS = ('registry', 'chicago-taxi-tipper', 'aliases', 'champion.json')


def champion(cluster) -> dict | None:
  path = cluster.local_dir.joinpath(*ALIAS)
  return json.loads(path.read_text()) if path.exists() else None


def model_dir(cluster, version: int) -> Path:
  return cluster.local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / str(version) / (
      'model')


def registry_files(cluster) -> dict:
  root = cluster.local_dir / 'registry'
  return {p: p.read_bytes() for p in root.rglob('*') if p.is_file()} if root.exists() else {}


def settings(api, **values):
  """The ct_settings Variable, as an operator sets it in the UI or through the API."""
  values.setdefault('local_pipeline_command', fake_pipeline_command())
  values.setdefault('rollout', 'none')  # the champion moves at promotion (no canary here)
  values.setdefault('poll_interval_seconds', 0.5)
  api.set_variable('ct_settings', values)


def events_since(cluster, count_before) -> list[str]:
  return [n['event'] for n in notifications(cluster.local_dir)[count_before:]]


_runs = itertools.count(1)


def logical(day='2017-01-01') -> str:
  """A logical date on that day, unique per run (Airflow keeps one run per date)."""
  n = next(_runs)
  return f'{day}T00:{n // 60:02d}:{n % 60:02d}Z'


def run_to_end(api, conf=None, logical_date=None, timeout=300):
  run = api.trigger(DAG, conf=conf, logical_date=logical_date or logical())
  done = api.wait_run(DAG, run['dag_run_id'], timeout=timeout)
  return done, api.task_states(DAG, run['dag_run_id'])


NOTHING_TO_DO = {'evaluate_drift', 'retrain_needed', 'run_pipeline', 'promotion_gate',
                 'choose_path', 'request_approval', 'promote', 'nominate_challenger', 'end'}


def test_the_dag_processor_parses_every_dag_without_errors(api):
  """Prints each file's parse time as the dag-processor measured it (no timed assertion:
  bench/bench_parse.py is where speed is measured; test_dag_integrity checks that no
  Google or provider asset module is loaded by a parse)."""
  dags = api.wait_dags([DAG])
  figures = {}
  for dag_id in (DAG, 'rollback_model', 'ct_e2e_upstream_elt', 'ct_e2e_champion_consumer'):
    detail = api.get(f'/dags/{dag_id}/details')
    assert detail['fileloc'].endswith(f'{dag_id}.py')
    assert dags[dag_id]['last_parse_duration'] is not None, dags[dag_id]
    figures[dag_id] = dags[dag_id]['last_parse_duration']
    print(f'dag-processor last_parse_duration {dag_id}: {figures[dag_id]:.3f} s')
  OUTPUT.mkdir(parents=True, exist_ok=True)
  (OUTPUT / 'parse_durations.json').write_text(json.dumps(figures, indent=1))
  assert api.get('/importErrors')['total_entries'] == 0


def test_unpausing_runs_the_latest_tick_and_an_empty_window_fails_no_task(cluster, api):
  settings(api)
  before = len(notifications(cluster.local_dir))
  api.set_paused(DAG, False)
  api.set_paused('ct_e2e_champion_consumer', False)
  deadline = time.monotonic() + 60
  while not (runs := api.runs(DAG)) and time.monotonic() < deadline:
    time.sleep(1)
  assert runs, 'the scheduler created no run after unpausing'
  run = runs[0]
  assert run['run_type'] == 'scheduled'
  done = api.wait_run(DAG, run['dag_run_id'])
  states = api.task_states(DAG, run['dag_run_id'])
  assert done['state'] == 'success', states
  assert {t for t, s in states.items() if s == 'failed'} == set()
  assert states['plan_run'] == states['extract_span'] == 'success'
  assert states['window_has_rows'] == 'success'
  assert {t: states[t] for t in NOTHING_TO_DO} == {t: 'skipped' for t in NOTHING_TO_DO}
  assert states['prune_old_spans'] == states['summarize'] == 'success'
  assert events_since(cluster, before) == ['window_empty']
  plan = api.xcom(DAG, run['dag_run_id'], 'plan_run')
  assert plan['window']['end'] == run['logical_date'][:10]


def pipeline_runs(cluster) -> list:
  root = cluster.local_dir / 'pipeline_runs'
  return sorted(root.iterdir(), key=lambda p: p.stat().st_mtime) if root.exists() else []


def run_state(run_dir) -> dict:
  return json.loads((run_dir / 'state.json').read_text())


def assert_no_task_failed(states):
  assert {t: s for t, s in states.items() if s not in ('success', 'skipped')} == {}, states


def test_the_real_tfx_pipeline_promotes_the_first_champion(cluster, api):
  settings(api, local_pipeline_command=[], poll_interval_seconds=2)
  done, states = run_to_end(api, {'window_end': '2016-01-01', 'window_days': 120,
                                  'train_steps': 50}, timeout=900)
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['run_pipeline'] == states['promote'] == 'success'
  assert states['request_approval'] == states['end'] == 'skipped'
  pointer = champion(cluster)
  assert pointer['version'] == 1
  run_dir = pipeline_runs(cluster)[-1]
  summary = json.loads((run_dir / 'run_summary.json').read_text())
  assert summary['blessing']['blessed'] and summary['smoke_test']['passed']
  assert summary['pipeline']['variant'] == 'first_run'
  meta = json.loads((cluster.local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / '1'
                     / 'metadata.json').read_text())
  assert meta['git_sha'] == 'e2e-test'  # the code version, not 'dev'
  assert (cluster.local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / '1' / 'model'
          / 'Format-Serving' / 'saved_model.pb').stat().st_size > 1000


def test_a_rest_run_with_default_conf_is_judged_against_the_champion_and_promotes(cluster,
                                                                                  api):
  settings(api)
  first = champion(cluster)
  before = len(notifications(cluster.local_dir))
  # default conf: the window is the configured default (1470 days) before the logical date
  done, states = run_to_end(api, {})
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['promote'] == 'success' and states['request_approval'] == 'skipped'
  request = json.loads((pipeline_runs(cluster)[-1] / 'request.json').read_text())
  assert request['spec']['baseline_model_uri'] == str(model_dir(cluster, first['version']))
  assert champion(cluster)['version'] == first['version'] + 1
  assert events_since(cluster, before) == ['champion_promoted']
  plan = api.xcom(DAG, done['dag_run_id'], 'plan_run')
  assert (plan['window']['start'], plan['window']['end']) == ('2012-12-23', '2017-01-01')
  assert plan['window']['source'] == 'logical_date'


def test_a_rejected_candidate_fails_no_task_and_leaves_the_registry(cluster, api):
  settings(api, local_pipeline_command=fake_pipeline_command('reject'))
  before_files = registry_files(cluster)
  before = len(notifications(cluster.local_dir))
  done, states = run_to_end(api, {'force_retrain': True})
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['promotion_gate'] == states['choose_path'] == states['end'] == 'success'
  assert states['promote'] == states['request_approval'] == 'skipped'
  assert registry_files(cluster) == before_files
  assert events_since(cluster, before) == ['candidate_rejected']


def test_no_drift_ends_before_training_with_no_failed_task(cluster, api):
  settings(api)
  runs_before = pipeline_runs(cluster)
  before = len(notifications(cluster.local_dir))
  done, states = run_to_end(api, {})  # the champion's own window again: nothing drifted
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['evaluate_drift'] == states['retrain_needed'] == 'success'
  skipped = NOTHING_TO_DO - {'evaluate_drift', 'retrain_needed'}
  assert {t: states[t] for t in skipped} == {t: 'skipped' for t in skipped}
  assert pipeline_runs(cluster) == runs_before
  assert events_since(cluster, before) == ['no_retrain']


def test_a_dry_run_trains_and_gates_but_never_promotes(cluster, api):
  settings(api)
  before_files = registry_files(cluster)
  done, states = run_to_end(api, {'force_retrain': True, 'dry_run': True})
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['run_pipeline'] == states['promotion_gate'] == states['end'] == 'success'
  assert states['promote'] == states['request_approval'] == 'skipped'
  assert registry_files(cluster) == before_files


def _manual_run(cluster, api, timeout_hours=1.0):
  settings(api, approval_timeout_hours=timeout_hours)
  run = api.trigger(DAG, conf={'force_retrain': True, 'promotion_mode': 'manual'},
                    logical_date=logical())
  ti = api.wait_task(DAG, run['dag_run_id'], 'request_approval', 'awaiting_input')
  assert ti['state'] == 'awaiting_input'
  cluster.wait_parked(DAG, run['dag_run_id'], 'request_approval')  # as a person would
  return run['dag_run_id']


@pytest.mark.parametrize('choice', ['Approve', 'Reject'])
def test_manual_mode_answered_through_the_hitl_rest_endpoint(cluster, api, choice):
  before_files, before = registry_files(cluster), champion(cluster)
  run_id = _manual_run(cluster, api)
  detail = api.get(f'/dags/{DAG}/dagRuns/{run_id}/taskInstances/request_approval/-1/'
                   f'hitlDetails')
  assert detail['options'] == ['Approve', 'Reject'] and 'passed the promotion gate' in (
      detail['body'])
  answer = api.hitl_respond(DAG, run_id, 'request_approval', choice)
  assert answer['chosen_options'] == [choice]
  done = api.wait_run(DAG, run_id)
  states = api.task_states(DAG, run_id)
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['request_approval'] == 'success'
  if choice == 'Approve':
    assert states['promote'] == 'success'
    assert champion(cluster)['version'] == before['version'] + 1
  else:
    assert states['promote'] == 'skipped'
    assert registry_files(cluster) == before_files


def test_an_unanswered_approval_rejects_when_it_times_out(cluster, api):
  before_files = registry_files(cluster)
  run_id = _manual_run(cluster, api, timeout_hours=8 / 3600)  # 8 s
  done = api.wait_run(DAG, run_id, timeout=120)
  states = api.task_states(DAG, run_id)
  assert done['state'] == 'success', states
  assert states['request_approval'] == 'success' and states['promote'] == 'skipped'
  detail = api.get(f'/dags/{DAG}/dagRuns/{run_id}/taskInstances/request_approval/-1/'
                   f'hitlDetails')
  assert detail['chosen_options'] == ['Reject'] and detail['response_received']
  assert registry_files(cluster) == before_files


def wait_for(predicate, timeout=60, interval=0.5, what='condition'):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(interval)
  raise TimeoutError(f'{what}: not true after {timeout} s')


def pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  stat = Path(f'/proc/{pid}/stat')
  return stat.exists() and stat.read_text().split()[2] != 'Z'


def starts(counter: Path) -> list[tuple[str, int]]:
  """(run id, pid) of every stand-in pipeline process started so far."""
  if not counter.exists():
    return []
  return [(line.split()[0], int(line.split()[1])) for line in counter.read_text().splitlines()]


def wait_trigger_running(cluster, run_id, pipeline_id, timeout=60):
  """Until a triggerer runs the task's trigger (its first line is in the task log).

  Before that, marking the task failed has nothing to call on_kill on: Airflow deletes
  the trigger row and the pipeline goes on (see the README's known limits)."""
  logs = cluster.home / 'logs' / f'dag_id={DAG}' / f'run_id={run_id}' / 'task_id=run_pipeline'
  wait_for(lambda: any(f'waiting for pipeline run {pipeline_id}' in p.read_text(
      errors='replace') for p in logs.glob('*') if p.is_file()), timeout=timeout,
      what='trigger running')


def test_marking_a_deferred_run_pipeline_failed_cancels_it_and_a_clear_starts_attempt_2(
    cluster, api):
  counter = cluster.root / 'starts-mark-failed.txt'
  settings(api, local_pipeline_command=['env', f'FAKE_PIPELINE_COUNTER={counter}'] +
           fake_pipeline_command('hang'))
  run = api.trigger(DAG, conf={'force_retrain': True}, logical_date=logical())
  run_id = run['dag_run_id']
  api.wait_task(DAG, run_id, 'run_pipeline', 'deferred')
  (pipeline_id, pid), = wait_for(lambda: starts(counter), what='pipeline started')
  assert '-a1-' in pipeline_id and pid_alive(pid)
  run_dir = cluster.local_dir / 'pipeline_runs' / pipeline_id
  wait_trigger_running(cluster, run_id, pipeline_id)

  api.set_task_state(DAG, run_id, 'run_pipeline', 'failed')  # the UI's "Mark as failed"
  wait_for(lambda: run_state(run_dir)['state'] == 'CANCELLED', what='supervisor CANCELLED')
  assert 'marked failed/success or cleared' in run_state(run_dir)['message']
  wait_for(lambda: not pid_alive(pid), timeout=30, what='pipeline process gone')
  assert api.task_states(DAG, run_id)['run_pipeline'] == 'failed'

  # the fix is in: clear the task, which starts attempt 2 (the cancelled run stays as is)
  settings(api, local_pipeline_command=['env', f'FAKE_PIPELINE_COUNTER={counter}'] +
           fake_pipeline_command('succeed'))
  api.clear_task(DAG, run_id, 'run_pipeline')
  done = api.wait_run(DAG, run_id)
  states = api.task_states(DAG, run_id)
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  (second, _), = starts(counter)[1:]
  assert second.split('-a2-')[0] == pipeline_id.split('-a1-')[0]  # attempt 2, same run
  assert run_state(run_dir)['state'] == 'CANCELLED'
  # attempt 2 resumes after the cancelled attempt's completed steps (pipeline_retry: resume)
  assert counter.read_text().splitlines()[1].split()[2] == str(run_dir)
  assert states['promote'] == 'success'


def _trigger_logs(cluster) -> str:
  texts = [p.read_text(errors='replace') for p in (cluster.home / 'logs').rglob('*')
           if p.is_file()]
  texts += [p.read_text(errors='replace') for p in cluster.logs.glob('triggerer*.log')]
  return '\n'.join(texts)


def test_triggerer_restart_and_redistribution_never_cancel_a_waiting_pipeline(cluster, api):
  counter = cluster.root / 'starts-triggerer.txt'
  release = cluster.root / 'release-triggerer'  # the pipeline runs until the test is done
  settings(api, local_pipeline_command=['env', f'FAKE_PIPELINE_COUNTER={counter}',
                                        f'FAKE_PIPELINE_RELEASE={release}'] +
           fake_pipeline_command('succeed'))
  run = api.trigger(DAG, conf={'force_retrain': True}, logical_date=logical())
  run_id = run['dag_run_id']
  api.wait_task(DAG, run_id, 'run_pipeline', 'deferred')
  (pipeline_id, pid), = wait_for(lambda: starts(counter), what='pipeline started')
  run_dir = cluster.local_dir / 'pipeline_runs' / pipeline_id
  wait_trigger_running(cluster, run_id, pipeline_id)

  # 1. the triggerer dies (OOM, node drain) and a new one starts: cleanup, not on_kill.
  # Each step waits for the trigger to move (the metadata DB says where it is), not for
  # a fixed time: under a loaded CI machine heartbeats come late.
  holder = lambda: cluster.trigger_holder(DAG, run_id, 'run_pipeline')  # noqa: E731
  first = holder()
  cluster.kill('triggerer')
  second = cluster.start_triggerer('triggerer-2')
  wait_for(lambda: holder() == second, timeout=120, what='trigger moved to triggerer-2')
  assert first != second
  assert run_state(run_dir)['state'] == 'RUNNING' and pid_alive(pid)

  # 2. HA: a second triggerer; the one holding the trigger stops heartbeating (SIGSTOP)
  # until its trigger moves, then resumes and drops the orphan through the user-action
  # path, which calls on_kill (apache/airflow#73454): the task is still deferred
  third = cluster.start_triggerer('triggerer-3')
  names = {second: 'triggerer-2', third: 'triggerer-3'}
  held_by = holder()
  stopped = names[held_by]
  cluster.send_signal(stopped, signal.SIGSTOP)
  try:
    wait_for(lambda: holder() not in (None, held_by), timeout=120,
             what=f'trigger moved away from the stopped {stopped}')
  finally:
    cluster.send_signal(stopped, signal.SIGCONT)
  wait_for(lambda: 'still deferred: the trigger moved' in _trigger_logs(cluster),
           timeout=90, what='on_kill guard logged')
  assert run_state(run_dir)['state'] == 'RUNNING' and pid_alive(pid)

  release.touch()
  done = api.wait_run(DAG, run_id, timeout=180)
  states = api.task_states(DAG, run_id)
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  assert run_state(run_dir)['state'] == 'SUCCEEDED'
  assert [r for r, _ in starts(counter)] == [pipeline_id]  # never resubmitted
  cluster.kill('triggerer-2', signal.SIGTERM)  # triggerer-3 serves the next tests


def test_a_worker_killed_mid_extract_retries_into_a_new_span(cluster, api):
  settings(api)
  # the bulk rows (2017-2020): seconds of extract, so the kill lands mid-write
  run = api.trigger(DAG, conf={'window_end': '2021-01-01', 'window_days': 1460,
                               'force_retrain': True}, logical_date=logical())
  run_id = run['dag_run_id']
  ti = api.wait_task(DAG, run_id, 'extract_span', 'running', timeout=120)
  window = cluster.local_dir / 'bucket' / 'spans' / '20170102-20210101'

  def half_written():
    spans = [p for p in window.glob('*-try1') if (p / 'part-00000.csv').exists()]
    return spans and not (spans[0] / '_MANIFEST.json').exists() and spans[0]
  span1 = wait_for(half_written, timeout=60, interval=0.05, what='span part written')
  out = subprocess.run(['pgrep', '-f', f'airflow worker -- {ti["id"]}'], capture_output=True,
                       text=True)
  pids = [int(p) for p in out.stdout.split()]
  assert pids, f'no task process for {ti["id"]}'
  for pid in pids:
    os.kill(pid, signal.SIGKILL)

  done = api.wait_run(DAG, run_id, timeout=300)
  states = api.task_states(DAG, run_id)
  assert done['state'] == 'success', states
  extract = api.task_instances(DAG, run_id)['extract_span']
  assert extract['state'] == 'success' and extract['try_number'] == 2
  assert not (span1 / '_MANIFEST.json').exists()  # the half-written span stays incomplete
  span = api.xcom(DAG, run_id, 'extract_span')
  assert span['uri'].endswith('-try2') and span['rows'] > 500_000
  request = json.loads((pipeline_runs(cluster)[-1] / 'request.json').read_text())
  assert request['spec']['span_uri'] == span['uri']  # nothing read the half-written one


def test_an_upstream_asset_event_starts_a_run_without_a_logical_date(cluster, api):
  settings(api)
  api.set_paused('ct_e2e_upstream_elt', False)
  known = {r['dag_run_id'] for r in api.runs(DAG)}
  upstream = api.trigger('ct_e2e_upstream_elt', logical_date=None)
  assert api.wait_run('ct_e2e_upstream_elt', upstream['dag_run_id'])['state'] == 'success'
  run = wait_for(lambda: next((r for r in api.runs(DAG) if r['dag_run_id'] not in known),
                              None), timeout=90, what='asset-triggered run created')
  assert run['run_type'] == 'asset_triggered' and run['logical_date'] is None
  done = api.wait_run(DAG, run['dag_run_id'])
  states = api.task_states(DAG, run['dag_run_id'])
  assert done['state'] == 'success', states
  assert_no_task_failed(states)
  plan = api.xcom(DAG, run['dag_run_id'], 'plan_run')
  assert plan['window']['end'] == run['run_after'][:10]  # from run_after
  assert plan['window']['source'] == 'run_after'
  events = api.get('/assets/events', params={'limit': 100})['asset_events']
  source = [e for e in events if e['name'] == 'chicago_taxi_trips.taxi_trips']
  assert source and source[-1]['extra']['loaded_by'] == 'ct_e2e_upstream_elt'


def test_a_consumer_of_the_champion_asset_ran_after_each_promotion(cluster, api):
  promotions = [e for e in notifications(cluster.local_dir) if e['event'] == 'champion_promoted']
  assert len(promotions) >= 3

  def consumer_done():
    runs = [r for r in api.runs(CONSUMER) if r['state'] == 'success']
    return len(runs) >= 1 and runs
  runs = wait_for(consumer_done, timeout=60, what='consumer runs')
  seen = []
  for r in runs:
    assert r['run_type'] == 'asset_triggered'
    seen += api.xcom(CONSUMER, r['dag_run_id'], 'read_promoted')
  versions = sorted(e['version'] for e in seen)
  # every promotion's event reached the consumer (queued events of a busy consumer are
  # handed to one run together), each with the registry record of the new champion
  assert versions == list(range(1, champion(cluster)['version'] + 1))
  assert all(e['model_uri'].endswith('/model') and e['model_name'] == 'chicago-taxi-tipper'
             for e in seen)

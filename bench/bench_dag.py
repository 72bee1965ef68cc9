"""The orchestration's own cost: a "no drift" day of continuous_training under a real
Airflow (api-server, scheduler with the LocalExecutor, dag-processor, triggerer: the
real-Airflow tests' harness), next to a floor measured in the same invocation: a DAG of
as many no-op Python tasks, chained, as the no-drift day runs, on the same Airflow.

Steps: start Airflow on a throwaway home, seed the warehouse with the shipped sample,
train a first champion with the stand-in pipeline (tests/fakes/pipeline.py: the TFX
pipeline's time is bench-pipeline's business), then trigger the champion's own window
again (nothing drifted: everything up to retrain_needed runs, the rest is skipped) and
read every task instance's times from the REST API.

Prints each task's duration and its waits (scheduled after its upstream ended, queued,
started), then `dag_run_s no_drift=<s> floor=<s> goal=30`. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / 'tests'), str(REPO / 'tests' / 'airflow_e2e')]

from harness import AirflowCluster  # noqa: E402

DAG = 'continuous_training'
FLOOR = 'bench_floor'
GOAL_S = 30


def _ts(value: str | None) -> dt.datetime | None:
  return dt.datetime.fromisoformat(value.replace('Z', '+00:00')) if value else None


def _seconds(a, b) -> float | None:
  return (b - a).total_seconds() if a and b else None


def wait_run(api, dag_id, run_id, timeout=600) -> dict:
  deadline = time.monotonic() + timeout
  last = None
  while True:
    run = api.run(dag_id, run_id)
    states = api.task_states(dag_id, run_id)
    line = ' '.join(f'{t}={s}' for t, s in sorted(states.items()) if s not in (None, 'skipped'))
    if line != last:
      print(f'  {dag_id}: {run["state"]}: {line}', flush=True)
      last = line
    if run['state'] in ('success', 'failed'):
      return run
    if time.monotonic() > deadline:
      raise TimeoutError(f'{dag_id} {run_id} still {run["state"]} after {timeout} s')
    time.sleep(0.5)


def run_figures(api, dag_id, run_id) -> dict:
  """The run's wall time and, per task that ran, its duration and waits."""
  run = api.run(dag_id, run_id)
  tis = api.task_instances(dag_id, run_id)
  tasks = []
  for task_id, ti in tis.items():
    if ti['state'] != 'success':
      continue
    start, end = _ts(ti['start_date']), _ts(ti['end_date'])
    scheduled, queued = _ts(ti.get('scheduled_when')), _ts(ti.get('queued_when'))
    tasks.append({'task': task_id, 'start': start, 'end': end,
                  'duration': _seconds(start, end),
                  'queued_to_start': _seconds(queued, start),
                  'scheduled_to_queued': _seconds(scheduled, queued)})
  tasks.sort(key=lambda t: t['start'])
  # the gap between the latest end of a task before it (or the run's start) and its start:
  # the no-drift day and the floor are chains, where that is the upstream's end
  run_start = _ts(run['start_date'])
  for i, t in enumerate(tasks):
    before = [u['end'] for u in tasks[:i] if u['end'] and u['end'] <= t['start']]
    t['gap'] = _seconds(max(before) if before else run_start, t['start'])
  return {'seconds': _seconds(run_start, _ts(run['end_date'])),
          'queued_at_to_start': _seconds(_ts(run.get('queued_at')), run_start),
          'tasks': tasks, 'skipped': sorted(t for t, ti in tis.items()
                                            if ti['state'] == 'skipped'),
          'state': run['state']}


def floor_dag(n: int) -> str:
  return textwrap.dedent(f'''\
      """bench_dag's floor: {n} chained no-op Python tasks (Airflow's own cost per task)."""
      import datetime as dt
      from airflow.sdk import dag, task

      @dag(dag_id={FLOOR!r}, schedule=None, start_date=dt.datetime(2017, 1, 1), catchup=False)
      def floor():
        previous = None
        for i in range({n}):
          @task(task_id=f"noop_{{i:02d}}")
          def noop():
            return None
          current = noop()
          if previous is not None:
            previous >> current
          previous = current

      floor()
      ''')


def print_table(name, figures):
  print(f'\n{name}: {figures["seconds"]:.1f} s (run {figures["state"]}; queued -> running '
        f'{figures["queued_at_to_start"] or 0:.1f} s)')
  print(f'  {"task":<26} {"since last end":>19} {"scheduled->queued":>18} '
        f'{"queued->start":>14} {"duration":>9}')
  for t in figures['tasks']:
    def fmt(v):
      return f'{v:.2f} s' if v is not None else '-'
    print(f'  {t["task"]:<26} {fmt(t["gap"]):>19} {fmt(t["scheduled_to_queued"]):>18} '
          f'{fmt(t["queued_to_start"]):>14} {fmt(t["duration"]):>9}')
  busy = sum(t['duration'] or 0 for t in figures['tasks'])
  waiting = sum(t['gap'] or 0 for t in figures['tasks'])
  print(f'  {len(figures["tasks"])} tasks ran ({len(figures["skipped"])} skipped): '
        f'{busy:.1f} s in tasks, {waiting:.1f} s between them')


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--root', type=Path, default=REPO / 'build' / 'bench-dag')
  p.add_argument('--keep', action='store_true', help='leave the cluster folder')
  args = p.parse_args(argv)
  shutil.rmtree(args.root, ignore_errors=True)
  cluster = AirflowCluster(args.root, sorted((REPO / 'dags').glob('*.py')))
  env = dict(os.environ, CT_LOCAL_DIR=str(cluster.local_dir), PYTHONPATH=str(REPO / 'plugins'))
  subprocess.run([sys.executable, '-m', 'ct_platform.seed'], env=env, check=True,
                 capture_output=True)
  print(f'== starting Airflow (logs: {cluster.logs})', flush=True)
  t0 = time.monotonic()
  cluster.start()
  try:
    api = cluster.api()
    api.wait_dags([DAG])
    print(f'   healthy, {DAG} parsed after {time.monotonic() - t0:.0f} s', flush=True)
    fake = [sys.executable, str(REPO / 'tests' / 'fakes' / 'pipeline.py')]
    api.set_variable('ct_settings', {'local_pipeline_command': ['env', 'FAKE_PIPELINE_SECONDS=1',
                                                                *fake],
                                     'rollout': 'none', 'poll_interval_seconds': 0.5})
    # Triggered runs of a paused DAG are not scheduled; unpausing creates the latest
    # scheduled tick's run (an empty window today): let it finish first.
    api.set_paused(DAG, False)
    deadline = time.monotonic() + 120
    while not (runs := api.runs(DAG)) and time.monotonic() < deadline:
      time.sleep(1)
    for run in runs:
      wait_run(api, DAG, run['dag_run_id'])
    print('== a first champion (stand-in pipeline)', flush=True)
    first = api.trigger(DAG, conf={'force_retrain': True}, logical_date='2017-01-01T00:00:01Z')
    done = wait_run(api, DAG, first['dag_run_id'])
    if done['state'] != 'success':
      raise SystemExit(f'the first run failed: {api.task_states(DAG, first["dag_run_id"])}')
    print('== the no-drift day: the champion\'s own window again', flush=True)
    run = api.trigger(DAG, conf={}, logical_date='2017-01-01T00:00:02Z')
    wait_run(api, DAG, run['dag_run_id'])
    ours = run_figures(api, DAG, run['dag_run_id'])
    if 'run_pipeline' not in ours['skipped']:
      raise SystemExit(f'not a no-drift day: {api.task_states(DAG, run["dag_run_id"])}')

    n = len(ours['tasks'])
    print(f'== the floor: {n} chained no-op tasks', flush=True)
    (cluster.dags_folder / f'{FLOOR}.py').write_text(floor_dag(n))
    api.wait_dags([FLOOR], timeout=180)
    api.set_paused(FLOOR, False)
    floor_run = api.trigger(FLOOR, logical_date='2017-01-01T00:00:03Z')
    wait_run(api, FLOOR, floor_run['dag_run_id'])
    floor = run_figures(api, FLOOR, floor_run['dag_run_id'])
  finally:
    cluster.stop()
    if not args.keep:
      shutil.rmtree(args.root / 'airflow-home', ignore_errors=True)

  print_table(f'{DAG}, a no-drift day', ours)
  print_table(f'{FLOOR}, the same number of no-op tasks', floor)
  (REPO / 'build').mkdir(exist_ok=True)
  out = REPO / 'build' / 'bench-dag.json'
  out.write_text(json.dumps({'no_drift': ours, 'floor': floor}, default=str, indent=1))
  print(f'\nfigures: {out}')
  print(f'dag_run_s no_drift={ours["seconds"]:.1f} floor={floor["seconds"]:.1f} '
        f'goal={GOAL_S} tasks={n}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""The whole loop as one command (`make demo`): train, serve, drift in live traffic,
monitoring asks for a retraining, retrain, canary, roll out or back; then a timeline.

    python scripts/demo.py [--local-dir .local/demo] [--train-steps 300]

On the embedded default, in its own local state (wiped first, so each demo tells the same
story), every DAG run by `airflow dags test` (the real tasks, one process each):
  1. the warehouse: the taxi sample, where 2016 is a year of change (fares up by 60% plus
     a $2.50 surcharge, tips unchanged; a third of card payments move to Mobile);
  2. continuous_training on 2013-2015: the champion (the real TFX pipeline);
  3. the model server (serving env) serving it; the 2016 trips replayed as live callers;
  4. model_monitoring over that traffic: skew (and whatever else) sends a retrain request;
  5. continuous_training answering that request (the retrain_request_id Param: what the
     Asset event does under a scheduler): retrained up to the newest labelled day, the
     challenger nominated;
  6. model_rollout: infrastructure check, load test, canary on replayed traffic, verdict;
  7. model_monitoring again, after more traffic: the dashboard shows the whole story.
Prints one line per step (time, seconds, verdict, report) and the dashboard's path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'plugins'))

# the year of change, applied to the demo's own warehouse (never the user's)
SHIFT_SQL = """
UPDATE "bigquery-public-data".chicago_taxi_trips.taxi_trips
SET fare = fare * 1.6 + 2.5,
    payment_type = CASE WHEN payment_type = 'Credit Card' AND hash(unique_key) % 3 = 0
                        THEN 'Mobile' ELSE payment_type END
WHERE trip_start_timestamp >= TIMESTAMPTZ '2016-01-01'
"""


class Timeline:
  def __init__(self):
    self.rows: list[dict] = []

  def step(self, name: str):
    timeline = self

    class Step:
      def __enter__(self):
        self.row = {'step': name, 'at': dt.datetime.now().strftime('%H:%M:%S'),
                    'started': time.monotonic(), 'verdict': '', 'report': ''}
        print(f'\n== {self.row["at"]} {name}', flush=True)
        return self.row

      def __exit__(self, kind, error, tb):
        self.row['seconds'] = time.monotonic() - self.row.pop('started')
        if error is not None:
          self.row['verdict'] = f'FAILED: {error}'[:200]
        timeline.rows.append(self.row)
        print(f'   {self.row["verdict"]} ({self.row["seconds"]:.0f} s)', flush=True)
        return False
    return Step()

  def print(self, out=sys.stdout):
    print('\n' + '=' * 100, file=out)
    print('the loop, step by step', file=out)
    print('=' * 100, file=out)
    for r in self.rows:
      print(f'{r["at"]}  {r["seconds"]:6.0f} s  {r["step"]:<34} {r["verdict"]}', file=out)
      if r['report']:
        print(f'{"":20}{"":34} report: {r["report"]}', file=out)


def settings(local_dir: Path, **overrides):
  from ct_platform.config import load_settings
  return load_settings(dict({'local_dir': str(local_dir)}, **overrides), use_variable=False)


def env(local_dir: Path, **extra) -> dict:
  return dict(os.environ, CT_LOCAL_DIR=str(local_dir), CT_PROFILE='local',
              **{k: str(v) for k, v in extra.items()})


def dags_test(dag_id: str, local_dir: Path, conf: dict, logical_date: str | None = None,
              log_name: str = '', **extra) -> str:
  """One `airflow dags test` run; returns its log. Raises if the run failed."""
  log = local_dir / f'demo-{log_name or dag_id}.log'
  cmd = [str(REPO / 'scripts' / 'airflow-local'), 'dags', 'test', dag_id]
  cmd += [logical_date] if logical_date else []
  cmd += ['-c', json.dumps(conf)]
  with open(log, 'w') as out:
    code = subprocess.run(cmd, env=env(local_dir, **extra), stdout=out,
                          stderr=subprocess.STDOUT).returncode
  text = log.read_text(errors='replace')
  if code:
    raise RuntimeError(f'{dag_id} failed (exit {code}); log: {log}')
  return text


def last(pattern: str, text: str, default: str = '') -> str:
  found = re.findall(pattern, text)
  return found[-1] if found else default


def free_port() -> int:
  import socket
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]


def notifications(local_dir: Path) -> list[dict]:
  path = local_dir / 'notifications.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def checks(log: str) -> str:
  return ', '.join(f'{name} {status}' for name, status in re.findall(
      r'  (skew|prediction_drift|decay|data_quality): (\w+)', log))


def replay(local_dir: Path, seconds: float, rate: float, progress=None) -> dict:
  """The demo's 2016 trips, sent to the local endpoint as callers would."""
  from ct_platform import replay as replayer

  s = settings(local_dir)
  url = f'http://127.0.0.1:{s.serve_port}'
  rows = replayer.window_rows(s, replayer.served_features(url, s.model_name),
                              dt.date(2016, 1, 1), 366)
  return replayer.replay(url, s.model_name, rows * 20, rate=rate, seconds=seconds,
                         progress=progress or (lambda *a: None))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--local-dir', default=str(REPO / '.local' / 'demo'))
  p.add_argument('--train-steps', type=int, default=300)
  p.add_argument('--rate', type=float, default=60.0, help='replayed requests per second')
  p.add_argument('--check', action='store_true',
                 help='exit 1 unless the loop closed: a retrain request sent and answered, '
                      'a challenger rolled out or back, two runs on the dashboard (CI)')
  args = p.parse_args(argv)
  local_dir = Path(args.local_dir).resolve()
  # its own model server on a free port: never a server someone runs on 8501
  os.environ['CT_SERVE_PORT'] = str(free_port())
  shutil.rmtree(local_dir, ignore_errors=True)
  local_dir.mkdir(parents=True)
  timeline = Timeline()
  s = settings(local_dir)
  from ct_platform.rollout import server

  request = nominated = ''
  try:
    with timeline.step('warehouse: sample, 2016 shifted') as row:
      from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
      from ct_platform.seed import SAMPLE_CSV
      warehouse = DuckDBWarehouse(s.warehouse_file, s.source_table)
      rows = warehouse.seed_from_tfx_csv(SAMPLE_CSV)
      con = warehouse.connect(read_only=False)
      con.execute(SHIFT_SQL)
      con.close()
      row['verdict'] = f'{rows} trips; 2016: fares x1.6 + $2.50, a third of cards Mobile'

    with timeline.step('continuous_training 2013-2015') as row:
      log = dags_test('continuous_training', local_dir, {
          'window_end': '2016-01-01', 'window_days': 1095, 'train_steps': args.train_steps},
          '2016-01-01', log_name='train-champion')
      version = last(r'champion is now version (\d+)', log)
      row['verdict'] = f'champion v{version}' if version else 'no champion promoted'
      row['report'] = last(r'gate: \w+; report: (\S+)', log)
      if not version:
        raise RuntimeError(f'the first run promoted nothing; log: {local_dir}')

    with timeline.step('serve the champion') as row:
      from ct_platform.backends import endpoint_for, registry_for
      champion = registry_for(s).get_alias('champion')
      endpoint_for(s).deploy(champion['version'], champion['model_uri'], 100)
      started = server.ensure_running(s)
      row['verdict'] = f'{started["url"]} serves v{champion["version"]} at 100%'

    with timeline.step('replay 2016 traffic (shifted)') as row:
      counts = replay(local_dir, seconds=25, rate=args.rate)
      row['verdict'] = (f'{counts.get("sent", 0)} requests, {counts.get("answered", 0)} '
                        f'answered')

    window_end = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat()
    with timeline.step('model_monitoring') as row:
      log = dags_test('model_monitoring', local_dir, {'window_end': window_end,
                                                        'window_hours': 1},
                      log_name='monitoring-1')
      statuses = checks(log)
      request = last(r'retrain request (\S+) sent', log)
      row['verdict'] = f'{statuses}; ' + (f'retrain requested ({request})' if request
                                          else 'no retrain request')
      row['report'] = last(r'monitoring report: (\S+)', log)
      reasons = last(r'retrain request \S+ sent: (.*)', log)
      if reasons:
        print(f'   reasons: {reasons}')

    if request:
      with timeline.step('continuous_training (the request)') as row:
        log = dags_test('continuous_training', local_dir, {
            'retrain_request_id': request, 'train_steps': args.train_steps},
            '2017-01-01', log_name='retrain')
        nominated = last(r'challenger \(canary next\) is version (\d+)', log)
        promoted = last(r'champion is now version (\d+)', log)
        gate = last(r'gate: (\w+);', log)
        row['verdict'] = (f'gate {gate}; ' + (f'challenger v{nominated}' if nominated else
                          f'champion v{promoted}' if promoted else 'nothing promoted'))
        row['report'] = last(r'gate: \w+; report: (\S+)', log)

      if nominated:
        with timeline.step('model_rollout (canary)') as row:
          # as `make rollout`: the replayer sends the 2016 trips while the rollout runs
          log_path = local_dir / 'demo-rollout.log'
          with open(log_path, 'w') as out:
            rollout = subprocess.Popen(
                [str(REPO / 'scripts' / 'airflow-local'), 'dags', 'test', 'model_rollout',
                 '-c', json.dumps({'observation_minutes': 3, 'reason': 'make demo'})],
                env=env(local_dir), stdout=out, stderr=subprocess.STDOUT)
            sender = subprocess.Popen(
                [sys.executable, '-m', 'ct_platform.replay', '--start', '2016-01-01', '--days',
                 '366', '--rate', str(args.rate), '--while-pid', str(rollout.pid)],
                env=env(local_dir, PYTHONPATH=REPO / 'plugins'), stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT)
            rollout.wait()  # reaped here: the replayer sees it gone and stops
            sender.wait(timeout=120)
          log = log_path.read_text(errors='replace')
          events = [n for n in notifications(local_dir) if n['event'].startswith('rollout_')]
          row['verdict'] = (events[-1]['message'] if events else 'no rollout outcome')[:160]
          row['report'] = last(r'rollout report: (\S+)', log)

    with timeline.step('replay, then model_monitoring') as row:
      replay(local_dir, seconds=15, rate=args.rate)
      window_end = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat()
      log = dags_test('model_monitoring', local_dir, {'window_end': window_end,
                                                        'window_hours': 1},
                      log_name='monitoring-2')
      why = last(r'no retrain request sent: (\w+)', log)
      row['verdict'] = checks(log) + (f'; request suppressed ({why})' if why else '')
      row['report'] = last(r'monitoring dashboard: (\S+)', log)
  finally:
    server.stop(s)
    timeline.print()
    print(f'\nthe dashboard: {local_dir}/bucket/monitoring/dashboard.html')
    print(f'logs: {local_dir}/demo-*.log; notifications: {local_dir}/notifications.jsonl')
  failed = [r['step'] for r in timeline.rows if r['verdict'].startswith('FAILED')]
  if args.check and not failed:
    failed = closed_loop_problems(local_dir, request, nominated)
  for problem in failed:
    print(f'demo: {problem}', file=sys.stderr)
  return 1 if failed else 0


def closed_loop_problems(local_dir: Path, request: str, nominated: str) -> list[str]:
  """What --check requires of the story: each stage happened."""
  problems = []
  if not request:
    problems.append('monitoring sent no retrain request on the shifted traffic')
  if not nominated:
    problems.append('the requested retraining nominated no challenger')
  outcomes = {n['event'] for n in notifications(local_dir)}
  if not outcomes & {'rollout_completed', 'rollout_rolled_back'}:
    problems.append('the rollout neither rolled out nor rolled back')
  # the replayed trips have their tips in the warehouse: the canary must have judged
  # online accuracy on them (the label join), which outranks a score shift
  for path in (local_dir / 'serving' / 'rollouts').glob('*/rollout.json'):
    canary = json.loads(path.read_text()).get('compare_canary') or {}
    accuracy = {c['name']: c for c in canary.get('checks', [])}.get('online_accuracy_drop')
    if accuracy is None or accuracy['value'] is None:
      problems.append(f'the canary judged no online accuracy: '
                      f'{(accuracy or {}).get("detail", "no compare_canary")}')
  history = local_dir / 'bucket' / 'monitoring' / 'history.json'
  if not history.exists() or len(json.loads(history.read_text())) < 2:
    problems.append('the dashboard holds fewer than two monitoring runs')
  return problems


if __name__ == '__main__':
  sys.exit(main())

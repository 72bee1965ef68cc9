"""DAG parse time as production measures it, next to the figures that mislead.

    make bench-parse

For each file in dags/, in one invocation:
  dag-processor  the real `airflow dag-processor -n 1` on a throwaway home; the figure it
                 stores (DagModel.last_parse_duration, what GET /api/v2/dags reports)
  fresh          a new interpreter per parse, Airflow already imported (the state a
                 dag-processor's parse starts from): median of 5
  warm           re-parses in one process after a first parse paid every import (what
                 this bench printed before; no dag-processor parses like that)
and, for reference, continuous_training.py with its Assets on provider-registered URI
schemes (`bigquery://`, `ct-model://`, as before the x- schemes): each parse then imports
every provider's asset-URI handlers (the Google provider's pull in google.cloud.storage,
aiohttp, grpc).
"""

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
REFERENCE_ASSETS = '''from airflow.sdk import Asset
SOURCE_TABLE = Asset(name='chicago_taxi_trips.taxi_trips',
                     uri='bigquery://bigquery-public-data/chicago_taxi_trips/taxi_trips')
CHAMPION = Asset(name='chicago-taxi-tipper.champion',
                 uri='ct-model://chicago-taxi-tipper/champion')
'''

FRESH = r'''
import json, sys, time
sys.path.insert(0, sys.argv[2])
import airflow.sdk  # noqa: F401  (the dag-processor has Airflow imported)
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
started = time.perf_counter()
bag = DagBag(sys.argv[1])
seconds = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
google = sorted(m for m in set(sys.modules) - before if m.startswith(('google', 'grpc',
                'aiohttp', 'airflow.providers.google')))
print(json.dumps({'seconds': seconds, 'google_modules': len(google)}))
'''


def reference_dag(folder: Path) -> Path:
  text = (REPO / 'dags' / 'continuous_training.py').read_text()
  line = 'from ct_platform.assets import CHAMPION, SOURCE_TABLE\n'
  assert line in text, 'continuous_training.py no longer imports its Assets like this'
  path = folder / 'reference_provider_schemes.py'
  path.write_text(text.replace(line, REFERENCE_ASSETS).replace(
      "dag_id='continuous_training'", "dag_id='reference_provider_schemes'"))
  return path


def env_for(home: Path, dags: Path) -> dict:
  return dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
              AIRFLOW__CORE__LOAD_EXAMPLES='False', PYTHONPATH=str(REPO / 'plugins'),
              AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / 'plugins'),
              PATH=f'{VENV_BIN}:{os.environ["PATH"]}')


def dag_processor_figures(files: list[Path], work: Path) -> dict:
  home, dags = work / 'home', work / 'dags'
  home.mkdir()
  dags.mkdir()
  for f in files:
    (dags / f.name).write_text(f.read_text())
  env = env_for(home, dags)
  subprocess.run([str(VENV_BIN / 'airflow'), 'db', 'migrate'], env=env, check=True,
                 capture_output=True)
  subprocess.run([str(VENV_BIN / 'airflow'), 'dag-processor', '-n', '1'], env=env,
                 check=True, capture_output=True, timeout=600)
  con = sqlite3.connect(home / 'airflow.db')
  rows = con.execute('SELECT fileloc, last_parse_duration FROM dag').fetchall()
  con.close()
  return {Path(loc).name: seconds for loc, seconds in rows}


def fresh_figures(path: Path, env: dict, runs=5) -> tuple[float, int]:
  results = []
  for _ in range(runs):
    out = subprocess.run([sys.executable, '-c', FRESH, str(path), str(REPO / 'plugins')],
                         env=env, capture_output=True, text=True, check=True)
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))
  return statistics.median(r['seconds'] for r in results), results[-1]['google_modules']


def warm_figure(path: Path) -> float:
  from airflow.dag_processing.dagbag import DagBag
  DagBag(str(path))
  times = []
  for _ in range(5):
    started = time.perf_counter()
    DagBag(str(path))
    times.append(time.perf_counter() - started)
  return statistics.median(times)


def main() -> int:
  os.environ['AIRFLOW__LOGGING__LOGGING_LEVEL'] = 'WARNING'  # the table, not parse logs
  with tempfile.TemporaryDirectory(prefix='bench-parse-') as tmp:
    work = Path(tmp)
    files = sorted((REPO / 'dags').glob('*.py')) + [reference_dag(work)]
    processor = dag_processor_figures(files, work)
    env = env_for(work / 'home', work / 'dags')
    os.environ.update(AIRFLOW_HOME=str(work / 'home'), AIRFLOW__CORE__LOAD_EXAMPLES='False')
    sys.path.insert(0, str(REPO / 'plugins'))
    print(f'{"file":<42} {"dag-processor":>13} {"fresh":>9} {"warm":>9}  google modules')
    for path in files:
      fresh, google = fresh_figures(path, env)
      warm = warm_figure(path)
      name = path.name + (' (reference)' if path.parent == work else '')
      print(f'{name:<42} {processor.get(path.name, float("nan")) * 1000:10.0f} ms '
            f'{fresh * 1000:6.0f} ms {warm * 1000:6.0f} ms  {google}')
    ours = processor['continuous_training.py']
    ref = processor['reference_provider_schemes.py']
    print(f'parse_dag_processor_s continuous_training={ours:.3f} '
          f'reference_provider_schemes={ref:.3f} ratio={ours / ref:.2f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

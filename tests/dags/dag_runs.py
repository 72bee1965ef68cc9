"""Runs DAGs for real with `airflow dags test` (in subprocesses, like a user would), and
reads back what happened (each task's final state from the metadata DB).

The fixtures are in conftest.py; test modules import these helpers by this module's name
(a `from conftest import` would find whichever suite's conftest was imported first).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
FAKE_PIPELINE = REPO / 'tests' / 'fakes' / 'pipeline.py'
# extra environment for a run whose OpenLineage events a test reads
LINEAGE = {'AIRFLOW__OPENLINEAGE__DISABLED': 'false'}


class AirflowEnv:
  def __init__(self, home: Path, dags_folder: Path):
    self.home, self.dags_folder = home, dags_folder

  def env(self, local_dir: Path, **extra) -> dict:
    # OpenLineage's listener forks per event (about 13% of a `dags test`): on only where a
    # test reads the events (LINEAGE)
    env = dict(os.environ, AIRFLOW_HOME=str(self.home), CT_LOCAL_DIR=str(local_dir),
               CT_DAGS_FOLDER=str(self.dags_folder), CT_PROFILE='local',
               PATH=f'{VENV_BIN}:{os.environ["PATH"]}', AIRFLOW__OPENLINEAGE__DISABLED='true')
    env.update({k: str(v) for k, v in extra.items()})
    return env

  def seed(self, local_dir: Path) -> None:
    subprocess.run([sys.executable, '-m', 'ct_platform.seed'],
                   env=dict(self.env(local_dir), PYTHONPATH=str(REPO / 'plugins')),
                   check=True, capture_output=True)

  def start(self, dag_id, local_dir: Path, conf=None, logical_date='2017-01-01', **extra):
    log = open(local_dir / f'dags-test-{dag_id}.log', 'a')
    cmd = [str(REPO / 'scripts' / 'airflow-local'), 'dags', 'test', dag_id, logical_date,
           '-c', json.dumps(conf or {})]
    return subprocess.Popen(cmd, env=self.env(local_dir, **extra), stdout=log,
                            stderr=subprocess.STDOUT)

  def run(self, dag_id, local_dir: Path, conf=None, timeout=900, **extra):
    """Runs one DAG run; returns (exit code, this run's part of the log)."""
    path = local_dir / f'dags-test-{dag_id}.log'
    offset = path.stat().st_size if path.exists() else 0
    proc = self.start(dag_id, local_dir, conf, **extra)
    proc.wait(timeout=timeout)
    with open(path) as f:
      f.seek(offset)
      return proc.returncode, f.read()


def make_env(tmp_path_factory, name, dags_folder):
  home = tmp_path_factory.mktemp(name)
  env = AirflowEnv(home, dags_folder)
  subprocess.run([str(REPO / 'scripts' / 'airflow-local'), 'db', 'migrate'],
                 env=env.env(home), check=True, capture_output=True)
  (home / '.db-ready').touch()
  return env


def run_id_of(log: str, dag_id: str) -> str:
  import re
  m = re.search(rf'DagRun Finished: dag_id={dag_id}, logical_date=[^,]*, run_id=([^,]+),', log)
  assert m, log[-3000:]
  return m.group(1)


def task_states(env: AirflowEnv, local_dir: Path, dag_id: str, log: str) -> dict:
  """task_id -> final state of the run that `log` shows, from the metadata DB."""
  out = subprocess.run([str(REPO / 'scripts' / 'airflow-local'), 'tasks',
                        'states-for-dag-run', dag_id, run_id_of(log, dag_id), '-o', 'json'],
                       env=env.env(local_dir), capture_output=True, text=True)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
  rows = json.loads(out.stdout[out.stdout.index('['):])
  return {r['task_id']: r['state'] for r in rows}

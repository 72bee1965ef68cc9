"""The DAG import check: our DAG files load in this (the orchestration) env, or no deploy."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ct_deploy import PLUGIN_PACKAGE, DeployError
from ct_deploy.collect import skipped

_DAGBAG = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({'dags': {d: bag.dags[d].fileloc for d in bag.dags},
                  'import_errors': bag.import_errors}))
'''
_checked: set[str] = set()  # trees (by content) that passed, in this process


def check_dags_import(source: Path, python: str = sys.executable) -> list[str]:
  """Loads dags/ with Airflow's DagBag (plugins/ on sys.path, as Composer has it) in a
  fresh interpreter; raises DeployError naming each file that fails. Returns warnings."""
  dags, plugins = source / 'dags', source / 'plugins'
  py_files = sorted(p for p in [*dags.glob('*.py'), *(plugins / PLUGIN_PACKAGE).rglob('*.py')]
                    if p.is_file() and not skipped(p.relative_to(source)))
  key = hashlib.sha256()
  for p in py_files:
    key.update(p.relative_to(source).as_posix().encode() + b'\0' + p.read_bytes() + b'\0')
  if key.hexdigest() in _checked:
    return []
  with tempfile.TemporaryDirectory(prefix='ct-deploy-dagbag-') as home:
    env = {k: v for k, v in os.environ.items() if not k.startswith('AIRFLOW')}
    env.update(AIRFLOW_HOME=home, PYTHONPATH=str(plugins),
               AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
               AIRFLOW__CORE__LOAD_EXAMPLES='False',
               # a loaded CI machine is not a broken DAG (parse time has its own test)
               AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT='180')
    proc = subprocess.run([python, '-c', _DAGBAG, str(dags)], capture_output=True, text=True,
                          env=env, cwd=home, timeout=600)
  if proc.returncode != 0:
    raise DeployError(f'refusing to deploy: loading the DAGs failed:\n{proc.stderr[-3000:]}')
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  if result['import_errors']:
    lines = [f'  {Path(f).name}: {err.strip().splitlines()[-1] if err.strip() else err}'
             for f, err in sorted(result['import_errors'].items())]
    raise DeployError('refusing to deploy: DAG import errors in the orchestration env:\n'
                      + '\n'.join(lines))
  with_dags = {Path(f).name for f in result['dags'].values()}
  _checked.add(key.hexdigest())
  return [f'{p.name} defines no DAG' for p in sorted(dags.glob('*.py')) if p.name not in with_dags]

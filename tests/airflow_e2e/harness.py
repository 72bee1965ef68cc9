"""A real Airflow for tests: api-server, scheduler (LocalExecutor), dag-processor and
triggerer from .venv, each its own process, on loopback and a free port, with a
throwaway AIRFLOW_HOME and CT_LOCAL_DIR.

    cluster = AirflowCluster(root, dags=[...]); cluster.start(); api = cluster.api()
    run = api.trigger('continuous_training', conf={...}); api.wait_run(...)
    cluster.stop()   # every component by its process group, also after a failure

Talks to Airflow only the way users do: the REST API (/api/v2, token from /auth/token,
the simple auth manager's real login) and the processes themselves (kill, restart).
Where neither says it (which triggerer holds a trigger), it reads the metadata DB
read-only, as an operator would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests
from fakes.http import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
COMPONENTS = ('api-server', 'scheduler', 'dag-processor', 'triggerer')
TERMINAL_RUN_STATES = ('success', 'failed')




class AirflowCluster:
  def __init__(self, root: Path, dag_files: list[Path], extra_env: dict | None = None):
    self.root = Path(root)
    self.home = self.root / 'airflow-home'
    self.local_dir = self.root / 'local'
    self.dags_folder = self.root / 'dags'
    self.logs = self.root / 'component-logs'
    for d in (self.home, self.local_dir, self.dags_folder, self.logs):
      d.mkdir(parents=True, exist_ok=True)
    for f in dag_files:  # copies: the dag-processor parses what a deploy would carry
      shutil.copy(f, self.dags_folder / Path(f).name)
    # cluster policies (airflow_local_settings.py) come from AIRFLOW_HOME/config
    shutil.copytree(HERE / 'config', self.home / 'config', dirs_exist_ok=True)
    self.port = free_port()
    self.url = f'http://127.0.0.1:{self.port}'
    self.procs: dict[str, subprocess.Popen] = {}
    self._counter = 0
    self.env = dict(
        os.environ,
        AIRFLOW_HOME=str(self.home), CT_LOCAL_DIR=str(self.local_dir), CT_PROFILE='local',
        PATH=f'{VENV_BIN}:{os.environ["PATH"]}',
        PYTHONPATH=str(REPO / 'plugins'),
        AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / 'plugins'),
        AIRFLOW__CORE__LOAD_EXAMPLES='False',
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION='True',
        AIRFLOW__CORE__EXECUTOR='LocalExecutor',
        AIRFLOW__CORE__PARALLELISM='6',
        AIRFLOW__API__HOST='127.0.0.1', AIRFLOW__API__PORT=str(self.port),
        AIRFLOW__API__BASE_URL=self.url, AIRFLOW__API__WORKERS='1',
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS='admin:admin',
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / 'passwords.json'),
        # new DAG files show up quickly; a triggerer that stops heartbeating loses its
        # triggers after 10 s (default 30 s) so the HA case does not wait long
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL='5',
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC='2',
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD='10',
        AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL='5',
        AIRFLOW__LOGGING__LOGGING_LEVEL='INFO',
        # the log servers' fixed default ports would collide with another cluster
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        CT_PIPELINE_VERSION='e2e-test',
        # OpenLineage, as scripts/airflow-local sets it: every task's events in one file
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({
            'type': 'file', 'append': True,
            'log_file_path': str(self.local_dir / 'lineage' / 'events.jsonl')}),
        AIRFLOW__OPENLINEAGE__NAMESPACE='ct-e2e',
    )
    (self.local_dir / 'lineage').mkdir(exist_ok=True)
    self.env.update({k: str(v) for k, v in (extra_env or {}).items()})
    for key in [k for k in self.env if k.startswith('AIRFLOW__DATABASE')]:
      self.env.pop(key)  # never a developer's own metadata DB

  # -- processes ---------------------------------------------------------------------
  def airflow(self, *args, check=True, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run([str(VENV_BIN / 'airflow'), *args], env=self.env, text=True,
                         capture_output=True, timeout=timeout)
    if check and out.returncode:
      raise RuntimeError(f'airflow {" ".join(args)} failed:\n{out.stdout[-3000:]}\n'
                         f'{out.stderr[-3000:]}')
    return out

  def start_component(self, component: str, name: str | None = None) -> subprocess.Popen:
    """Starts `airflow <component>` as its own process group; name it to run two."""
    name = name or component
    log = open(self.logs / f'{name}.log', 'ab')
    env = self.env
    if component == 'triggerer' and name != component:  # a second one: its own log port
      env = dict(env, AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()))
    proc = subprocess.Popen([str(VENV_BIN / 'airflow'), component], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    self.procs[name] = proc
    return proc

  def start(self, timeout=180) -> None:
    self.airflow('db', 'migrate')
    for component in COMPONENTS:
      self.start_component(component)
    self.wait_healthy(timeout)

  def wait_healthy(self, timeout=180, components=('scheduler', 'triggerer', 'dag_processor')):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
      for name, proc in self.procs.items():
        if proc.poll() is not None and name in COMPONENTS:
          raise RuntimeError(f'{name} exited with {proc.returncode}:\n{self.log_tail(name)}')
      try:
        last = requests.get(f'{self.url}/api/v2/monitor/health', timeout=5).json()
        if last['metadatabase']['status'] == 'healthy' and all(
            (last.get(c) or {}).get('status') == 'healthy' for c in components):
          return last
      except (requests.RequestException, ValueError, KeyError):
        pass
      time.sleep(1)
    raise TimeoutError(f'Airflow not healthy after {timeout} s: {last}\n' +
                       '\n'.join(f'--- {n}\n{self.log_tail(n)}' for n in self.procs))

  def log_tail(self, name: str, chars=3000) -> str:
    path = self.logs / f'{name}.log'
    return path.read_text(errors='replace')[-chars:] if path.exists() else ''

  def wait_parked(self, dag_id: str, run_id: str, task_id: str, timeout=60) -> None:
    """Waits until the scheduler has taken the executor's event for a task's parked attempt
    (deferred, awaiting input). In Airflow 3.3 an answer or a trigger event that resumes the
    task before then gets the resumed attempt failed by that stale event ("finished with
    state success, but the task instance's state attribute is queued";
    apache/airflow#72716); a person answering takes longer than this wait, a test does not."""
    line = (f"Received executor event with state success for task instance TaskInstanceKey("
            f"dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}'")
    deadline, seen = time.monotonic() + timeout, ''
    with open(self.logs / 'scheduler.log', errors='replace') as log:
      while line not in seen:  # only what the log gained since the last look
        if time.monotonic() > deadline:
          raise TimeoutError(f'the scheduler took no executor event for {task_id} of {run_id} '
                             f'in {timeout} s:\n{self.log_tail("scheduler")}')
        time.sleep(0.3)
        seen = seen[-len(line):] + log.read()

  def db(self, sql: str, *args) -> list[tuple]:
    """Rows of a query on the metadata DB, opened read-only."""
    con = sqlite3.connect(f'file:{self.home / "airflow.db"}?mode=ro', uri=True, timeout=30)
    try:
      return con.execute(sql, args).fetchall()
    finally:
      con.close()

  def triggerer_jobs(self) -> list[int]:
    return [r[0] for r in self.db("SELECT id FROM job WHERE job_type = 'TriggererJob'")]

  def start_triggerer(self, name: str, timeout=120) -> int:
    """Starts another triggerer; returns its job id once it has one."""
    known = set(self.triggerer_jobs())
    self.start_component('triggerer', name=name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      new = set(self.triggerer_jobs()) - known
      if new:
        return max(new)
      time.sleep(0.5)
    raise TimeoutError(f'{name}: no triggerer job after {timeout} s\n{self.log_tail(name)}')

  def trigger_holder(self, dag_id: str, run_id: str, task_id: str) -> int | None:
    """The job id of the triggerer that holds a deferred task's trigger (None: none yet)."""
    rows = self.db('SELECT t.triggerer_id FROM task_instance ti JOIN trigger t '
                   'ON t.id = ti.trigger_id WHERE ti.dag_id = ? AND ti.run_id = ? '
                   'AND ti.task_id = ?', dag_id, run_id, task_id)
    return rows[0][0] if rows else None

  def send_signal(self, name: str, sig: int) -> None:
    os.killpg(self.procs[name].pid, sig)

  def kill(self, name: str, sig=signal.SIGKILL, timeout=30) -> None:
    proc = self.procs.pop(name)
    try:
      os.killpg(proc.pid, sig)
    except ProcessLookupError:
      pass
    proc.wait(timeout=timeout)

  def stop(self) -> None:
    """Stops every component and what it started (task supervisors, workers)."""
    for name, proc in list(self.procs.items()):
      try:
        os.killpg(proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        os.killpg(proc.pid, signal.SIGTERM)
      except ProcessLookupError:
        pass
    deadline = time.monotonic() + 20
    for name, proc in list(self.procs.items()):
      try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
      except subprocess.TimeoutExpired:
        try:
          os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
        proc.wait(timeout=10)
    self.procs.clear()

  def api(self) -> AirflowApi:
    password = json.loads((self.home / 'passwords.json').read_text())['admin']
    return AirflowApi(self.url, 'admin', password)


class AirflowApi:
  """The REST API as a user's own workflow calls it."""

  def __init__(self, url: str, username: str, password: str):
    self.url = url
    self.username, self.password = username, password
    self.session = requests.Session()
    self.login()

  def login(self) -> None:
    r = requests.post(f'{self.url}/auth/token', timeout=30,
                      json={'username': self.username, 'password': self.password})
    r.raise_for_status()
    self.session.headers['Authorization'] = f'Bearer {r.json()["access_token"]}'

  def call(self, method: str, path: str, expect=(200,), **kwargs):
    r = self.session.request(method, f'{self.url}/api/v2{path}', timeout=60, **kwargs)
    if r.status_code not in expect:
      raise AssertionError(f'{method} {path}: HTTP {r.status_code}: {r.text[:2000]}')
    return r.json() if r.content else None

  def get(self, path, **kwargs):
    return self.call('GET', path, **kwargs)

  # -- DAGs and runs -----------------------------------------------------------------
  def wait_dags(self, dag_ids, timeout=120) -> dict:
    """Waits until the dag-processor has parsed these DAGs; returns them by id."""
    deadline = time.monotonic() + timeout
    while True:
      dags = {d['dag_id']: d for d in self.get('/dags', params={'limit': 100})['dags']}
      if set(dag_ids) <= set(dags):
        return dags
      if time.monotonic() > deadline:
        errors = self.get('/importErrors')
        raise TimeoutError(f'DAGs {set(dag_ids) - set(dags)} not parsed; import errors: '
                           f'{errors}')
      time.sleep(1)

  def set_paused(self, dag_id: str, paused: bool) -> None:
    self.call('PATCH', f'/dags/{dag_id}', json={'is_paused': paused})

  def trigger(self, dag_id: str, conf=None, logical_date: str | None = None,
              run_id: str | None = None) -> dict:
    body = {'conf': conf or {}, 'logical_date': logical_date}
    if run_id:
      body['dag_run_id'] = run_id
    return self.call('POST', f'/dags/{dag_id}/dagRuns', json=body)

  def run(self, dag_id: str, run_id: str) -> dict:
    return self.get(f'/dags/{dag_id}/dagRuns/{run_id}')

  def runs(self, dag_id: str) -> list[dict]:
    return self.get(f'/dags/{dag_id}/dagRuns', params={'order_by': 'run_after',
                                                        'limit': 100})['dag_runs']

  def wait_run(self, dag_id: str, run_id: str, timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
      run = self.run(dag_id, run_id)
      if run['state'] in TERMINAL_RUN_STATES:
        return run
      if time.monotonic() > deadline:
        raise TimeoutError(f'{dag_id} {run_id} still {run["state"]} after {timeout} s: '
                           f'{self.task_states(dag_id, run_id)}')
      time.sleep(1)

  def task_instances(self, dag_id: str, run_id: str) -> dict:
    out = self.get(f'/dags/{dag_id}/dagRuns/{run_id}/taskInstances', params={'limit': 100})
    return {t['task_id']: t for t in out['task_instances']}

  def task_states(self, dag_id: str, run_id: str) -> dict:
    return {k: v['state'] for k, v in self.task_instances(dag_id, run_id).items()}

  def wait_task(self, dag_id: str, run_id: str, task_id: str, states, timeout=180) -> dict:
    states = (states,) if isinstance(states, str) else tuple(states)
    deadline = time.monotonic() + timeout
    while True:
      ti = self.task_instances(dag_id, run_id).get(task_id) or {}
      if ti.get('state') in states:
        return ti
      if time.monotonic() > deadline:
        raise TimeoutError(f'{task_id} of {run_id} is {ti.get("state")}, not {states}, '
                           f'after {timeout} s')
      time.sleep(0.5)

  def xcom(self, dag_id: str, run_id: str, task_id: str, key='return_value'):
    out = self.get(f'/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/'
                   f'{key}', params={'deserialize': 'true', 'stringify': 'false'})
    return out['value']

  def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
    self.call('PATCH', f'/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}',
              json={'new_state': state})

  def clear_task(self, dag_id: str, run_id: str, task_id: str, downstream=True) -> None:
    """The UI's Clear on one task (with its downstream tasks, the UI's default)."""
    self.call('POST', f'/dags/{dag_id}/clearTaskInstances',
              json={'dry_run': False, 'task_ids': [task_id], 'dag_run_id': run_id,
                    'only_failed': False, 'reset_dag_runs': True,
                    'include_downstream': downstream})

  def set_variable(self, key: str, value) -> None:
    body = {'key': key, 'value': json.dumps(value) if not isinstance(value, str) else value}
    existing = self.session.get(f'{self.url}/api/v2/variables/{key}', timeout=30)
    if existing.status_code == 200:
      self.call('PATCH', f'/variables/{key}', json=body)
    else:
      self.call('POST', '/variables', json=body, expect=(200, 201))

  def hitl_respond(self, dag_id: str, run_id: str, task_id: str, choice: str) -> dict:
    return self.call('PATCH', f'/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/'
                     f'hitlDetails', json={'chosen_options': [choice], 'params_input': {}})

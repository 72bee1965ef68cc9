"""One real Airflow for the tests in this folder (see harness.py), seeded warehouse,
the project's DAGs plus two small DAGs of a surrounding enterprise workflow."""

import json
import sys
from pathlib import Path

import pytest
from harness import REPO, AirflowCluster

FAKE_PIPELINE = REPO / 'tests' / 'fakes' / 'pipeline.py'
# Rows copied from the sample 4 years later (2017-2020, 60 copies, ~900k rows): a window there takes
# seconds to extract, long enough to kill the task in the middle of writing its span.
BULK_COPIES = 60


def fake_pipeline_command(mode='succeed', seconds=1) -> list:
  """The local runner's command, swapped for the stand-in (tests/fakes/pipeline.py)."""
  return ['env', f'FAKE_PIPELINE_MODE={mode}', f'FAKE_PIPELINE_SECONDS={seconds}',
          sys.executable, str(FAKE_PIPELINE)]


def seed_warehouse(local_dir: Path) -> None:
  import os
  import subprocess

  env = dict(os.environ, CT_LOCAL_DIR=str(local_dir), PYTHONPATH=str(REPO / 'plugins'))
  subprocess.run([sys.executable, '-m', 'ct_platform.seed'],
                 env=env, check=True, capture_output=True)
  import duckdb

  con = duckdb.connect(str(local_dir / 'warehouse.duckdb'))
  con.execute("SET TimeZone = 'UTC'")
  con.execute(f"""
    INSERT INTO chicago_taxi_trips.taxi_trips
    SELECT t.* REPLACE (md5(unique_key || copy::VARCHAR) AS unique_key,
                      trip_start_timestamp + INTERVAL 4 YEAR AS trip_start_timestamp,
                      -- distinct copies: exact duplicates stop a run at evaluate_drift
                      COALESCE(trip_seconds, 0) + copy AS trip_seconds,
                      trip_end_timestamp + INTERVAL 4 YEAR AS trip_end_timestamp)
    FROM chicago_taxi_trips.taxi_trips AS t, range({BULK_COPIES}) AS r(copy)
    WHERE trip_start_timestamp < TIMESTAMPTZ '2017-01-01'""")
  con.close()


# Kept after the run (CI keeps build/ as files): component logs, task logs, local state,
# in cluster-<pid>/ (a concurrent session has its own); older sessions' folders go.
OUTPUT = REPO / 'build' / 'test-output' / 'airflow_e2e'


def _cluster_root() -> Path:
  import os
  import shutil

  for old in OUTPUT.glob('cluster-*'):
    pid = old.name.split('-')[-1]
    if pid.isdigit() and not Path(f'/proc/{pid}').exists():
      shutil.rmtree(old, ignore_errors=True)
  root = OUTPUT / f'cluster-{os.getpid()}'
  shutil.rmtree(root, ignore_errors=True)
  return root


PUBSUB_PROJECT, PUBSUB_SUBSCRIPTION = 'p1', 'model-monitoring-alerts'


def start_fake_pubsub(root: Path):
  """tests/fakes/pubsub.py as a process; publish by writing into <state>/outbox/."""
  import os
  import subprocess

  from fakes.http import free_port

  port, state = free_port(), root / 'pubsub'
  state.mkdir(parents=True, exist_ok=True)
  proc = subprocess.Popen([sys.executable, '-m', 'fakes.pubsub', '--port', str(port),
                           '--state', str(state)],
                          env=dict(os.environ, PYTHONPATH=str(REPO / 'tests')),
                          stdout=open(state / 'server.log', 'ab'), stderr=subprocess.STDOUT)
  return proc, port, state


@pytest.fixture(scope='session')
def cluster():
  root = _cluster_root()
  dag_files = sorted((REPO / 'dags').glob('*.py')) + sorted(
      (Path(__file__).parent / 'dags').glob('*.py'))
  pubsub, port, state = start_fake_pubsub(root)
  # Vertex AI Model Monitoring alerts come through the Pub/Sub AssetWatcher, pulled by the
  # real client from the loopback fake; model_monitoring runs when triggered only (its
  # hourly schedule would add runs the tests do not expect)
  c = AirflowCluster(root, dag_files, extra_env={
      'CT_ALERT_SUBSCRIPTION': PUBSUB_SUBSCRIPTION, 'CT_PROJECT': PUBSUB_PROJECT,
      'CT_ALERT_POLL_SECONDS': '1', 'PUBSUB_EMULATOR_HOST': f'127.0.0.1:{port}',
      'AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT': json.dumps(
          {'conn_type': 'google_cloud_platform',
           'extra': {'is_anonymous': True, 'project': PUBSUB_PROJECT}}),
      'CT_MONITORING_SCHEDULE': 'none'})
  c.pubsub_state = state
  seed_warehouse(c.local_dir)
  try:
    c.start()
    yield c
  finally:
    c.stop()
    pubsub.terminate()
    pubsub.wait(timeout=10)
    print(f'\nreal-Airflow logs: {c.logs}')


@pytest.fixture(scope='session')
def api(cluster):
  api = cluster.api()
  api.wait_dags(['continuous_training', 'rollback_model', 'model_rollout', 'ct_e2e_upstream_elt',
                 'ct_e2e_champion_consumer', 'model_monitoring', 'vertex_monitoring_alerts'])
  return api


def notifications(local_dir: Path) -> list[dict]:
  path = local_dir / 'notifications.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

"""Fixtures for the DAG tests: an Airflow home per DAG folder (migrated once per session),
a local state folder per test (warehouse, bucket, registry, runs), the stand-in pipeline.
"""

import json
import sys

import pytest
from dag_runs import FAKE_PIPELINE, REPO, make_env


@pytest.fixture(scope='session')
def airflow_env(tmp_path_factory):
  """The project's own dags/."""
  return make_env(tmp_path_factory, 'airflow-home', REPO / 'dags')


@pytest.fixture(scope='session')
def fixture_airflow_env(tmp_path_factory):
  """tests/dags/fixtures: small DAGs around the real operator, for retry semantics."""
  return make_env(tmp_path_factory, 'airflow-home-fixtures',
                   REPO / 'tests' / 'dags' / 'fixtures')


@pytest.fixture
def local_dir(tmp_path):
  path = tmp_path / 'local'
  path.mkdir()
  return path


@pytest.fixture
def fake_pipeline_env(tmp_path):
  """Settings that swap the TFX run for tests/fakes/pipeline.py (seconds, same files). A
  promotion moves the champion at once (rollout none): these test continuous training;
  test_model_rollout.py tests the canary."""
  return {'CT_LOCAL_PIPELINE_COMMAND': json.dumps([sys.executable, str(FAKE_PIPELINE)]),
          'CT_ROLLOUT': 'none',
          'CT_POLL_INTERVAL_SECONDS': '0.5',
          'FAKE_PIPELINE_COUNTER': str(tmp_path / 'pipeline-starts.txt'),
          'FAKE_PIPELINE_SECONDS': '1'}



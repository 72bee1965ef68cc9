"""Integrity of every DAG file in dags/: loads, shape, Params, parse-time hygiene."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / 'dags').glob('*.py'))
# 'google', 'grpc', 'aiohttp' and the Google provider: what an Asset URI with a
# provider-registered scheme (bigquery://) pulled into every dag-processor parse.
HEAVY = ['tensorflow', 'tfx', 'apache_beam', 'pandas', 'google', 'grpc', 'aiohttp',
         'airflow.providers.google', 'kfp', 'duckdb', 'sqlglot']


@pytest.fixture(scope='module')
def dagbag(tmp_path_factory):
  os.environ.setdefault('AIRFLOW_HOME', str(tmp_path_factory.mktemp('af')))
  from airflow.dag_processing.dagbag import DagBag
  return DagBag(str(REPO / 'dags'))


def test_every_file_imports_without_errors(dagbag):
  assert dagbag.import_errors == {}
  assert set(dagbag.dags) == {'continuous_training', 'rollback_model', 'model_rollout',
                              'model_monitoring', 'vertex_monitoring_alerts'}
  assert {Path(d.fileloc).name for d in dagbag.dags.values()} == {f.name for f in DAG_FILES}


@pytest.mark.parametrize('dag_id', ['continuous_training', 'rollback_model', 'model_rollout',
                                    'model_monitoring', 'vertex_monitoring_alerts'])
def test_dag_shape(dagbag, dag_id):
  dag = dagbag.dags[dag_id]
  assert dag.tags and dag.doc_md and dag.description
  assert dag.max_active_runs == 1 and dag.catchup is False
  assert dag.start_date == dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc)  # static
  for t in dag.tasks:
    assert t.owner == 'ml-platform', t.task_id
    assert t.execution_timeout is not None, t.task_id
  dag.topological_sort()  # raises on a cycle
  for name, param in dag.params.items():
    jsonschema.Draft7Validator.check_schema(param.schema)  # a valid JSON schema
    param.resolve(param.value)  # its default passes its own schema


def test_service_calling_steps_retry_with_backoff(dagbag):
  dag = dagbag.dags['continuous_training']
  for task_id in ('find_champion', 'extract_span', 'run_pipeline'):
    t = dag.get_task(task_id)
    assert t.retries >= 2 and t.retry_exponential_backoff, task_id
  # decisions and promotion never re-run on their own
  for task_id in ('plan_run', 'promotion_gate', 'promote', 'request_approval'):
    assert dag.get_task(task_id).retries == 0, task_id


def test_schedule_is_cron_or_the_source_asset(dagbag):
  dag = dagbag.dags['continuous_training']
  schedule = dag.timetable
  assert schedule.timetable.expression == '0 6 * * *'
  assert "name='chicago_taxi_trips.taxi_trips'" in repr(schedule.asset_condition)
  # and whenever monitoring asks for a retraining
  assert "name='chicago-taxi-tipper.retrain_request'" in repr(schedule.asset_condition)
  assert dagbag.dags['rollback_model'].schedule is None
  promote = dag.get_task('promote')
  assert [o.name for o in promote.outlets] == ['chicago-taxi-tipper.champion']
  nominate = dag.get_task('nominate_challenger')
  assert [o.name for o in nominate.outlets] == ['chicago-taxi-tipper.challenger']
  rollout = dagbag.dags['model_rollout']
  assert "name='chicago-taxi-tipper.challenger'" in repr(rollout.timetable.asset_condition)
  assert [o.name for o in rollout.get_task('full_rollout').outlets] == [
      'chicago-taxi-tipper.champion']
  # the canary's wait holds no worker slot
  assert rollout.get_task('wait_for_canary').__class__.__name__ == 'WaitForCanaryOperator'
  monitoring = dagbag.dags['model_monitoring']
  assert monitoring.timetable.expression == '0 * * * *'  # @hourly
  assert [o.name for o in monitoring.get_task('request_retrain').outlets] == [
      'chicago-taxi-tipper.retrain_request']
  assert monitoring.get_task('update_dashboard').trigger_rule == 'all_done'
  alerts = dagbag.dags['vertex_monitoring_alerts']
  assert "name='chicago-taxi-tipper.vertex_monitoring_alert'" in repr(
      alerts.timetable.asset_condition)
  assert [o.name for o in alerts.get_task('request_retrain').outlets] == [
      'chicago-taxi-tipper.retrain_request']


WATCHER_CHECK = r'''
import importlib.util, json, sys
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location('dagfile', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps([[w.name, type(w.trigger).__name__, w.trigger.serialize()[1]]
                  for w in module.VERTEX_MONITORING_ALERT.watchers]))
'''


@pytest.mark.parametrize('subscription', ['', 'ct-alerts'])
def test_the_alert_asset_watches_pubsub_only_when_a_subscription_is_set(subscription, tmp_path):
  env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), CT_ALERT_SUBSCRIPTION=subscription,
             CT_PROJECT='p1', CT_ALERT_POLL_SECONDS='5')
  proc = subprocess.run([sys.executable, '-c', WATCHER_CHECK,
                         str(REPO / 'dags' / 'vertex_monitoring_alerts.py'),
                         str(REPO / 'plugins')], capture_output=True, text=True, timeout=120,
                        env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  watchers = json.loads(proc.stdout.strip().splitlines()[-1])
  if not subscription:
    assert watchers == []  # and the parse imports no Pub/Sub client (the check below)
    return
  [[name, kind, kwargs]] = watchers
  assert name == 'vertex-model-monitoring-pubsub' and kind == 'MessageQueueTrigger'
  assert kwargs['subscription'] == 'ct-alerts' and kwargs['project_id'] == 'p1'
  assert kwargs['ack_messages'] is True and kwargs['poke_interval'] == 5.0
  assert kwargs['return_immediately'] is False  # waits for messages instead of polling empty


PARSE_CHECK = r'''
import importlib.util, json, sys, time
sys.path.insert(0, sys.argv[2])
import airflow.sdk
from airflow.sdk import Variable, Connection
def refuse(*a, **k):
    raise RuntimeError('Variable/Connection read at parse time')
Variable.get = refuse
Connection.get = refuse
before = set(sys.modules)
spec = importlib.util.spec_from_file_location('dagfile', sys.argv[1])
module = importlib.util.module_from_spec(spec)
started = time.perf_counter()
spec.loader.exec_module(module)
print(json.dumps({'heavy': sorted(m for m in set(sys.modules) - before
                                  if any(m == h or m.startswith(h + '.') for h in sys.argv[3:])),
                  'seconds': time.perf_counter() - started}))
'''


@pytest.mark.parametrize('dag_file', DAG_FILES, ids=lambda p: p.name)
def test_parse_loads_nothing_heavy_and_reads_no_variables(dag_file, tmp_path):
  proc = subprocess.run([sys.executable, '-c', PARSE_CHECK, str(dag_file),
                         str(REPO / 'plugins'), *HEAVY],
                        capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, AIRFLOW_HOME=str(tmp_path)))
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result['heavy'] == []

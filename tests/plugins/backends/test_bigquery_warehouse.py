"""The BigQuery warehouse with the provider's operator and google-cloud-bigquery above a
local server answering as BigQuery does (tests/fakes/bigquery.py, reached through the
library's BIGQUERY_EMULATOR_HOST), and the span on gcp-storage-emulator."""

import datetime as dt
import json

import pytest
from fakes.bigquery import FakeBigQuery  # noqa: E402
from fakes.http import create_test_bucket  # noqa: E402

from ct_platform import storage  # noqa: E402
from ct_platform.backends.bigquery_warehouse import SPAN_KEY, BigQueryWarehouse  # noqa: E402
from ct_platform.window import TrainingWindow  # noqa: E402

WINDOW = TrainingWindow(dt.date(2016, 1, 1), dt.date(2016, 2, 1), 'param')
TABLE = 'bigquery-public-data.chicago_taxi_trips.taxi_trips'


@pytest.fixture
def env(emulator, monkeypatch, request):
  fake = FakeBigQuery()
  monkeypatch.setenv('STORAGE_EMULATOR_HOST', emulator)
  monkeypatch.setenv('BIGQUERY_EMULATOR_HOST', fake.endpoint)
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))
  storage._client.cache_clear()
  yield fake, create_test_bucket(request.node.name)
  fake.close()


class Store(dict):
  def set(self, key, value, **kwargs):
    self[key] = value

  def delete(self, key):
    self.pop(key, None)


class TI:
  task_id = 'extract_span'

  def __init__(self, try_number):
    self.try_number, self.stats_tags, self.xcoms = try_number, {}, {}

  def xcom_push(self, key, value):
    self.xcoms[key] = value


def warehouse():
  return BigQueryWarehouse(TABLE, project='p1', location='US')


def test_query_parameters_are_bound_never_formatted(env):
  fake, bucket = env
  warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try1', {},
                           context={'ti': TI(1), 'task_state_store': Store()})
  (_, path, _, body), = fake.inserts()
  assert path == '/bigquery/v2/projects/p1/jobs'
  query = body['configuration']['query']
  assert query['parameterMode'] == 'NAMED' and query['useLegacySql'] is False
  assert {p['name']: p['parameterValue']['value'] for p in query['queryParameters']} == {
      'window_start': '2016-01-01', 'window_end': '2016-02-01'}
  text = query['query']
  assert 'TIMESTAMP(@window_start)' in text and 'TIMESTAMP(@window_end)' in text
  assert '2016-01-01' not in text and '2016-02-01' not in text
  assert text.startswith(f"EXPORT DATA OPTIONS (uri = 'gs://{bucket}/spans/w/r-try1/part-*.csv'")
  assert f'FROM `{TABLE}`' in text


def test_export_lands_in_a_new_span_folder_with_the_manifest_last(env):
  from google.cloud import storage as gcs

  fake, bucket = env
  uri = f'gs://{bucket}/spans/w/r-try1'
  manifest = warehouse().extract_span(WINDOW, uri, {'airflow_run_id': 'r'},
                                      context={'ti': TI(1), 'task_state_store': Store()})
  assert manifest['rows'] == 2 and manifest['files'] == ['part-000000000000.csv']
  assert manifest['columns'][:2] == ['pickup_community_area', 'fare']
  blobs = {b.name: b for b in gcs.Client().list_blobs(bucket)}
  part, mark = blobs['spans/w/r-try1/part-000000000000.csv'], blobs['spans/w/r-try1/_MANIFEST.json']
  assert mark.time_created >= part.time_created
  assert json.loads(mark.download_as_text())['bigquery_job_id'] == manifest['bigquery_job_id']
  with pytest.raises(ValueError, match='immutable'):  # a span is never written twice
    warehouse().extract_span(WINDOW, uri, {}, context={'ti': TI(1), 'task_state_store': Store()})


def test_a_retry_reattaches_to_the_recorded_job(env):
  from google.api_core.exceptions import BadRequest

  fake, bucket = env
  store = Store()
  fake.mode, fake.fail_gets = 'RUNNING', 1
  with pytest.raises(BadRequest):  # attempt 1 dies while the job runs
    warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try1', {},
                             context={'ti': TI(1), 'task_state_store': store})
  job_id = store['bigquery_job_id']
  assert job_id and store[SPAN_KEY] == f'gs://{bucket}/spans/w/r-try1'
  fake.mode = 'DONE'
  manifest = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try2', {},
                                      context={'ti': TI(2), 'task_state_store': store})
  assert len(fake.inserts()) == 1  # one job in the server's log, not two
  assert manifest['uri'] == f'gs://{bucket}/spans/w/r-try1'  # the folder that job wrote
  assert manifest['bigquery_job_id'] == job_id and not store  # records dropped when done


def test_a_clear_after_success_runs_a_new_job_into_a_new_span(env):
  fake, bucket = env
  store = Store()
  first = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try1', {},
                                   context={'ti': TI(1), 'task_state_store': store})
  assert not store  # both records dropped on success
  second = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try2', {},
                                    context={'ti': TI(2), 'task_state_store': store})
  assert len(fake.inserts()) == 2 and second['bigquery_job_id'] != first['bigquery_job_id']
  assert second['files'] == ['part-000000000000.csv']


def test_an_empty_window_gives_a_complete_span_with_zero_rows(env):
  fake, bucket = env
  fake.export_rows = []
  manifest = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/empty', {},
                                      context={'ti': TI(1), 'task_state_store': Store()})
  assert manifest['rows'] == 0 and manifest['complete']


def test_the_span_must_be_on_gcs(env):
  with pytest.raises(ValueError, match='gs:// folder only'):
    warehouse().export_sql('/tmp/local/span')


def test_drift_profile_runs_in_bigquery_with_bound_parameters(env):
  from ct_platform import drift

  fake, _ = env
  fake.dry_run_schema = [{'name': 'fare', 'type': 'FLOAT'},
                         {'name': 'payment_type', 'type': 'STRING'},
                         {'name': 'trip_start_timestamp', 'type': 'INTEGER'}]
  fake.query_schema = [{'name': n, 'type': t} for n, t in (
      ('feature', 'STRING'), ('kind', 'STRING'), ('value_key', 'STRING'), ('n', 'INTEGER'),
      ('lo', 'FLOAT'), ('hi', 'FLOAT'))]
  rows = [['', 'rows', None, '10', None, None], ['fare', 'range', None, '10', '1.0', '10.0']]
  # BigQuery's TO_JSON_STRING of APPROX_QUANTILES(fare, 200): 201 fine quantiles
  fine = [1.0 + 9.0 * j / 200 for j in range(201)]
  rows += [['fare', 'quantiles', json.dumps(fine), '10', '1.0', '10.0']]
  rows += [['payment_type', 'distinct', None, '10', '2', None],
           ['payment_type', 'value', 'Cash', '6', None, None],
           ['payment_type', 'value', 'Credit Card', '4', None, None]]
  fake.query_rows = rows
  profile = drift.profile_window(warehouse(), WINDOW, drift.load_drift_config())
  assert profile['rows'] == 10 and profile['warehouse'] == 'bigquery'
  assert profile['columns'] == {'fare': 'FLOAT64', 'payment_type': 'STRING',
                                'trip_start_timestamp': 'INT64'}
  fare = profile['features']['fare']['histogram']
  assert [b[2] for b in fare] == [1.0] * 10  # ten distinct fares, one a bucket
  assert [b[0] for b in fare] == pytest.approx([1.0 + 0.9 * k for k in range(10)])
  assert 'APPROX_QUANTILES(c0__x, 200)' in fake.inserts()[-1][3]['configuration'][
      'query']['query']
  assert profile['features']['payment_type']['values'] == {'Cash': 6, 'Credit Card': 4}
  dry, real = [e[3]['configuration'] for e in fake.inserts()]
  assert dry['dryRun'] is True and 'APPROX_QUANTILES' in real['query']['query']
  assert '@window_start' in real['query']['query'] and '2016-01-01' not in real['query']['query']


def test_killing_the_extract_task_cancels_the_bigquery_job(env):
  import threading
  import time

  from ct_platform.operators.extract_span import ExtractSpanOperator

  fake, bucket = env
  fake.mode = 'RUNNING'
  op = ExtractSpanOperator(task_id='extract_span', plan={'window': WINDOW.as_dict()},
                           settings_overrides={'warehouse': 'bigquery', 'project': 'p1',
                                               'bucket': f'gs://{bucket}'})
  ti = TI(1)
  ti.run_id = 'manual__2026-11-25T00:00:00+00:00'
  errors = []

  def run():
    try:
      op.execute({'ti': ti, 'task_state_store': Store()})
    except Exception as e:  # noqa: BLE001
      errors.append(e)
  worker = threading.Thread(target=run, daemon=True)
  worker.start()
  for _ in range(100):
    if fake.inserts() and getattr(op._warehouse, 'running_job', None) is not None:
      break
    time.sleep(0.1)
  time.sleep(0.5)
  op.on_kill()
  cancels = [e for e in fake.log if e[0] == 'POST' and e[1].endswith('/cancel')]
  assert len(cancels) == 1
  jid = fake.inserts()[0][3]['jobReference']['jobId']
  assert cancels[0][1] == f'/bigquery/v2/projects/p1/jobs/{jid}/cancel'
  worker.join(timeout=30)
  assert not worker.is_alive() and 'cancelled' in str(errors[0])  # the task fails


def test_a_source_table_without_a_needed_column_fails_before_any_job(env):
  from ct_platform import tasks
  from ct_platform.config import load_settings
  from ct_platform.sql import SourceTableError

  fake, bucket = env
  settings = load_settings({'warehouse': 'bigquery', 'bucket': f'gs://{bucket}',
                            'project': 'p1'}, use_variable=False)
  plan = {'window': {'start': '2016-01-01', 'end': '2016-02-01', 'source': 'param'}}
  full = fake.table_schema
  fake.table_schema = [f for f in full if f['name'] != 'payment_type']
  with pytest.raises(SourceTableError, match=r'source table '
                     r'bigquery-public-data\.chicago_taxi_trips\.taxi_trips lacks column '
                     r'payment_type, which sql/training_window\.sql reads'):
    tasks.extract_span(plan, 'manual__1', 1, settings,
                       context={'ti': TI(1), 'task_state_store': Store()},
                       warehouse=warehouse())
  assert fake.inserts() == []  # no export job was started
  probe, = fake.inserts(probes=True)
  assert probe[3]['configuration']['dryRun'] is True
  fake.table_schema = full  # the whole table: the same call extracts
  manifest = tasks.extract_span(plan, 'manual__1', 2, settings,
                                context={'ti': TI(2), 'task_state_store': Store()},
                                warehouse=warehouse())
  assert manifest['rows'] == 2 and len(fake.inserts()) == 1


def test_a_crash_between_submit_and_its_record_reattaches_to_the_same_job(env,
                                                                         monkeypatch):
  import threading

  from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

  fake, bucket = env
  submit = BigQueryInsertJobOperator._submit_job

  def submit_then_die(self, hook, job_id):
    submit(self, hook, job_id)  # the job exists in BigQuery now ...
    raise RuntimeError('worker died before recording the job')  # ... and nobody knows

  for window, state_at_retry in (('a', 'DONE'), ('b', 'RUNNING')):
    fake.mode = state_at_retry
    store = Store()
    def jobs():  # distinct export jobs (a re-attach may POST once more and get a 409)
      return {e[3]['jobReference']['jobId'] for e in fake.inserts()}
    before = jobs()
    monkeypatch.setattr(BigQueryInsertJobOperator, '_submit_job', submit_then_die)
    with pytest.raises(RuntimeError, match='worker died'):
      warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/{window}/r-try1', {},
                               context={'ti': TI(1), 'task_state_store': store})
    assert BigQueryInsertJobOperator.external_id_key not in store  # the provider's: lost
    job_id = store['ct_extract_job_id']  # ours: recorded before submitting
    monkeypatch.setattr(BigQueryInsertJobOperator, '_submit_job', submit)
    if state_at_retry == 'RUNNING':  # the retry waits on the job, then it finishes
      threading.Timer(1.5, lambda: setattr(fake, 'mode', 'DONE')).start()
    manifest = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/{window}/r-try2', {},
                                        context={'ti': TI(2), 'task_state_store': store})
    assert len(jobs() - before) == 1, state_at_retry  # one job, not two
    assert not [c for c in fake.log if c[0] == 'POST' and c[1].endswith('/cancel')]
    assert manifest['bigquery_job_id'] == job_id
    assert manifest['uri'] == f'gs://{bucket}/spans/{window}/r-try1'  # the job's folder


def test_a_failed_export_never_leaves_its_parts_in_the_retried_span(env):
  from google.cloud import storage as gcs

  fake, bucket = env
  store = Store()
  fake.mode = 'FAILED'
  with pytest.raises(Exception, match='Syntax error'):
    warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try1', {},
                             context={'ti': TI(1), 'task_state_store': store})
  gcs.Client().bucket(bucket).blob('spans/w/r-try1/part-000000000007.csv').upload_from_string(
      'stale,half\n')  # what the failed export job may have left behind
  fake.mode = 'DONE'
  manifest = warehouse().extract_span(WINDOW, f'gs://{bucket}/spans/w/r-try2', {},
                                      context={'ti': TI(2), 'task_state_store': store})
  assert manifest['uri'] == f'gs://{bucket}/spans/w/r-try2'  # a new folder, a new job
  assert manifest['files'] == ['part-000000000000.csv']
  first, second = [e[3]['jobReference']['jobId'] for e in fake.inserts()]
  assert first != second and 'r-try2' in second

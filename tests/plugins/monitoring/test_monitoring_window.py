"""What a monitoring run reads, by the real queries: BigQuery SQL run by DuckDB over the
log's Parquet parts, with the seeded warehouse attached for the label join."""

import datetime as dt
import json

import pytest
from fakes import monitoring

UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope='module')
def served(tmp_path_factory):
  """A champion, 600 trips of its training window served with informed scores, 5
  requests of another deployed model, 20 refused ones, and 50 trips after the window."""
  local = tmp_path_factory.mktemp('monitoring-window')
  settings = monitoring.seed(local)
  monitoring.register_champion(local)
  rows = monitoring.trips(local, dt.date(2013, 1, 1), 1095, 600)
  scores = monitoring.scores(rows)
  monitoring.write_log(local, rows, scores, UNTIL, rejected=20)
  monitoring.write_log(local, rows[:5], [0.5] * 5, UNTIL, version=2, name='part-v2.parquet')
  later = UNTIL + dt.timedelta(hours=2)
  monitoring.write_log(local, rows[:50], scores[:50], later, name='part-later.parquet')
  return local, settings, rows, scores


def plan(settings, **params):
  from ct_platform.monitoring import steps
  return steps.plan_window(dict({'window_end': UNTIL.isoformat()}, **params), UNTIL,
                           'manual__monitoring-test', settings)


def test_the_window_holds_the_champions_answered_instances_and_their_labels(served):
  from ct_platform.monitoring import steps
  local, settings, rows, scores = served
  read = steps.read_window(plan(settings), settings)
  assert read['champion']['version'] == 1 and read['champion']['deployed_id'] == 'v1'
  assert read['instances'] == 600 and read['keyed'] == 600  # not v2's, not the later ones
  assert read['profile']['rows'] == 600
  assert sorted(read['profile']['features']) == monitoring.FEATURES  # the label is not sent
  assert [c for _, _, c in read['scores']] == [c for _, _, c in monitoring.histogram(scores)]
  labelled = [label for _, label in rows if label is not None]
  assert sum(r['positives'] for r in read['labelled']) == sum(labelled)
  assert sum(r['positives'] + r['negatives'] for r in read['labelled']) == len(labelled)
  by_model = {t['deployed_model_id']: t['requests'] for t in read['traffic']}
  assert by_model == {'v1': 600, 'v2': 5, None: 20}
  assert read['previous_scores'] == [[i / 10, (i + 1) / 10, 0.0] for i in range(10)]
  # where a retraining should end its window: the day after the newest labelled trip
  newest = max(dt.datetime.fromtimestamp(i['trip_start_timestamp'], dt.timezone.utc).date()
               for i, label in rows if label is not None)
  assert steps.data_until(read['labelled']) == (newest + dt.timedelta(days=1)).isoformat()


def test_a_shifted_feature_is_skew_and_the_report_draws_it(served, tmp_path):
  from ct_platform.monitoring import steps
  local, settings, rows, scores = served
  shifted = monitoring.seed(tmp_path)  # a second local state, same warehouse and champion
  monitoring.register_champion(tmp_path)
  monitoring.write_log(tmp_path, rows, scores, UNTIL,
                       change=lambda i: dict(i, fare=(i['fare'] or 0) * 4 + 20))
  p = plan(shifted)
  result = steps.evaluate(p, steps.read_window(p, shifted), shifted)
  assert result['statuses']['skew'] == 'crossed', result
  assert [r['key'] for r in result['verdict']['reasons']] == ['skew:fare']
  assert result['verdict']['reasons'][0]['text'].startswith('skew on fare (JSD ')
  record = json.loads(open(result['json']).read())
  assert record['window'] == {'since': '2026-11-30T00:00:00+00:00',
                              'until': '2026-12-01T00:00:00+00:00', 'window_hours': 24.0}
  page = open(result['report']).read()
  assert 'RETRAIN REQUESTED' in page and 'skew on fare (JSD' in page
  assert page.count('<svg') >= 2  # skew per feature, the score distribution


def test_a_bad_window_end_is_named(served):
  _, settings, _, _ = served
  with pytest.raises(ValueError, match=r"window_end: '1 Dec' is not an ISO date-time"):
    plan(settings, window_end='1 Dec')


VERTEX_LOG = 'ct-test-project.ct_monitoring.prediction_log'


@pytest.fixture
def vertex_log(served, tmp_path, monkeypatch):
  """The same requests as Vertex AI's request-response logging table would hold them (the
  Endpoint's resource name, numeric deployed model ids, none of the local-only columns),
  served by the BigQuery fake, which runs the queries on DuckDB with the warehouse's trips
  under their BigQuery name; the real client (through the provider's hook) above it."""
  import duckdb
  from fakes.bigquery import FakeBigQuery

  local, settings, _, _ = served
  table = tmp_path / 'vertex-log.duckdb'
  con = duckdb.connect(str(table))
  con.execute('CREATE SCHEMA ct_monitoring')
  parts = sorted(str(p) for p in settings.prediction_log_dir.glob('*.parquet'))
  con.execute(
      "CREATE TABLE ct_monitoring.prediction_log AS SELECT "
      "'projects/123456789/locations/us-central1/endpoints/' || endpoint AS endpoint, "
      "replace(deployed_model_id, 'v', '') AS deployed_model_id, "
      "CAST(logging_time AS TIMESTAMP) AS logging_time, CAST(request_id AS DECIMAL(38, 0)) "
      "AS request_id, request_payload, response_payload "
      "FROM read_parquet(?, union_by_name = true) WHERE status_code < 400", [parts])
  con.close()

  def engine():
    db = settings.warehouse_file
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute(f"ATTACH '{db}' AS \"bigquery-public-data\" (READ_ONLY)")
    c.execute(f"ATTACH '{table}' AS \"ct-test-project\" (READ_ONLY)")
    return c

  fake = FakeBigQuery()
  fake.engine = engine
  monkeypatch.setenv('BIGQUERY_EMULATOR_HOST', fake.endpoint)
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform',
       'extra': {'is_anonymous': True, 'project': 'ct-test-project'}}))
  yield fake
  fake.close()


def test_vertex_ais_logging_table_in_bigquery_gives_what_the_local_log_gives(served, vertex_log):
  from ct_platform.config import load_settings
  from ct_platform.drift import load_drift_config
  from ct_platform.monitoring import steps, window

  local, settings, _, _ = served
  gcp = load_settings({'profile': 'gcp', 'endpoint': 'vertex', 'project': 'ct-test-project',
                       'bucket': 'gs://b',
                       'prediction_log_table': f'bq://{VERTEX_LOG}'}, use_variable=False)
  log = window.prediction_log_for(gcp)
  assert isinstance(log, window.BigQueryPredictionLog)
  assert (log.table, log.endpoint) == (VERTEX_LOG, 'chicago-taxi-tipper')
  p = plan(settings)
  champion = json.loads((local / 'registry' / 'chicago-taxi-tipper' / 'versions' / '1' /
                         'metadata.json').read_text())
  config = load_drift_config()
  types = window.feature_types(champion['drift_baseline']['profile'], config)
  bounds = {k: dt.datetime.fromisoformat(p[k]) for k in ('since', 'until', 'previous_since')}

  def read(log, deployed_id):
    return steps._jsonable(window.read_window(
        log, endpoint=log.endpoint, deployed_id=deployed_id, types=types,
        key_field=steps.EXAMPLE_KEY, since=bounds['since'], until=bounds['until'],
        config=config, previous_since=bounds['previous_since']))

  on_bigquery = read(log, '1')
  here = read(window.prediction_log_for(settings), 'v1')
  assert len(vertex_log.inserts()) >= 6  # each aggregate was a query job on "BigQuery"
  assert on_bigquery['instances'] == here['instances'] == 600
  assert on_bigquery['keyed'] == here['keyed'] == 600
  assert on_bigquery['scores'] == here['scores']
  assert on_bigquery['previous_scores'] == here['previous_scores']
  assert sorted(map(str, on_bigquery['labelled'])) == sorted(map(str, here['labelled']))
  assert on_bigquery['profile'] == here['profile']
  # traffic per deployed model: Vertex AI logs no refused request
  assert {t['deployed_model_id']: t['requests'] for t in on_bigquery['traffic']} == {
      '1': 600, '2': 5}
  # no latency column in Vertex AI's table: said, not a failure
  assert 'latency_ms' in on_bigquery['latency'][0]['error']


def test_the_prediction_log_must_be_read_where_the_endpoint_writes_it(served):
  from ct_platform.config import load_settings
  from ct_platform.monitoring import window

  mixed = load_settings({'endpoint': 'vertex', 'project': 'ct-test-project'},
                        use_variable=False)
  with pytest.raises(ValueError, match="endpoint 'vertex' with warehouse 'duckdb'"):
    window.prediction_log_for(mixed)
  bad = load_settings({'profile': 'gcp', 'endpoint': 'vertex', 'project': 'ct-test-project',
                       'bucket': 'gs://b',
                       'prediction_log_table': 'bq://not a table'}, use_variable=False)
  with pytest.raises(ValueError, match=r"prediction_log_table: 'bq://not a table' is not"):
    window.prediction_log_for(bad)


def test_the_canarys_label_join_gives_the_same_counts_on_bigquery_and_locally(served,
                                                                              vertex_log):
  """model_labelled_counts (the canary's per-model join, no feature columns)."""
  from ct_platform.config import load_settings
  from ct_platform.monitoring import steps, window

  local, settings, rows, _ = served
  gcp = load_settings({'profile': 'gcp', 'endpoint': 'vertex', 'project': 'ct-test-project',
                       'bucket': 'gs://b',
                       'prediction_log_table': f'bq://{VERTEX_LOG}'}, use_variable=False)
  since, until = UNTIL - dt.timedelta(hours=2), UNTIL
  on_bigquery = window.model_labelled_counts(window.prediction_log_for(gcp), '1',
                                             steps.EXAMPLE_KEY, since, until)
  here = window.model_labelled_counts(window.prediction_log_for(settings), 'v1',
                                      steps.EXAMPLE_KEY, since, until)
  assert sorted(map(str, on_bigquery)) == sorted(map(str, here))
  labelled = [label for _, label in rows if label is not None]
  assert sum(r['positives'] + r['negatives'] for r in here) == len(labelled)
  assert sum(r['positives'] for r in here) == sum(labelled)

"""The training-window SQL: BigQuery dialect, run for real on DuckDB."""

import datetime as dt

import duckdb
import pytest
import sqlglot

from ct_platform import sql
from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
from ct_platform.window import resolve_window

TABLE = 'bigquery-public-data.chicago_taxi_trips.taxi_trips'


@pytest.fixture(scope='module')
def warehouse(tmp_path_factory):
  """A tiny DuckDB fixture shaped like the public table (3 known trips)."""
  path = tmp_path_factory.mktemp('wh') / 'warehouse.duckdb'
  con = duckdb.connect(str(path))
  con.execute("SET TimeZone='UTC'")
  con.execute('CREATE SCHEMA chicago_taxi_trips')
  from ct_platform.backends.duckdb_warehouse import TAXI_TRIPS_COLUMNS
  con.execute('CREATE TABLE chicago_taxi_trips.taxi_trips (' +
              ', '.join(f'{n} {t}' for n, t in TAXI_TRIPS_COLUMNS) + ')')
  rows = [  # (unique_key, start, fare, tips, payment_type)
      ('a', '2016-05-16 19:45:00+00', 12.45, 3.0, 'Credit Card'),   # a Monday
      ('b', '2016-05-14 23:59:59+00', 5.0, 0.0, "O'Hare Cash"),     # a Saturday
      ('c', '2016-05-17 00:00:00+00', 7.0, 2.0, 'Cash'),            # on the end bound
  ]
  for key, start, fare, tips, payment in rows:
    con.execute('INSERT INTO chicago_taxi_trips.taxi_trips (unique_key, trip_start_timestamp, '
                'fare, tips, payment_type) VALUES (?, CAST(? AS TIMESTAMPTZ), ?, ?, ?)',
                [key, start, fare, tips, payment])
  con.close()
  return DuckDBWarehouse(path, TABLE)


def test_sql_parses_as_bigquery_with_window_parameters():
  text = sql.load('training_window', TABLE)
  tree = sqlglot.parse_one(text, read='bigquery')
  assert tree.find(sqlglot.exp.Table).sql(dialect='bigquery') == f'`{TABLE}`'
  assert sql.parameters(text) == {'window_start', 'window_end'}


def test_window_rows_and_bigquery_semantics_on_duckdb(warehouse):
  names, rows = warehouse.query('training_window', {'window_start': '2016-05-14',
                                                    'window_end': '2016-05-17'})
  got = [dict(zip(names, r)) for r in rows]
  assert [r['fare'] for r in got] == [5.0, 12.45]  # ordered by start; end exclusive
  monday = got[1]
  # BigQuery: DAYOFWEEK Sunday=1 .. Saturday=7 (DuckDB alone would say 1 for Monday)
  assert (monday['trip_start_day'], monday['trip_start_hour'],
          monday['trip_start_month']) == (2, 19, 5)
  assert got[0]['trip_start_day'] == 7
  assert monday['trip_start_timestamp'] == int(
      dt.datetime(2016, 5, 16, 19, 45, tzinfo=dt.timezone.utc).timestamp())


def test_a_quote_in_a_value_never_reaches_sql_text(warehouse):
  hostile = "2016-05-14' OR '1'='1"
  text = sql.load('training_window', TABLE)
  assert hostile not in sql.to_duckdb(text)
  with pytest.raises(duckdb.Error):  # bound as a value: not a timestamp, so it fails
    warehouse.query('training_window', {'window_start': hostile, 'window_end': '2016-05-17'})


def test_table_id_is_checked():
  with pytest.raises(ValueError, match='source_table'):
    sql.load('training_window', 'x; DROP TABLE y')


def test_extract_writes_span_with_manifest_last(warehouse, tmp_path):
  from ct_platform.spans import SpanError, read_manifest
  window = resolve_window(window_end='2016-05-17', window_days=3)
  uri = str(tmp_path / 'span')
  manifest = warehouse.extract_span(window, uri, {'airflow_run_id': 'r'})
  assert manifest['rows'] == 2 and manifest['complete']
  assert read_manifest(uri)['files'] == ['part-00000.csv']
  lines = (tmp_path / 'span' / 'part-00000.csv').read_text().splitlines()
  assert lines[0].startswith('pickup_community_area,fare,') and len(lines) == 3
  with pytest.raises(SpanError, match='immutable'):
    warehouse.extract_span(window, uri, {})
  (tmp_path / 'half').mkdir()
  with pytest.raises(SpanError, match='incomplete'):
    read_manifest(str(tmp_path / 'half'))


def test_empty_window(warehouse, tmp_path):
  window = resolve_window(window_end='2010-01-01', window_days=30)
  manifest = warehouse.extract_span(window, str(tmp_path / 'empty'), {})
  assert manifest['rows'] == 0


def test_prune_keeps_newest_and_the_champions_span(tmp_path):
  from ct_platform.spans import SpanWriter, prune_spans
  uris = []
  for i in (3, 1, 2, 0):  # written in this order: run0 is the newest, run3 the oldest
    writer = SpanWriter(str(tmp_path / 'spans' / 'w1' / f'run{i}'))
    writer.finish({'rows': i})
    uris.append(writer.uri)
  uris = [uris[3], uris[1], uris[2], uris[0]]  # by name: run0, run1, run2, run3
  (tmp_path / 'spans' / 'w1' / 'half-written').mkdir()  # no manifest: may be in flight
  deleted = prune_spans(str(tmp_path), keep_per_window=1, protected={uris[3]})
  assert sorted(deleted) == sorted([uris[1], uris[2]])  # run0 newest kept, run3 protected
  left = sorted(p.name for p in (tmp_path / 'spans' / 'w1').iterdir())
  assert left == ['half-written', 'run0', 'run3']


def test_the_columns_the_extract_needs_come_from_its_parse_tree():
  from ct_platform import sql

  table = 'bigquery-public-data.chicago_taxi_trips.taxi_trips'
  needed = sql.referenced_columns('training_window', table)
  assert {'fare', 'tips', 'payment_type', 'trip_start_timestamp', 'company'} <= needed
  # derived outputs are not source columns
  assert not needed & {'trip_start_hour', 'trip_start_month', 'trip_start_day'}
  assert len(needed) == 15
  columns = {c: 'DOUBLE' for c in needed | {'unique_key'}}
  sql.check_source_columns('training_window', table, columns)  # all there: fine
  for gone in ('tips', 'company'):
    columns.pop(gone)
  with pytest.raises(sql.SourceTableError, match=r'lacks columns company, tips, which '
                     r'sql/training_window\.sql reads; it has: .*unique_key'):
    sql.check_source_columns('training_window', table, columns)
  with pytest.raises(sql.SourceTableError, match='does not exist or has no columns'):
    sql.check_source_columns('training_window', table, {})

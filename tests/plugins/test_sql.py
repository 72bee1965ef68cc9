"""The training-window SQL: BigQuery dialect, run for real on DuckDB."""

import datetime as dt

import duckdb
import pytest
import sqlglot

from ct_platform import sql

TABLE = 'bigquery-public-data.chicago_taxi_trips.taxi_trips'


def test_sql_parses_as_bigquery_with_window_parameters():
  text = sql.load('training_window', TABLE)
  tree = sqlglot.parse_one(text, read='bigquery')
  assert tree.find(sqlglot.exp.Table).sql(dialect='bigquery') == f'`{TABLE}`'
  assert sql.parameters(text) == {'window_start', 'window_end'}


def test_window_rows_and_bigquery_semantics_on_duckdb(duckdb_warehouse):
  names, rows = duckdb_warehouse.query('training_window', {'window_start': '2016-05-14',
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


def test_a_quote_in_a_value_never_reaches_sql_text(duckdb_warehouse):
  hostile = "2016-05-14' OR '1'='1"
  text = sql.load('training_window', TABLE)
  assert hostile not in sql.to_duckdb(text)
  with pytest.raises(duckdb.Error):  # bound as a value: not a timestamp, so it fails
    duckdb_warehouse.query('training_window', {'window_start': hostile, 'window_end': '2016-05-17'})


def test_table_id_is_checked():
  with pytest.raises(ValueError, match='source_table'):
    sql.load('training_window', 'x; DROP TABLE y')


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

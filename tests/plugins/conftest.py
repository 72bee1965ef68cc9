import duckdb
import pytest


@pytest.fixture(scope='module')
def duckdb_warehouse(tmp_path_factory):
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
  from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
  return DuckDBWarehouse(path, 'bigquery-public-data.chicago_taxi_trips.taxi_trips')


@pytest.fixture(scope='session')
def emulator():
  """gcp-storage-emulator, one per test process, shared by every gs:// test."""
  from fakes.http import gcs_emulator
  with gcs_emulator() as url:
    yield url

"""The local warehouse: a DuckDB file shaped like the public BigQuery table.

The production SQL (BigQuery dialect) runs unchanged: the file is attached under the
BigQuery project name, so `bigquery-public-data.chicago_taxi_trips.taxi_trips`
resolves, and sqlglot transpiles the text (ct_platform.sql).
"""

from __future__ import annotations

import csv
import os
import tempfile
import uuid
from pathlib import Path

from ct_platform import sql
from ct_platform.config import check_memory_limit
from ct_platform.spans import SpanWriter

# Columns and types of bigquery-public-data.chicago_taxi_trips.taxi_trips.
TAXI_TRIPS_COLUMNS = [
    ('unique_key', 'VARCHAR'), ('taxi_id', 'VARCHAR'),
    ('trip_start_timestamp', 'TIMESTAMPTZ'), ('trip_end_timestamp', 'TIMESTAMPTZ'),
    ('trip_seconds', 'BIGINT'), ('trip_miles', 'DOUBLE'),
    ('pickup_census_tract', 'BIGINT'), ('dropoff_census_tract', 'BIGINT'),
    ('pickup_community_area', 'BIGINT'), ('dropoff_community_area', 'BIGINT'),
    ('fare', 'DOUBLE'), ('tips', 'DOUBLE'), ('tolls', 'DOUBLE'), ('extras', 'DOUBLE'),
    ('trip_total', 'DOUBLE'), ('payment_type', 'VARCHAR'), ('company', 'VARCHAR'),
    ('pickup_latitude', 'DOUBLE'), ('pickup_longitude', 'DOUBLE'),
    ('pickup_location', 'VARCHAR'), ('dropoff_latitude', 'DOUBLE'),
    ('dropoff_longitude', 'DOUBLE'), ('dropoff_location', 'VARCHAR'),
]


def limit_memory(con, memory_limit: str) -> None:
  """Holds a fresh DuckDB session to memory_limit ('' leaves DuckDB's default): what does
  not fit spills into a folder of its own under the system temp folder. Its own: DuckDB
  names spill files alike in every session and, closing, deletes the `duckdb_temp_*` files
  of the folder it used, so sessions sharing one would read and delete each other's
  (an in-memory session's default is `.tmp` under whatever folder the worker runs in).
  DuckDB creates the folder at the first spill and removes it on close."""
  if memory_limit:
    con.execute(f"SET memory_limit = '{check_memory_limit(memory_limit)}'")
    spill = Path(tempfile.gettempdir(), f'duckdb-spill-{os.getpid()}-{uuid.uuid4().hex}')
    literal = spill.as_posix().replace("'", "''")  # SET takes no prepared parameters
    con.execute(f"SET temp_directory = '{literal}'")


class DuckDBWarehouse:
  # the extract runs in-process: a killed task takes it down, nothing to cancel
  running_job = None

  def __init__(self, path, source_table: str, memory_limit: str = ''):
    self.path = Path(path)
    self.source_table = source_table
    self.memory_limit = memory_limit
    self.catalog, self.dataset, self.table = source_table.split('.')

  @classmethod
  def from_settings(cls, settings):
    return cls(settings.warehouse_file, settings.source_table,
               settings.warehouse_memory_limit)

  def connect(self, read_only=True):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute('SET enable_progress_bar = false')
    limit_memory(con, self.memory_limit)
    con.execute(f"ATTACH '{self.path}' AS \"{self.catalog}\" (READ_ONLY {read_only})")
    return con

  def row_count(self) -> int:
    if not self.path.exists():
      return 0
    con = self.connect()
    try:
      exists = con.execute(
          'SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? '
          'AND table_name = ?', [self.catalog, self.dataset, self.table]).fetchone()[0]
      if not exists:
        return 0
      return con.execute(f'SELECT count(*) FROM "{self.catalog}"."{self.dataset}".'
                         f'"{self.table}"').fetchone()[0]
    finally:
      con.close()

  def source_columns(self) -> dict:
    """{column: DuckDB type} of the source table; {} if it does not exist."""
    if not self.path.exists():
      return {}
    con = self.connect()
    try:
      return dict(con.execute(
          'SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? AND '
          'schema_name = ? AND table_name = ?', [self.catalog, self.dataset, self.table]
      ).fetchall())
    finally:
      con.close()

  def seed_from_tfx_csv(self, csv_path) -> int:
    """Loads the TFX taxi sample, converted to the public table's columns and types.

    A no-op when the table already holds rows. Returns the number of rows in it.
    """
    existing = self.row_count()
    if existing:
      return existing
    self.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = self.path.with_suffix('.seeding')
    if tmp.exists():
      tmp.unlink()
    import duckdb

    con = duckdb.connect(str(tmp))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f'CREATE SCHEMA "{self.dataset}"')
    cols = ', '.join(f'{name} {kind}' for name, kind in TAXI_TRIPS_COLUMNS)
    con.execute(f'CREATE TABLE "{self.dataset}"."{self.table}" ({cols})')
    # The sample's trip_start_timestamp is epoch seconds; the derived hour/day/month
    # columns are not in the public table (the extract query derives them).
    con.execute(f"""
      INSERT INTO "{self.dataset}"."{self.table}"
      SELECT md5(CAST(row_number() OVER () AS VARCHAR) || CAST(trip_start_timestamp AS VARCHAR)),
             NULL, to_timestamp(trip_start_timestamp),
             to_timestamp(trip_start_timestamp + coalesce(trip_seconds, 0)),
             trip_seconds, trip_miles, pickup_census_tract, dropoff_census_tract,
             pickup_community_area, dropoff_community_area, fare, tips, NULL, NULL, NULL,
             payment_type, company, pickup_latitude, pickup_longitude, NULL,
             dropoff_latitude, dropoff_longitude, NULL
      FROM read_csv(?, header=true, columns={{
        'pickup_community_area': 'BIGINT', 'fare': 'DOUBLE', 'trip_start_month': 'BIGINT',
        'trip_start_hour': 'BIGINT', 'trip_start_day': 'BIGINT',
        'trip_start_timestamp': 'BIGINT', 'pickup_latitude': 'DOUBLE',
        'pickup_longitude': 'DOUBLE', 'dropoff_latitude': 'DOUBLE',
        'dropoff_longitude': 'DOUBLE', 'trip_miles': 'DOUBLE',
        'pickup_census_tract': 'BIGINT', 'dropoff_census_tract': 'BIGINT',
        'payment_type': 'VARCHAR', 'company': 'VARCHAR', 'trip_seconds': 'BIGINT',
        'dropoff_community_area': 'BIGINT', 'tips': 'DOUBLE'}})
    """, [str(csv_path)])
    con.close()
    os.replace(tmp, self.path)  # a half-seeded file is never mistaken for a seeded one
    return self.row_count()

  def query(self, name: str, params: dict):
    """Runs sql/<name>.sql (BigQuery text) on DuckDB: (column names, rows)."""
    duck_sql = sql.to_duckdb(sql.load(name, self.source_table))
    con = self.connect()
    try:
      cursor = con.execute(duck_sql, params)
      names = [d[0] for d in cursor.description]
      return names, cursor.fetchall()
    finally:
      con.close()

  def _window_params(self, window) -> dict:
    return {'window_start': window.start.isoformat(), 'window_end': window.end.isoformat()}

  def window_sql(self) -> str:
    """The training window's BigQuery text, without its ORDER BY (a relation to profile)."""
    return sql.without_order(sql.load('training_window', self.source_table))

  def column_types(self, bigquery_sql: str, window) -> dict:
    """{column: BigQuery type name} of a query's result; reads no rows."""
    con = self.connect()
    try:
      cursor = con.execute(f'SELECT * FROM ({sql.to_duckdb(bigquery_sql)}) AS q LIMIT 0',
                           self._window_params(window))
      return {d[0]: sql.canonical_type(str(d[1])) for d in cursor.description}
    finally:
      con.close()

  def query_rows(self, bigquery_sql: str, window) -> list:
    """The rows of a BigQuery-dialect query over the window, run on DuckDB."""
    con = self.connect()
    try:
      return con.execute(sql.to_duckdb(bigquery_sql), self._window_params(window)).fetchall()
    finally:
      con.close()

  def profile_origin(self) -> dict:
    return {'warehouse': 'duckdb', 'source_table': self.source_table}

  def extract_span(self, window, span_uri: str, run_info: dict, context=None) -> dict:
    """Writes the window's rows as CSV into span_uri, then its manifest (last)."""
    params = self._window_params(window)
    names, rows = self.query('training_window', params)
    writer = SpanWriter(span_uri)
    with writer.open_part('part-00000.csv') as f:
      out = csv.writer(f)
      out.writerow(names)
      out.writerows(rows)
    return writer.finish({'window': window.as_dict(), 'rows': len(rows), 'columns': names,
                          'source_table': self.source_table, 'query_parameters': params,
                          'warehouse': 'duckdb', **run_info})



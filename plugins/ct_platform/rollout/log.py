"""The prediction log as a table: one BigQuery-dialect query (sql/prediction_log_window.sql),
run by DuckDB over the local log's Parquet part files (sqlglot transpiles it, as for the
extract). The canary and its wait read it, and so does monitoring, whose label join also
reaches the source table (`connect`: the local warehouse's connection, which attaches it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ct_platform import sql

LOCAL_TABLE = 'prediction_log'


def window_sql() -> str:
  return (sql.SQL_DIR / 'prediction_log_window.sql').read_text().replace('{table}', LOCAL_TABLE)


def _parts(folder) -> list[str]:
  return sorted(str(p) for p in Path(folder).glob('*.parquet'))


def _query(folder, bigquery_sql: str, params: dict, connect=None) -> list[dict]:
  """Rows (dicts) of a BigQuery-dialect query over the local log folder's parts; [] when
  nothing was logged yet. connect() -> a DuckDB connection to run it on (default: an
  in-memory one)."""
  import duckdb

  parts = _parts(folder)
  if not parts:
    return []
  con = connect() if connect else duckdb.connect()
  try:
    con.execute("SET TimeZone = 'UTC'")
    files = ', '.join("'" + part.replace("'", "''") + "'" for part in parts)
    # times as naive UTC inside DuckDB: its TIMESTAMPTZ results need pytz, which the
    # orchestration env does not carry
    con.execute(f'CREATE VIEW {LOCAL_TABLE} AS SELECT * REPLACE (CAST(logging_time AS '
                f'TIMESTAMP) AS logging_time) FROM read_parquet([{files}], '
                f'union_by_name = true)')
    cursor = con.execute(sql.to_duckdb(bigquery_sql), {
        k: _naive_utc(v) if isinstance(v, dt.datetime) else v for k, v in params.items()})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
  finally:
    con.close()


def read_window(folder, endpoint: str, since: dt.datetime,
                until: dt.datetime | None = None) -> list[dict]:
  """Rows (dicts) of the local log folder in [since, until); [] when nothing was logged."""
  until = until or dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
  rows = _query(folder, window_sql(), {'endpoint': endpoint, 'since': since, 'until': until})
  for row in rows:
    if row.get('logging_time') is not None:
      row['logging_time'] = row['logging_time'].replace(tzinfo=dt.timezone.utc)
  return rows


def _naive_utc(t: dt.datetime) -> dt.datetime:
  return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def count_requests(folder, endpoint: str, deployed_id: str, since: dt.datetime) -> int:
  """How many requests deployed_id answered (or failed) since `since`: counted by the
  engine, so the trigger's every poll reads no payload."""
  count_sql = (f'SELECT COUNT(*) AS n FROM ({sql.without_order(window_sql())}) AS w '
               f'WHERE deployed_model_id = @deployed_id')
  until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
  rows = _query(folder, count_sql, {'endpoint': endpoint, 'since': since, 'until': until,
                                    'deployed_id': deployed_id})
  return rows[0]['n'] if rows else 0

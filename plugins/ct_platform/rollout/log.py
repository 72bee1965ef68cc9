"""The prediction log as a table: one BigQuery-dialect query (sql/prediction_log_window.sql),
run by DuckDB over the local log's Parquet part files (sqlglot transpiles it, as for the
extract), or by BigQuery over a Vertex AI Endpoint's logging table (the log objects of
monitoring.window). The canary and its wait read it, and so does monitoring, whose label
join also reaches the source table (`connect`: the local warehouse's connection).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ct_platform import sql

LOCAL_TABLE = 'prediction_log'


# columns only the local server logs: Vertex AI's logging table has neither (on Google
# Cloud, latency and errors come from Cloud Monitoring: backends/cloud_monitoring.py)
SERVING_COLUMNS = ('status_code', 'latency_ms')


def window_sql(table: str = LOCAL_TABLE, serving_columns: bool = True) -> str:
  """prediction_log_window.sql over `table`; without the local-only columns for BigQuery."""
  text = (sql.SQL_DIR / 'prediction_log_window.sql').read_text().replace('{table}', table)
  if serving_columns:
    return text
  import sqlglot

  tree = sqlglot.parse_one(text, read='bigquery')
  tree.set('expressions', [e for e in tree.expressions if e.alias_or_name not in
                           SERVING_COLUMNS])
  return tree.sql(dialect='bigquery')


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


def read_window(log, since: dt.datetime, until: dt.datetime | None = None) -> list[dict]:
  """Rows (dicts) of a prediction log (monitoring.window's LocalPredictionLog or
  BigQueryPredictionLog) for its endpoint in [since, until), oldest first."""
  until = until or dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
  rows = log.rows(window_sql(log.table, log.serving_columns),
                  {'endpoint': log.endpoint, 'since': since, 'until': until})
  for row in rows:
    t = row.get('logging_time')
    if t is not None and t.tzinfo is None:
      row['logging_time'] = t.replace(tzinfo=dt.timezone.utc)
  return rows


def _naive_utc(t: dt.datetime) -> dt.datetime:
  return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def count_requests(log, deployed_id: str, since: dt.datetime) -> int:
  """How many requests deployed_id answered (or failed) since `since`: counted by the
  engine, so the trigger's every poll reads no payload."""
  count_sql = (f'SELECT COUNT(*) AS n FROM '
               f'({sql.without_order(window_sql(log.table, log.serving_columns))}) AS w '
               f'WHERE deployed_model_id = @deployed_id')
  until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
  rows = log.rows(count_sql, {'endpoint': log.endpoint, 'since': since, 'until': until,
                              'deployed_id': deployed_id})
  return int(rows[0]['n']) if rows else 0

"""DuckDBWarehouse: the training window extracted into a span, manifest last."""

import pytest

from ct_platform.window import resolve_window


def test_extract_writes_span_with_manifest_last(duckdb_warehouse, tmp_path):
  from ct_platform.spans import SpanError, read_manifest
  window = resolve_window(window_end='2016-05-17', window_days=3)
  uri = str(tmp_path / 'span')
  manifest = duckdb_warehouse.extract_span(window, uri, {'airflow_run_id': 'r'})
  assert manifest['rows'] == 2 and manifest['complete']
  assert read_manifest(uri)['files'] == ['part-00000.csv']
  lines = (tmp_path / 'span' / 'part-00000.csv').read_text().splitlines()
  assert lines[0].startswith('pickup_community_area,fare,') and len(lines) == 3
  with pytest.raises(SpanError, match='immutable'):
    duckdb_warehouse.extract_span(window, uri, {})
  (tmp_path / 'half').mkdir()
  with pytest.raises(SpanError, match='incomplete'):
    read_manifest(str(tmp_path / 'half'))


def test_empty_window(duckdb_warehouse, tmp_path):
  window = resolve_window(window_end='2010-01-01', window_days=30)
  manifest = duckdb_warehouse.extract_span(window, str(tmp_path / 'empty'), {})
  assert manifest['rows'] == 0


def test_the_warehouse_session_is_held_to_the_memory_limit_setting(duckdb_warehouse):
  import tempfile

  from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
  from ct_platform.config import load_settings

  settings = load_settings({'warehouse_memory_limit': '300MB',
                            'warehouse_path': str(duckdb_warehouse.path)}, use_variable=False)
  con = DuckDBWarehouse.from_settings(settings).connect()
  try:
    limit, spill = con.execute("SELECT current_setting('memory_limit'), "
                               "current_setting('temp_directory')").fetchone()
    assert con.execute('SELECT count(*) FROM "bigquery-public-data".chicago_taxi_trips.'
                       'taxi_trips').fetchone()[0] == 3
  finally:
    con.close()
  assert limit == '286.1 MiB'  # DuckDB reports 300MB (10^6 bytes) in MiB
  # an in-memory session would spill into `.tmp` under the worker's current folder
  assert spill.startswith(tempfile.gettempdir())
  unlimited = DuckDBWarehouse(duckdb_warehouse.path, settings.source_table).connect()
  try:
    assert unlimited.execute("SELECT current_setting('memory_limit')").fetchone()[0] != limit
  finally:
    unlimited.close()


def test_sessions_spilling_at_once_each_keep_their_own_data():
  # DuckDB names spill files alike in every session and deletes a folder's spill files
  # when a session closes: each session spills into a folder of its own (two processes'
  # warehouse sessions; within one process DuckDB attaches a file to one session at a time)
  import duckdb

  from ct_platform.backends.duckdb_warehouse import limit_memory

  first, second = duckdb.connect(), duckdb.connect()
  for con in (first, second):
    limit_memory(con, '64MB')
  rows = 12_000_000  # 96 MB of BIGINT in each session: over the limit, so it spills
  for con, offset in ((first, 0), (second, 1)):
    con.execute('SET threads = 1')
    con.execute(f'CREATE TEMP TABLE t AS SELECT i + {offset} AS x FROM range({rows}) r(i)')
  total = rows * (rows - 1) // 2
  folders = [con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
             for con in (first, second)]
  assert folders[0] != folders[1]
  assert first.execute('SELECT sum(x) FROM t').fetchone()[0] == total
  first.close()
  assert second.execute('SELECT sum(x) FROM t').fetchone()[0] == total + rows
  second.close()

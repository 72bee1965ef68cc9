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

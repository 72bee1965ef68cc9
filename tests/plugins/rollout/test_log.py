"""The prediction log as a table: the BigQuery query, transpiled, over local Parquet parts."""

import datetime as dt

from fakes.prediction_log import T0, row, write_part

from ct_platform import sql
from ct_platform.monitoring.window import LocalPredictionLog, log_from_config
from ct_platform.rollout import log


def local(folder, endpoint='chicago-taxi-tipper'):
  return log_from_config(LocalPredictionLog(folder, endpoint=endpoint).config())


def test_the_window_reads_one_endpoint_in_time_order_across_parts(tmp_path):
  write_part(tmp_path, [row('v1', 0.3, at=5), row('v2', 0.6, at=1),
                        row('v1', 0.2, at=2, endpoint='other')], 'part-a.parquet')
  write_part(tmp_path, [row('v1', 0.4, at=3), row('v1', 0.5, at=-10)], 'part-b.parquet')
  rows = log.read_window(local(tmp_path), T0)
  assert [(r['deployed_model_id'], r['logging_time']) for r in rows] == [
      ('v2', T0 + dt.timedelta(seconds=1)), ('v1', T0 + dt.timedelta(seconds=3)),
      ('v1', T0 + dt.timedelta(seconds=5))]
  assert rows[0]['response_payload'] == ['[0.6]'] and rows[0]['status_code'] == 200
  assert log.count_requests(local(tmp_path), 'v1', T0) == 2
  until = log.read_window(local(tmp_path), T0, T0 + dt.timedelta(seconds=4))
  assert len(until) == 2


def test_no_parts_is_no_rows(tmp_path):
  assert log.read_window(local(tmp_path / 'none', 'e'), T0) == []


def test_the_query_is_bigquery_text_with_parameters():
  text = log.window_sql()
  assert sql.parameters(text) == {'endpoint', 'since', 'until'}
  assert '$since' in sql.to_duckdb(text)
  # Vertex AI's logging table has no status or latency: those columns are not asked for
  vertex = log.window_sql('p.d.t', serving_columns=False)
  assert 'status_code' not in vertex and 'latency_ms' not in vertex and '`p.d.t`' in vertex
  assert sql.parameters(vertex) == {'endpoint', 'since', 'until'}

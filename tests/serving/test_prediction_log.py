"""prediction_log: batched Parquet parts in Vertex AI's logging columns, nothing lost on close."""

import datetime as dt

import duckdb
import pytest

from ct_serving.prediction_log import COLUMNS, PredictionLog, read_sql


def test_every_row_is_written_in_batches_and_close_drains_the_queue(tmp_path):
  log = PredictionLog(tmp_path / 'log', flush_rows=100, flush_seconds=60)
  for i in range(250):
    log.add(endpoint='e', deployed_model_id='v1', request_id=i, status_code=200,
            request_payload=['{"fare": 1.0}'], response_payload=['[0.5]'], latency_ms=1.5)
  log.close()
  parts = sorted((tmp_path / 'log').glob('*.parquet'))
  assert len(parts) == 3  # 100 + 100 + the 50 that close() flushed
  con = duckdb.connect()
  rows = con.execute(f'SELECT count(*), count(DISTINCT request_id), min(logging_time) '
                     f'FROM {read_sql(tmp_path / "log")}').fetchone()
  assert rows[:2] == (250, 250)
  assert rows[2] <= dt.datetime.now(dt.timezone.utc)
  described = {r[0]: r[1] for r in con.execute(
      f'DESCRIBE SELECT * FROM {read_sql(tmp_path / "log")}').fetchall()}
  assert list(described) == list(COLUMNS)
  assert described == {**COLUMNS, 'logging_time': 'TIMESTAMP WITH TIME ZONE'}
  assert not list((tmp_path / 'log').glob('.*'))  # no temporary file left


def test_a_batch_keeps_its_rows_order_and_nulls(tmp_path):
  log = PredictionLog(tmp_path / 'log', flush_rows=1000, flush_seconds=60)
  log.add(endpoint='e', deployed_model_id='v2', request_id=2**62, status_code=200,
          request_payload=['{"a": 1}', '{"a": 2}'], response_payload=['[0.1]', '[0.9]'],
          latency_ms=2.5, model_version_id='2', error=None)
  log.add(endpoint='e', deployed_model_id=None, request_id=7, status_code=400,
          request_payload=None, response_payload=None, latency_ms=None, error='bad: fare')
  log.close()
  rows = duckdb.connect().execute(
      f'SELECT deployed_model_id, request_id, request_payload, response_payload, latency_ms, '
      f'status_code, error, model_version_id FROM {read_sql(tmp_path / "log")}').fetchall()
  assert rows == [('v2', 2**62, ['{"a": 1}', '{"a": 2}'], ['[0.1]', '[0.9]'], 2.5, 200, None,
                   '2'),
                  (None, 7, None, None, None, 400, 'bad: fare', None)]


def test_a_sample_rate_keeps_about_that_share(tmp_path):
  log = PredictionLog(tmp_path / 'log', sample_rate=0.25, seed=7)
  kept = sum(log.sampled() for _ in range(4000))
  log.close()
  assert 800 <= kept <= 1200


def test_a_sample_rate_outside_0_1_is_refused(tmp_path):
  with pytest.raises(ValueError, match='log sample rate 1.5 is not within 0..1'):
    PredictionLog(tmp_path / 'log', sample_rate=1.5)

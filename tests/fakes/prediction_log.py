"""Prediction-log rows and Parquet part files in the log's columns.

serving/ct_serving/prediction_log.py writes them in production; the orchestration env only
reads them, so its tests write their own with the same DuckDB types."""

import datetime as dt
import json
import random

import duckdb

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def row(model, score, latency=2.0, status=200, at=0.0, key=None, endpoint='chicago-taxi-tipper'):
  instance = {'fare': 10.0} | ({'unique_key': key} if key else {})
  return {'endpoint': endpoint, 'deployed_model_id': model,
          'logging_time': T0 + dt.timedelta(seconds=at), 'request_id': random.getrandbits(62),
          'request_payload': [json.dumps(instance)],
          'response_payload': None if status != 200 else [json.dumps([score])],
          'model_version_id': model and model.lstrip('v'), 'latency_ms': latency,
          'status_code': status, 'error': None if status == 200 else 'boom'}


def write_part(folder, rows, name='part-0.parquet'):
  folder.mkdir(parents=True, exist_ok=True)
  con = duckdb.connect()
  con.execute("SET TimeZone = 'UTC'")
  con.execute('CREATE TABLE log (endpoint VARCHAR, deployed_model_id VARCHAR, logging_time '
              'TIMESTAMPTZ, request_id BIGINT, request_payload VARCHAR[], response_payload '
              'VARCHAR[], model_version_id VARCHAR, latency_ms DOUBLE, status_code INTEGER, '
              'error VARCHAR)')
  for r in rows:
    con.execute('INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        r['endpoint'], r['deployed_model_id'], r['logging_time'].replace(tzinfo=None),
        r['request_id'], r['request_payload'], r['response_payload'], r['model_version_id'],
        r['latency_ms'], r['status_code'], r['error']])
  con.execute(f"COPY log TO '{folder / name}' (FORMAT parquet)")
  con.close()


def traffic(model, n, score=lambda r: r.uniform(0.2, 0.9), latency=2.0, errors=0, seed=1):
  """n log rows of one deployed model, 0.1 s apart; the first `errors` answered 500."""
  r = random.Random(seed)
  rows = [row(model, score(r), latency=latency + r.random(), at=i * 0.1) for i in range(n)]
  for i in range(errors):
    rows[i] = row(model, None, status=500, at=i * 0.1)
  return rows

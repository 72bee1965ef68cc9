"""ExtractSpanOperator: one span per try on the configured warehouse, a table of the wrong
shape fails at once, and a kill cancels the warehouse's running job."""

import types

import duckdb
import pytest

from ct_platform.operators.extract_span import ExtractSpanOperator
from ct_platform.window import TrainingWindow

WINDOW = TrainingWindow.from_dict({'start': '2016-05-14', 'end': '2016-05-17',
                                   'source': 'params'})


def context(try_number=1):
  return {'ti': types.SimpleNamespace(run_id='manual__2026-12-03T10:00:00+00:00',
                                      try_number=try_number)}


def operator(warehouse, tmp_path):
  return ExtractSpanOperator(
      task_id='extract_span', plan={'window': WINDOW.as_dict()},
      settings_overrides={'warehouse_path': str(warehouse.path),
                          'local_dir': str(tmp_path)})


def test_each_try_writes_its_own_complete_span(duckdb_warehouse, tmp_path):
  op = operator(duckdb_warehouse, tmp_path)
  first, second = op.execute(context(1)), op.execute(context(2))
  assert first['rows'] == second['rows'] == 2  # the end bound is exclusive
  assert first['uri'] != second['uri'] and first['complete'] and second['complete']


def test_a_source_table_without_a_column_fails_without_retry(duckdb_warehouse, tmp_path):
  from airflow.sdk.exceptions import AirflowFailException
  broken = tmp_path / 'broken.duckdb'
  con = duckdb.connect(str(broken))
  con.execute('CREATE SCHEMA chicago_taxi_trips')
  con.execute('CREATE TABLE chicago_taxi_trips.taxi_trips (unique_key VARCHAR, fare DOUBLE)')
  con.close()
  op = operator(types.SimpleNamespace(path=broken), tmp_path)
  with pytest.raises(AirflowFailException, match='tips'):
    op.execute(context())


def test_a_kill_cancels_the_running_warehouse_job_and_is_harmless_before_execute(
    duckdb_warehouse, tmp_path):
  op = operator(duckdb_warehouse, tmp_path)
  op.on_kill()  # killed before execute made a warehouse: nothing to cancel
  cancelled = []
  op._warehouse = types.SimpleNamespace(running_job=types.SimpleNamespace(
      on_kill=lambda: cancelled.append(True)))
  op.on_kill()
  assert cancelled == [True]

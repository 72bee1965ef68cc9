"""Pipeline run ids (Vertex-safe, distinct per attempt) and the local warehouse seed."""

import re
from pathlib import Path

import duckdb
import pytest

from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
from ct_platform.run_ids import pipeline_run_id, run_slug
from ct_platform.seed import SAMPLE_CSV

REPO = Path(__file__).resolve().parents[2]
VERTEX_JOB_ID = re.compile(r'[a-z][-a-z0-9]{0,127}')


@pytest.mark.parametrize('run_id', [
    'manual__2026-11-25T11:17:52.633481+00:00', 'scheduled__2016-05-13T06:00:00+00:00',
    'asset_triggered__2026-01-01T00:00:00+00:00_Xy', 'A' * 300, '___'])
def test_pipeline_run_ids_are_valid_vertex_job_ids(run_id):
  rid = pipeline_run_id('continuous_training', run_id, 1)
  assert VERTEX_JOB_ID.fullmatch(rid), rid
  assert pipeline_run_id('continuous_training', run_id, 1) == rid  # stable
  assert pipeline_run_id('continuous_training', run_id, 2) != rid  # per attempt


def test_run_ids_that_slug_alike_stay_distinct():
  a = pipeline_run_id('d', 'manual__2026-01-01T00:00:00+00:00', 1)
  b = pipeline_run_id('d', 'manual__2026-01-01T00:00:00-00:00', 1)
  assert a != b and run_slug('x+y') != run_slug('x-y')
  with pytest.raises(ValueError, match='attempt: 0'):
    pipeline_run_id('d', 'r', 0)


def test_seed_shapes_the_public_table_and_twice_is_a_no_op(tmp_path):
  wh = DuckDBWarehouse(tmp_path / 'w.duckdb', 'bigquery-public-data.chicago_taxi_trips.taxi_trips')
  assert wh.seed_from_tfx_csv(SAMPLE_CSV) == 15002
  mtime = (tmp_path / 'w.duckdb').stat().st_mtime_ns
  assert wh.seed_from_tfx_csv(SAMPLE_CSV) == 15002
  assert (tmp_path / 'w.duckdb').stat().st_mtime_ns == mtime
  con = duckdb.connect(str(tmp_path / 'w.duckdb'), read_only=True)
  types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'taxi_trips'").fetchall())
  assert types['trip_start_timestamp'] == 'TIMESTAMP WITH TIME ZONE'
  assert types['trip_seconds'] == 'BIGINT' and types['payment_type'] == 'VARCHAR'
  years = con.execute("SELECT min(year(trip_start_timestamp)), max(year(trip_start_timestamp))"
                      " FROM chicago_taxi_trips.taxi_trips").fetchone()
  assert years == (2013, 2016)

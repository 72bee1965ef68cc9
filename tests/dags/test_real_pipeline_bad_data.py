"""continuous_training on a window of bad data, with the real TFX pipeline.

A window whose fares turned NaN (a broken load): the pipeline stops at data validation;
no retry, nothing trained or registered, every span untouched, and the gate, its report
and the notification name the feature and the count. Its own file, so that it runs beside
test_real_pipeline.py (one real run each way) rather than after it.
"""

import json

import duckdb
from dag_runs import task_states
from test_real_pipeline import WINDOW


def test_nan_fares_stop_the_pipeline_at_data_validation_naming_feature_and_count(
    airflow_env, local_dir):
  airflow_env.seed(local_dir)
  con = duckdb.connect(str(local_dir / 'warehouse.duckdb'))
  con.execute("""UPDATE chicago_taxi_trips.taxi_trips SET fare = 'nan'::DOUBLE
                 WHERE trip_start_timestamp >= TIMESTAMPTZ '2015-09-03'
                   AND hash(unique_key) % 7 = 0""")
  con.close()
  rc, log = airflow_env.run('continuous_training', local_dir,
                            dict(WINDOW, train_steps=1), CT_POLL_INTERVAL_SECONDS='2')
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['run_pipeline'] == 'success' and states['promote'] == 'skipped', states
  assert 'up_for_retry' not in log.lower()
  registry = local_dir / 'registry' / 'chicago-taxi-tipper'
  assert not (registry / 'versions').exists() or not any((registry / 'versions').iterdir())
  assert not (registry / 'aliases' / 'champion.json').exists()

  decisions = sorted((local_dir / 'pipeline_runs').glob('*/gate_decision.json'),
                     key=lambda p: p.stat().st_mtime)
  decision = json.loads(decisions[-1].read_text())
  summary = json.loads((decisions[-1].parent / 'run_summary.json').read_text())
  assert summary['status'] == 'stopped_by_anomalies'
  assert not (decisions[-1].parent / 'pipeline_root' / 'Transform').exists()
  reason = next(r for r in decision['reasons'] if r.startswith('data_validation'))
  assert 'fare: Invalid values: ' in reason and 'values are NaN' in reason, reason
  assert 'values are NaN' in (decisions[-1].parent / 'gate_report.html').read_text()
  events = [json.loads(line) for line in
            (local_dir / 'notifications.jsonl').read_text().splitlines()]
  rejected = [e for e in events if e['event'] == 'candidate_rejected']
  assert 'values are NaN' in rejected[-1]['message']

  # every span the run wrote is complete and still there (a stopped run deletes nothing)
  manifests = list((local_dir / 'bucket').rglob('_MANIFEST.json'))
  assert manifests and all(json.loads(m.read_text())['complete'] for m in manifests)

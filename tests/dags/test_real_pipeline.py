"""continuous_training end to end on the embedded default with the real TFX pipeline.

A small window of the seeded warehouse (about 1,100 trips) and few training steps: the
first run leaves a champion; a second run that trains one step is evaluated against
that champion and rejected, and the registry is byte-for-byte unchanged.
"""

import json

from conftest import task_states

WINDOW = {'window_end': '2016-01-01', 'window_days': 120}


def test_real_pipeline_promotes_then_rejects_a_worse_candidate(airflow_env, local_dir):
  airflow_env.seed(local_dir)
  rc, log = airflow_env.run('continuous_training', local_dir,
                            dict(WINDOW, train_steps=60), CT_POLL_INTERVAL_SECONDS='2')
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['promote'] == 'success', states
  alias = local_dir / 'registry' / 'chicago-taxi-tipper' / 'aliases' / 'champion.json'
  assert json.loads(alias.read_text())['version'] == 1
  champion = local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / '1'
  meta = json.loads((champion / 'metadata.json').read_text())
  assert meta['metrics']['overall']['auc'] > 0.6 and meta['smoke_test']['passed']
  assert (champion / 'model' / 'Format-Serving' / 'saved_model.pb').is_file()
  span_rows = meta['span']['rows']
  assert 800 < span_rows < 2000

  before = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  rc, log = airflow_env.run('continuous_training', local_dir,
                            dict(WINDOW, train_steps=1, force_retrain=True),
                            CT_POLL_INTERVAL_SECONDS='2')
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['promotion_gate'] == 'success' and states['promote'] == 'skipped', states
  after = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  assert after == before
  decisions = sorted((local_dir / 'pipeline_runs').glob('*/gate_decision.json'),
                     key=lambda p: p.stat().st_mtime)
  decision = json.loads(decisions[-1].read_text())
  assert decision['outcome'] == 'reject'
  assert any(c['name'] == 'auc_vs_champion' and not c['passed'] for c in decision['checks'])
  summary = json.loads((decisions[-1].parent / 'run_summary.json').read_text())
  assert summary['pipeline']['variant'] == 'with_baseline'
  assert summary['baseline_model_uri'] == str(champion / 'model')

  # A window whose fares turned NaN (a broken load): the real pipeline stops at data
  # validation; no retry, nothing trained, the champion and every span untouched, and
  # the gate, its report and the notification name the feature and the count.
  import duckdb

  spans_before = {p: p.read_bytes() for p in (local_dir / 'bucket').rglob('*')
                  if p.is_file()}
  con = duckdb.connect(str(local_dir / 'warehouse.duckdb'))
  con.execute("""UPDATE chicago_taxi_trips.taxi_trips SET fare = 'nan'::DOUBLE
                 WHERE trip_start_timestamp >= TIMESTAMPTZ '2015-09-03'
                   AND hash(unique_key) % 7 = 0""")
  con.close()
  rc, log = airflow_env.run('continuous_training', local_dir,
                            dict(WINDOW, train_steps=1, force_retrain=True),
                            CT_POLL_INTERVAL_SECONDS='2')
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['run_pipeline'] == 'success' and states['promote'] == 'skipped', states
  assert 'up_for_retry' not in log.lower()
  after = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  assert after == before
  assert all((local_dir / 'bucket' / p).read_bytes() == b for p, b in spans_before.items())
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

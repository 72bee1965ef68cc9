"""continuous_training end to end on the embedded default with the real TFX pipeline.

A small window of the seeded warehouse (about 1,100 trips) and few training steps: the
first run leaves a champion; a second run that trains one step is evaluated against
that champion and rejected, and the registry is byte-for-byte unchanged. (The bad-data
run: test_real_pipeline_bad_data.py.)
"""

import json

from dag_runs import task_states

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


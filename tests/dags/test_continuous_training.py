"""continuous_training under `airflow dags test`, with a stand-in pipeline process.

The DAG, the operator, the trigger, the local runner, the warehouse, the gate and the
registry are all real; only the TFX run is swapped for tests/fakes/pipeline.py so
these take seconds. tests/dags/test_real_pipeline.py runs the real one.
"""

import json
import subprocess
import sys
from pathlib import Path

from dag_runs import LINEAGE, REPO, task_states
from fakes import lineage

ALIAS = ('registry', 'chicago-taxi-tipper', 'aliases', 'champion.json')


def notifications(local_dir):
  path = local_dir / 'notifications.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_first_run_promotes_then_a_worse_candidate_is_rejected(airflow_env, local_dir,
                                                                fake_pipeline_env):
  airflow_env.seed(local_dir)
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2016-01-01', 'window_days': 90},
                            **fake_pipeline_env, **LINEAGE)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['promote'] == 'success' and states['request_approval'] == 'skipped'
  alias = local_dir.joinpath(*ALIAS)
  pointer = json.loads(alias.read_text())
  assert pointer['version'] == 1
  version_dir = local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / '1'
  meta = json.loads((version_dir / 'metadata.json').read_text())
  assert meta['smoke_test']['passed'] and meta['window']['end'] == '2016-01-01'
  assert meta['drift_baseline']['span_uri'] == meta['span']['uri']
  assert (version_dir / 'model' / 'Format-Serving' / 'saved_model.pb').exists()
  assert [n['event'] for n in notifications(local_dir)] == ['champion_promoted']
  report = Path(json.loads((next((local_dir / 'pipeline_runs').iterdir()) /
                            'gate_decision.json').read_text())['report'])
  assert '<h2 style="color:#188038">PROMOTE</h2>' in report.read_text()

  # the champion's training data is recorded with it: the next run's drift baseline
  profile = meta['drift_baseline']['profile']
  assert profile['rows'] == meta['span']['rows'] and profile['window']['end'] == '2016-01-01'
  assert_lineage_chain(local_dir, meta, version_dir)

  before = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  # the same window again: no drift, so only force_retrain makes this run train
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2016-01-01', 'window_days': 90,
                             'force_retrain': True},
                            **dict(fake_pipeline_env, FAKE_PIPELINE_MODE='reject'))
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['promotion_gate'] == 'success' and states['promote'] == 'skipped'
  after = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  assert after == before  # alias and files untouched
  rejected = [n for n in notifications(local_dir) if n['event'] == 'candidate_rejected']
  assert rejected and 'auc' in rejected[0]['message']
  # the second run was evaluated against the champion: the first-run variant was not used
  runs = sorted((local_dir / 'pipeline_runs').iterdir(), key=lambda p: p.stat().st_mtime)
  request = json.loads((runs[-1] / 'request.json').read_text())
  assert request['spec']['baseline_model_uri'] == str(version_dir / 'model')
  summary_text = (local_dir / 'last_run_summary.txt').read_text()
  assert 'decision   REJECT' in summary_text and 'champion   unchanged: version 1' in summary_text


def assert_lineage_chain(local_dir, meta, version_dir):
  """OpenLineage (file transport): source table's window -> span -> pipeline run ->
  candidate -> registry version, each link one task's output and the next one's input."""
  (extract,) = lineage.completed(local_dir, 'continuous_training', 'extract_span')
  source = lineage.one(extract['inputs'])
  assert source['namespace'].startswith('duckdb://') and source['name'].endswith('taxi_trips')
  window = extract['run']['facets']['ctTrainingWindow']
  assert (window['end'][:10], window['days'], window['rows']) == (
      '2016-01-01', 90, meta['span']['rows'])
  span = lineage.one(extract['outputs'])
  assert (span['namespace'], span['name']) == ('file', meta['span']['uri'])
  assert span['outputFacets']['outputStatistics']['rowCount'] == meta['span']['rows']
  assert 'training_window' not in extract['job']['facets']['sql']['query']  # the text itself
  assert 'FROM `bigquery-public-data' in extract['job']['facets']['sql']['query']

  (pipeline,) = lineage.completed(local_dir, 'continuous_training', 'run_pipeline')
  assert lineage.names(pipeline['inputs']) == [('file', meta['span']['uri'])]
  run = pipeline['run']['facets']['ctPipelineRun']
  assert run['runId'] == meta['run_id'] and run['runner'] == 'local'
  assert run['pipelineVersion'] == meta['pipeline']['version'] and run['blessed'] is True
  candidate = lineage.one(pipeline['outputs'])
  assert candidate['name'] == meta['source_model_uri']

  (promote,) = lineage.completed(local_dir, 'continuous_training', 'promote')
  assert lineage.names(promote['inputs']) == [('file', candidate['name'])]
  registered = lineage.one(promote['outputs'])
  assert registered['name'] == str(version_dir / 'model')
  facet = registered['facets']['ctModelVersion']
  assert (facet['version'], facet['alias'], facet['pipelineRunId']) == (
      1, 'champion', meta['run_id'])


def test_locally_a_second_model_becomes_challenger_not_champion_by_default(
    airflow_env, local_dir, fake_pipeline_env):
  airflow_env.seed(local_dir)
  env = dict(fake_pipeline_env)
  del env['CT_ROLLOUT']  # the local profile's default: canary
  conf = {'window_end': '2016-01-01', 'window_days': 90, 'force_retrain': True}
  rc, log = airflow_env.run('continuous_training', local_dir, conf, **env)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  # nothing to canary against: the first model becomes champion at once
  assert states['promote'] == 'success' and states['nominate_challenger'] == 'skipped'

  rc, log = airflow_env.run('continuous_training', local_dir, conf, **env)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['nominate_challenger'] == 'success' and states['promote'] == 'skipped'
  assert states['summarize'] == 'success'
  aliases = local_dir / 'registry' / 'chicago-taxi-tipper' / 'aliases'
  assert json.loads((aliases / 'champion.json').read_text())['version'] == 1
  assert json.loads((aliases / 'challenger.json').read_text())['version'] == 2
  assert [n['event'] for n in notifications(local_dir)] == ['champion_promoted',
                                                            'challenger_nominated']
  assert 'challenger version 2' in log and 'champion   unchanged: version 1' in log


def test_no_drift_ends_the_run_before_training_and_drift_retrains(airflow_env, local_dir,
                                                                   fake_pipeline_env):
  airflow_env.seed(local_dir)
  window = {'window_end': '2016-01-01', 'window_days': 90}
  rc, log = airflow_env.run('continuous_training', local_dir, window, **fake_pipeline_env)
  assert rc == 0, log[-4000:]
  before = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  runs_before = set((local_dir / 'pipeline_runs').iterdir())

  # 1. the same window, a week later in data time: nothing drifted, the champion is young
  rc, log = airflow_env.run('continuous_training', local_dir,
                            dict(window, window_end='2016-01-08', window_days=97),
                            **fake_pipeline_env)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['evaluate_drift'] == 'success' and states['retrain_needed'] == 'success'
  assert states['run_pipeline'] == 'skipped' and states['summarize'] == 'success'
  assert set((local_dir / 'pipeline_runs').iterdir()) == runs_before  # nothing trained
  after = {p: p.read_bytes() for p in (local_dir / 'registry').rglob('*') if p.is_file()}
  assert after == before
  event = notifications(local_dir)[-1]
  assert event['event'] == 'no_retrain'
  assert event['message'].startswith('no significant drift in 16 features; champion trained '
                                     'on data up to 2016-01-01, 7 days before')
  report = Path(event['details']['report'])
  assert report.name == 'drift_report.html' and 'NO RETRAIN' in report.read_text()
  record = json.loads((report.parent / 'drift.json').read_text())
  assert record['baseline_source'] == 'recorded with the champion'
  assert {f['feature'] for f in record['features']} >= {'fare', 'company', 'payment_type'}
  assert 'no significant drift' in (local_dir / 'last_run_summary.txt').read_text()

  # 2. a year later: fares and trip lengths drifted (and the champion is stale)
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2017-01-01', 'window_days': 90},
                            **fake_pipeline_env)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['run_pipeline'] == 'success'
  drift_dir = next((local_dir / 'bucket' / 'spans').glob('20161003-20170101/*.drift'))
  drift = json.loads((drift_dir / 'drift.json').read_text())
  assert drift['retrain'] and 'champion is stale' in drift['reason']
  assert drift['drifted_features'], drift['reason']
  # one histogram overlay per drifting feature
  html = (drift_dir / 'drift_report.html').read_text()
  assert html.count('<svg') == len(drift['drifted_features'])


def test_an_empty_window_ends_cleanly_with_the_reason(airflow_env, local_dir,
                                                     fake_pipeline_env):
  airflow_env.seed(local_dir)
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2010-01-01', 'window_days': 30},
                            **fake_pipeline_env)
  assert rc == 0, log[-4000:]
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['extract_span'] == 'success'
  assert states['run_pipeline'] == 'skipped' and states['summarize'] == 'success'
  assert not (local_dir / 'pipeline_runs').exists()
  events = notifications(local_dir)
  assert [e['event'] for e in events] == ['window_empty']
  assert 'no rows' in events[0]['message']
  assert 'window empty' in (local_dir / 'last_run_summary.txt').read_text()


def test_a_rule_across_params_fails_the_first_task_naming_the_field(airflow_env, local_dir,
                                                                   fake_pipeline_env):
  airflow_env.seed(local_dir)
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'force_promote': True, 'window_end': '2016-01-01'},
                            **fake_pipeline_env)
  assert rc != 0
  assert 'force_promote_reason: force_promote needs a reason' in log
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['plan_run'] == 'failed' and states['extract_span'] == 'upstream_failed'
  # any task that fails for good notifies, naming the task and the reason
  failed = [n for n in notifications(local_dir) if n['event'] == 'task_failed']
  assert len(failed) == 1 and failed[0]['details']['task_id'] == 'plan_run'
  assert 'continuous_training.plan_run failed in run' in failed[0]['message']
  assert 'force_promote_reason: force_promote needs a reason' in failed[0]['details']['error']


def test_a_window_of_the_future_is_refused_by_plan_run(airflow_env, local_dir):
  rc, log = airflow_env.run('continuous_training', local_dir, {'window_end': '9999-12-31'})
  assert rc != 0
  assert 'window_end: the window would end on 9999-12-31' in log
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['plan_run'] == 'failed' and states['extract_span'] == 'upstream_failed'
  assert not (local_dir / 'bucket').exists()  # no span written for it


def test_params_schema_rejects_bad_values_before_any_task(airflow_env, local_dir):
  for conf, field in [({'window_days': 0}, 'window_days'),
                      ({'window_end': '2016-02-30'}, 'window_end'),
                      ({'promotion_mode': 'sometimes'}, 'promotion_mode')]:
    rc, log = airflow_env.run('continuous_training', local_dir, conf)
    assert rc != 0 and 'Invalid input for param' in log and field in log, log[-2000:]


def _manual_run(airflow_env, local_dir, fake_pipeline_env, choice):
  airflow_env.seed(local_dir)
  proc = airflow_env.start('continuous_training', local_dir,
                           {'window_end': '2016-01-01', 'window_days': 90,
                            'promotion_mode': 'manual'}, **fake_pipeline_env)
  responder = subprocess.run(
      [sys.executable, str(REPO / 'tests' / 'dags' / 'hitl_respond.py'),
       'continuous_training', 'request_approval', choice, '300'],
      env=airflow_env.env(local_dir), capture_output=True, text=True, timeout=400)
  proc.wait(timeout=300)
  log = (local_dir / 'dags-test-continuous_training.log').read_text()
  assert 'RESPONDED' in responder.stdout, responder.stdout + responder.stderr[-2000:]
  assert proc.returncode == 0, log[-4000:]
  return task_states(airflow_env, local_dir, 'continuous_training', log)


def test_manual_mode_approved(airflow_env, local_dir, fake_pipeline_env):
  states = _manual_run(airflow_env, local_dir, fake_pipeline_env, 'Approve')
  assert states['request_approval'] == 'success' and states['promote'] == 'success'
  # downstream of the approval too, but not the path choose_path chose
  assert states['nominate_challenger'] == 'skipped'
  assert json.loads(local_dir.joinpath(*ALIAS).read_text())['version'] == 1
  asked = [n for n in notifications(local_dir) if n['event'] == 'approval_requested']
  assert len(asked) == 1 and 'approve or reject under Required Actions' in asked[0]['message']
  assert asked[0]['details']['dag_id'] == 'continuous_training'


def test_manual_mode_rejected(airflow_env, local_dir, fake_pipeline_env):
  states = _manual_run(airflow_env, local_dir, fake_pipeline_env, 'Reject')
  assert states['request_approval'] == 'success' and states['promote'] == 'skipped'
  assert not local_dir.joinpath(*ALIAS).exists()


def test_a_source_table_lacking_a_column_fails_the_extract_at_once_naming_it(airflow_env,
                                                                            local_dir):
  import duckdb

  airflow_env.seed(local_dir)
  con = duckdb.connect(str(local_dir / 'warehouse.duckdb'))
  con.execute('ALTER TABLE chicago_taxi_trips.taxi_trips DROP COLUMN payment_type')
  con.close()
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2016-01-01', 'window_days': 90})
  assert rc != 0
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['extract_span'] == 'failed' and states['evaluate_drift'] == 'upstream_failed'
  assert 'lacks column payment_type, which sql/training_window.sql reads' in log
  assert 'up_for_retry' not in log.lower()  # the table's shape: not retried
  assert not list((local_dir / 'bucket').rglob('part-*'))  # no extract ran
  failed = [n for n in notifications(local_dir) if n['event'] == 'task_failed']
  assert len(failed) == 1 and failed[0]['details']['task_id'] == 'extract_span'
  assert 'lacks column payment_type' in failed[0]['message']


def test_a_window_loaded_twice_stops_at_evaluate_drift_with_the_duplicate_rate(
    airflow_env, local_dir, fake_pipeline_env):
  import duckdb

  airflow_env.seed(local_dir)
  con = duckdb.connect(str(local_dir / 'warehouse.duckdb'))
  # the same load appended again (new keys: a warehouse would not notice)
  con.execute("""INSERT INTO chicago_taxi_trips.taxi_trips SELECT * REPLACE
                 (md5(unique_key) AS unique_key) FROM chicago_taxi_trips.taxi_trips""")
  con.close()
  rc, log = airflow_env.run('continuous_training', local_dir,
                            {'window_end': '2016-01-01', 'window_days': 90,
                             'force_retrain': True}, **fake_pipeline_env)
  assert rc != 0
  states = task_states(airflow_env, local_dir, 'continuous_training', log)
  assert states['extract_span'] == 'success' and states['evaluate_drift'] == 'failed'
  assert states['run_pipeline'] == 'upstream_failed'
  assert 'up_for_retry' not in log.lower()  # the same data fails the same way
  assert not (local_dir / 'pipeline_runs').exists()
  assert not (local_dir / Path(*ALIAS)).exists()  # nothing trained, nothing promoted
  failed = [n for n in notifications(local_dir) if n['event'] == 'task_failed']
  assert len(failed) == 1 and failed[0]['details']['task_id'] == 'evaluate_drift'
  assert '(50.0%) are exact copies of another row, above max_duplicate_rate 0.05' in (
      failed[0]['message'])
  profiles = list((local_dir / 'bucket').rglob('profile.json'))
  assert len(profiles) == 1
  profile = json.loads(profiles[0].read_text())
  assert profile['duplicate_rows'] * 2 == profile['rows']

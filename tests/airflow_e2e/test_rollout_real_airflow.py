"""Model delivery under a real Airflow, after test_real_airflow.py on the same cluster: a
promotion with `rollout: canary` nominates a challenger, its Asset event makes the
scheduler start model_rollout, the real triggerer waits on the canary's live traffic
(sent by the replayer, as callers would), and the challenger is rolled out.

The models are stand-ins (tests/fakes/serving_models.py) so that the real model server
(serving env) loads them in seconds.
"""

import datetime as dt
import json
import time

import pytest
from conftest import fake_pipeline_command, notifications
from fakes import lineage, serving_models
from fakes.http import free_port
from test_real_airflow import assert_no_task_failed, champion, logical, settings

DAG = 'continuous_training'
ROLLOUT = 'model_rollout'
MODEL = 'chicago-taxi-tipper'


@pytest.fixture(scope='module')
def serving(cluster, tmp_path_factory):
  """Stand-in models, a serve port and a quick policy; stops the server the rollout starts."""
  models = serving_models.build(tmp_path_factory.mktemp('models'), 'a', 'a2')
  # This test follows the rollout's path through real Airflow, not latency: CI runs it beside
  # the orchestration suite on 2 cores, where the p99 of 200 canary requests swings by 100s
  # of ms. The p99 check itself is tested in tests/plugins/rollout (canary.compare).
  policy_file = serving_models.quick_policy(tmp_path_factory.mktemp('policy') / 'policy.yaml',
                                            canary={'p99_slack_ms': 2000})
  yield models, {'serve_port': free_port(), 'serving_policy_file': str(policy_file)}
  serving_models.stop_server(cluster.local_dir)


def pipeline_with(model_folder) -> list:
  return ['env', f'FAKE_PIPELINE_MODEL={model_folder}'] + fake_pipeline_command('succeed')


def test_a_canary_promotion_starts_model_rollout_which_rolls_the_challenger_out(
    cluster, api, serving):
  from ct_platform.config import load_settings
  from ct_platform.replay import replay, served_features, window_rows
  from ct_platform.rollout.server import served_split

  models, values = serving
  api.set_paused(ROLLOUT, False)
  api.set_paused(DAG, False)  # test_real_airflow.py does so too; this file also runs alone
  # a servable champion first (rollout none: the alias moves at promotion)
  settings(api, local_pipeline_command=pipeline_with(models['a']), rollout='none', **values)
  run = api.trigger(DAG, conf={'force_retrain': True}, logical_date=logical())
  assert api.wait_run(DAG, run['dag_run_id'], timeout=300)['state'] == 'success'
  first = champion(cluster)['version']

  # the next promotion nominates a challenger; its Asset event starts model_rollout
  known = {r['dag_run_id'] for r in api.runs(ROLLOUT)}
  settings(api, local_pipeline_command=pipeline_with(models['a2']), rollout='canary', **values)
  run = api.trigger(DAG, conf={'force_retrain': True}, logical_date=logical())
  done = api.wait_run(DAG, run['dag_run_id'], timeout=300)
  states = api.task_states(DAG, run['dag_run_id'])
  assert done['state'] == 'success' and states['nominate_challenger'] == 'success', states
  assert states['promote'] == 'skipped' and champion(cluster)['version'] == first

  deadline = time.monotonic() + 120
  while not (new := [r for r in api.runs(ROLLOUT) if r['dag_run_id'] not in known]):
    assert time.monotonic() < deadline, 'no model_rollout run after the challenger event'
    time.sleep(1)
  (rollout,) = new
  assert rollout['run_type'] == 'asset_triggered'
  rollout_id = rollout['dag_run_id']

  # the canary defers on the triggerer; callers' traffic reaches both models meanwhile
  api.wait_task(ROLLOUT, rollout_id, 'wait_for_canary', 'deferred', timeout=300)
  local = load_settings({'local_dir': str(cluster.local_dir), **values}, use_variable=False)
  assert (served_split(local) or {}).get(f'v{first + 1}') == 10
  url = f'http://127.0.0.1:{values["serve_port"]}'
  rows = window_rows(local, served_features(url, MODEL), dt.date(2016, 1, 1), 365, limit=4000)
  sent = {}
  while api.run(ROLLOUT, rollout_id)['state'] not in ('success', 'failed'):
    assert time.monotonic() < deadline + 600, 'model_rollout did not finish'
    result = replay(url, MODEL, rows, rate=200, seconds=5, clients=4, progress=lambda _: None)
    for k, v in result['by_deployed_model'].items():
      sent[k] = sent.get(k, 0) + v
  states = api.task_states(ROLLOUT, rollout_id)
  assert api.run(ROLLOUT, rollout_id)['state'] == 'success', states
  assert_no_task_failed(states)
  assert states['wait_for_canary'] == 'success' and states['full_rollout'] == 'success', (
      states, api.xcom(ROLLOUT, rollout_id, 'compare_canary'))
  assert states['roll_back'] == states['reject_challenger'] == 'skipped'
  # the triggerer, not a worker, waited: its log has the trigger's own lines
  task_logs = (cluster.home / 'logs' / f'dag_id={ROLLOUT}' / f'run_id={rollout_id}' /
               'task_id=wait_for_canary')
  trigger_logs = ''.join(p.read_text(errors='replace') for p in task_logs.rglob('*')
                         if p.is_file())
  assert 'waiting for 200 requests answered by' in trigger_logs

  assert champion(cluster)['version'] == first + 1
  assert served_split(local) == {f'v{first}': 0, f'v{first + 1}': 100}
  assert sent.get(f'v{first + 1}', 0) > 0
  report = api.xcom(ROLLOUT, rollout_id, 'write_report')
  assert 'ROLLED OUT' in open(report).read()
  events = [n['event'] for n in notifications(cluster.local_dir)]
  assert events[-3:] == ['rollout_started', 'rollout_completed', 'champion_promoted']
  meta = json.loads((cluster.local_dir / 'registry' / MODEL / 'versions' / str(first + 1) /
                     'rollouts.json').read_text())
  assert meta[-1]['outcome'] == 'rolled_out' and meta[-1]['run_id'] == rollout_id

  # OpenLineage across both DAGs, for this version: its training run's span -> pipeline
  # run -> candidate -> registry version (challenger) -> the endpoint at 10%, then 100%
  def of_run(dag, task, run_id):
    (event,) = [e for e in lineage.completed(cluster.local_dir, dag, task)
                if e['run']['facets']['airflow']['dagRun']['run_id'] == run_id]
    return event

  trained = run['dag_run_id']
  span = lineage.one(of_run(DAG, 'extract_span', trained)['outputs'])
  pipeline = of_run(DAG, 'run_pipeline', trained)
  assert (span['namespace'], span['name']) in lineage.names(pipeline['inputs'])
  record = json.loads((cluster.local_dir / 'registry' / MODEL / 'versions' / str(first + 1) /
                       'metadata.json').read_text())
  facet = pipeline['run']['facets']['ctPipelineRun']
  assert (facet['runId'], facet['pipelineVersion']) == (
      record['run_id'], record['pipeline']['version'])
  candidate = lineage.one(pipeline['outputs'])
  nominated = of_run(DAG, 'nominate_challenger', trained)
  assert lineage.names(nominated['inputs']) == [(candidate['namespace'], candidate['name'])]
  version = lineage.one(nominated['outputs'])
  assert version['facets']['ctModelVersion']['version'] == first + 1
  assert version['facets']['ctModelVersion']['alias'] == 'challenger'
  for task, share in (('deploy_canary', 10), ('full_rollout', 100)):
    deployed = of_run(ROLLOUT, task, rollout_id)
    assert lineage.names(deployed['inputs']) == [(version['namespace'], version['name'])]
    facet = lineage.one(deployed['outputs'])['facets']['ctServingDeployment']
    assert facet['trafficSplit'][f'v{first + 1}'] == share, facet

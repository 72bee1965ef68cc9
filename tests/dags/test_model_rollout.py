"""model_rollout under `airflow dags test`: the real model server (serving env), the real
Locust load test, the real canary wait on the prediction log, with live traffic from the
replayer; only the models are small stand-ins (tests/serving/stand_in_models.py).

  a good challenger goes to 100% and becomes champion;
  a challenger slower than the policy's p99 is stopped at the load test (no traffic);
  a challenger that predicts a constant is rolled back after the canary.
"""

import datetime as dt
import json
import os
import time

import pytest
from dag_runs import LINEAGE, task_states
from fakes import lineage, serving_models
from fakes.http import free_port

MODEL = 'chicago-taxi-tipper'


@pytest.fixture(scope='session')
def stand_in_models(tmp_path_factory):
  return serving_models.build(tmp_path_factory.mktemp('stand-in-models'), 'a', 'a2',
                              'constant', 'very-slow')


@pytest.fixture
def serving(local_dir, tmp_path):
  """Settings for a rollout in local_dir: a free serve port and a quick policy. Stops the
  model server the rollout started."""
  policy_file = serving_models.quick_policy(tmp_path / 'policy.yaml', serving_p99_ms=150)
  yield {'CT_SERVE_PORT': str(free_port()), 'CT_SERVING_POLICY_FILE': str(policy_file)}
  serving_models.stop_server(local_dir)


def register(local_dir, folder, version_of=None):
  from ct_platform.backends.local_registry import LocalModelRegistry

  reg = LocalModelRegistry(local_dir / 'registry', MODEL)
  record = reg.register(folder, {'smoke_test': {
      'passed': True, 'examples': 12, 'message': 'stand-in',
      'rows_uri': os.path.join(folder, 'smoke_rows.json')}, 'run_id': f'run-{version_of}'})
  return record['version']


def champion_and_challenger(local_dir, models, challenger):
  from ct_platform.backends.local_registry import LocalModelRegistry

  v1 = register(local_dir, models['a'], 'a')
  v2 = register(local_dir, models[challenger], challenger)
  reg = LocalModelRegistry(local_dir / 'registry', MODEL)
  reg.set_alias(v1, 'champion')
  reg.set_alias(v2, 'challenger')
  return reg


def endpoint_split(local_dir) -> dict:
  path = local_dir / 'serving' / 'endpoint.json'
  return json.loads(path.read_text())['traffic_split'] if path.exists() else {}


def notifications(local_dir) -> list:
  path = local_dir / 'notifications.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def replay_until_done(airflow_env, local_dir, env, proc, timeout=600):
  """Sends the warehouse's trips to the endpoint while the canary waits, as callers do."""
  from ct_platform.config import load_settings
  from ct_platform.replay import replay, served_features, window_rows
  from ct_platform.rollout.server import served_split

  url = f'http://127.0.0.1:{env["CT_SERVE_PORT"]}'
  settings = load_settings({'local_dir': str(local_dir), 'serve_port': env['CT_SERVE_PORT']},
                           use_variable=False)
  deadline = time.monotonic() + timeout
  while (served_split(settings) or {}).get('v2') != 50:  # the server applies the canary
    assert proc.poll() is None, 'the rollout ended before the canary was deployed'
    assert time.monotonic() < deadline
    time.sleep(0.5)
  rows = window_rows(settings, served_features(url, MODEL), dt.date(2015, 1, 1), 365,
                     limit=3000)
  sent = {}
  while proc.poll() is None and time.monotonic() < deadline:
    result = replay(url, MODEL, rows, rate=150, seconds=5, clients=4, progress=lambda _: None)
    for k, v in result['by_deployed_model'].items():
      sent[k] = sent.get(k, 0) + v
  proc.wait(timeout=max(1, deadline - time.monotonic()))
  return sent


def run_rollout(airflow_env, local_dir, env, conf, with_traffic):
  path = local_dir / 'dags-test-model_rollout.log'
  proc = airflow_env.start('model_rollout', local_dir, conf, **env)
  sent = replay_until_done(airflow_env, local_dir, env, proc) if with_traffic else {}
  rc = proc.wait(timeout=900)
  log = path.read_text()
  return rc, log, sent


CANARY = {'version': 2, 'canary_percent': 50, 'min_requests': 60, 'observation_minutes': 5}


def test_a_good_challenger_goes_to_100_percent_and_becomes_champion(
    airflow_env, local_dir, stand_in_models, serving):
  airflow_env.seed(local_dir)
  reg = champion_and_challenger(local_dir, stand_in_models, 'a2')
  rc, log, sent = run_rollout(airflow_env, local_dir, {**serving, **LINEAGE}, CANARY,
                              with_traffic=True)
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'model_rollout', log)
  assert states == {
      'plan_rollout': 'success', 'validate_infrastructure': 'success', 'load_test': 'success',
      'after_checks': 'success', 'deploy_canary': 'success', 'reject_challenger': 'skipped',
      'wait_for_canary': 'success', 'compare_canary': 'success', 'after_canary': 'success',
      'full_rollout': 'success', 'roll_back': 'skipped',
      'restore_champion_traffic': 'skipped', 'write_report': 'success'}, states
  assert sent.get('v2', 0) > 0 and sent.get('v1', 0) > 0  # both served live requests
  assert endpoint_split(local_dir) == {'v1': 0, 'v2': 100}  # v1 kept, at 0%, for rollback
  assert reg.get_alias('champion')['version'] == 2
  (rollout,) = reg.get_version(2)['rollouts']
  assert rollout['outcome'] == 'rolled_out' and rollout['against'] == 1
  events = [n['event'] for n in notifications(local_dir)]
  assert events == ['rollout_started', 'rollout_completed', 'champion_promoted']
  report = rollout['report']
  text = open(report).read()
  assert 'ROLLED OUT: version 2 is champion at 100%' in text
  assert text.count('<svg') >= 4  # load-test latency, scores, latency, traffic
  saved = json.loads(open(os.path.join(os.path.dirname(report), 'rollout.json')).read())
  assert saved['compare_canary']['passed'] and saved['load_test']['passed']
  assert saved['compare_canary']['challenger']['requests'] >= 60

  # OpenLineage: registry version 2 -> the endpoint, at 50% (canary) and then at 100%
  port = serving['CT_SERVE_PORT']
  version = str(local_dir / 'registry' / MODEL / 'versions' / '2' / 'model')
  for task, split, alias in (('deploy_canary', {'v1': 50, 'v2': 50}, 'challenger'),
                             ('full_rollout', {'v1': 0, 'v2': 100}, 'champion')):
    (event,) = lineage.completed(local_dir, 'model_rollout', task)
    model = lineage.one(event['inputs'])
    assert (model['name'], model['facets']['ctModelVersion']['version']) == (version, 2)
    assert model['facets']['ctModelVersion']['alias'] == alias
    served = lineage.one(event['outputs'])
    assert (served['namespace'], served['name']) == (f'http://127.0.0.1:{port}',
                                                     f'/v1/models/{MODEL}')
    facet = served['facets']['ctServingDeployment']
    assert (facet['deployedModelId'], facet['trafficSplit']) == ('v2', split), facet


def test_a_challenger_slower_than_the_policy_is_stopped_at_the_load_test(
    airflow_env, local_dir, stand_in_models, serving):
  airflow_env.seed(local_dir)
  reg = champion_and_challenger(local_dir, stand_in_models, 'very-slow')
  before = endpoint_split(local_dir)
  rc, log, _ = run_rollout(airflow_env, local_dir, serving, CANARY, with_traffic=False)
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'model_rollout', log)
  assert states['validate_infrastructure'] == 'success' and states['load_test'] == 'success'
  assert states['reject_challenger'] == 'success' and states['deploy_canary'] == 'skipped'
  assert states['full_rollout'] == 'skipped' and states['write_report'] == 'success'
  assert 'failed' not in states.values()
  assert endpoint_split(local_dir) == before  # it never took traffic
  assert reg.get_alias('champion')['version'] == 1
  (rollout,) = reg.get_version(2)['rollouts']
  assert rollout['outcome'] == 'rejected_before_traffic'
  assert any('p99' in r and 'at most 150' in r for r in rollout['reasons']), rollout
  assert 'STOPPED before any traffic' in open(rollout['report']).read()


def test_a_challenger_that_predicts_a_constant_is_rolled_back_after_the_canary(
    airflow_env, local_dir, stand_in_models, serving):
  airflow_env.seed(local_dir)
  reg = champion_and_challenger(local_dir, stand_in_models, 'constant')
  rc, log, sent = run_rollout(airflow_env, local_dir, serving, CANARY, with_traffic=True)
  assert rc == 0, log[-5000:]
  states = task_states(airflow_env, local_dir, 'model_rollout', log)
  assert states['compare_canary'] == 'success' and states['roll_back'] == 'success'
  assert states['full_rollout'] == 'skipped' and 'failed' not in states.values()
  assert sent.get('v2', 0) > 0
  assert endpoint_split(local_dir) == {'v1': 100}  # the challenger left the endpoint
  assert reg.get_alias('champion')['version'] == 1
  (rollout,) = reg.get_version(2)['rollouts']
  assert rollout['outcome'] == 'rolled_back' and rollout['stage'] == 'canary'
  assert any('PSI of the predicted-score distributions' in r for r in rollout['reasons'])
  assert notifications(local_dir)[-1]['event'] == 'rollout_rolled_back'
  assert 'ROLLED BACK: the champion serves 100%' in open(rollout['report']).read()

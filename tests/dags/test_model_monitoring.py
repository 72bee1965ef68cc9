"""model_monitoring under `airflow dags test`, on prediction logs with known properties
(tests/fakes/monitoring.py: real trips of the seeded warehouse, a stand-in scorer):

  no change                  -> every check ok, no request;
  a shifted feature          -> a skew request naming it (the Asset event's extra);
  accuracy fell              -> a decay request;
  too few labels             -> decay says "not enough labels", no request;
and each task's final state, the records and the dashboard."""

import datetime as dt
import json

import pytest
from dag_runs import task_states
from fakes import monitoring

UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope='module')
def trips(tmp_path_factory):
  local = tmp_path_factory.mktemp('trips')
  monitoring.seed(local)
  return monitoring.trips(local, dt.date(2013, 1, 1), 1095, 700)


def run(airflow_env, local_dir, trips, **log):
  monitoring.seed(local_dir)
  monitoring.register_champion(local_dir)
  monitoring.write_log(local_dir, trips, monitoring.scores(trips, log.pop('how', 'informed')),
                       UNTIL, **log)
  code, out = airflow_env.run('model_monitoring', local_dir,
                              conf={'window_end': UNTIL.isoformat()})
  assert code == 0, out[-4000:]
  states = task_states(airflow_env, local_dir, 'model_monitoring', out)
  records = sorted((local_dir / 'bucket' / 'monitoring' / 'runs').glob('*/monitoring.json'))
  assert len(records) == 1
  return states, json.loads(records[0].read_text()), out


def statuses(record):
  return {c['name']: c['status'] for c in record['checks']}


def requests(local_dir):
  folder = local_dir / 'bucket' / 'monitoring' / 'requests'
  return [json.loads(p.read_text()) for p in sorted(folder.glob('*.json'))]


def test_no_change_no_request(airflow_env, local_dir, trips):
  states, record, out = run(airflow_env, local_dir, trips)
  assert statuses(record) == {'skew': 'ok', 'prediction_drift': 'ok', 'decay': 'ok',
                              'data_quality': 'ok'}, record['verdict']
  assert states == {'plan_window': 'success', 'read_window': 'success',
                    'evaluate': 'success', 'request_retrain': 'skipped',
                    'update_dashboard': 'success'}
  assert requests(local_dir) == []  # nothing crossed: nothing to record
  assert 'no check the policy retrains on crossed its threshold' in out
  assert (local_dir / 'bucket' / 'monitoring' / 'dashboard.html').is_file()


def test_a_shifted_feature_asks_for_a_retraining_naming_it(airflow_env, local_dir, trips):
  states, record, out = run(airflow_env, local_dir, trips,
                            change=lambda i: dict(i, fare=(i['fare'] or 0) * 4 + 20))
  assert statuses(record)['skew'] == 'crossed'
  assert states['request_retrain'] == 'success' and states['update_dashboard'] == 'success'
  [request] = requests(local_dir)
  assert request['sent'] and request['keys'] == ['skew:fare']
  assert request['reasons'][0].startswith('skew on fare (JSD ')
  # the Asset event continuous_training is scheduled on, with the reasons in its extra
  assert 'retrain request ' + request['request_id'] + ' sent: skew on fare (JSD' in out
  history = json.loads((local_dir / 'bucket' / 'monitoring' / 'history.json').read_text())
  assert history[-1]['request']['sent'] is True


def test_fallen_accuracy_asks_for_a_retraining_for_decay(airflow_env, local_dir, trips):
  states, record, _ = run(airflow_env, local_dir, trips, how='shuffled')
  found = statuses(record)
  assert found['decay'] == 'crossed' and found['skew'] == 'ok'
  assert found['prediction_drift'] == 'ok'  # the same scores, dealt out at random
  [request] = requests(local_dir)
  assert request['sent'] and 'decay:auc' in request['keys']
  decay = next(c for c in record['checks'] if c['name'] == 'decay')
  assert decay['online']['auc'] < 0.6 and decay['offline']['auc'] == 0.9
  assert states['request_retrain'] == 'success'


def test_too_few_labels_gives_no_verdict_and_no_request(airflow_env, local_dir, trips):
  # callers that send no example key: no prediction can be joined to its label
  states, record, _ = run(airflow_env, local_dir, trips, how='shuffled', keyed=False)
  decay = next(c for c in record['checks'] if c['name'] == 'decay')
  assert decay['status'] == 'no_verdict'
  assert decay['detail'].startswith('not enough labels: 0 labelled predictions, fewer than '
                                    'min_labels 200')
  assert states['request_retrain'] == 'skipped' and requests(local_dir) == []

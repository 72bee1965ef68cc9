"""Monitoring closes the loop under a real Airflow (after the rollout tests, on the same
cluster): model_monitoring finds skew in the champion's live traffic, its retrain_request
Asset event makes the scheduler start continuous_training, which retrains (whatever its
own drift verdict) and records why in the registry; a second request inside the cooldown
is suppressed and starts nothing. Then a Vertex AI Model Monitoring alert published to the
Pub/Sub fake reaches the real triggerer's AssetWatcher and starts a retraining, and its
redelivery starts none.
"""

import datetime as dt
import json
import time

from conftest import notifications
from fakes import monitoring
from test_real_airflow import assert_no_task_failed, champion, run_to_end, settings, wait_for

CT = 'continuous_training'
MONITORING = 'model_monitoring'
ALERTS = 'vertex_monitoring_alerts'


def new_run(api, dag_id, known, timeout=120):
  """The first run of dag_id not in `known` that an Asset event started."""
  return wait_for(lambda: next((r for r in api.runs(dag_id) if r['dag_run_id'] not in known
                                and r['run_type'] == 'asset_triggered'), None),
                  timeout=timeout, what=f'a new asset-triggered {dag_id} run')


def requests(cluster):
  folder = cluster.local_dir / 'bucket' / 'monitoring' / 'requests'
  return {p.stem: json.loads(p.read_text()) for p in folder.glob('*.json')}


def registry_record(cluster, version):
  path = (cluster.local_dir / 'registry' / 'chicago-taxi-tipper' / 'versions' / str(version) /
          'metadata.json')
  return json.loads(path.read_text())


def test_skew_in_live_traffic_starts_a_retraining_that_says_why(cluster, api):
  settings(api, retrain_cooldown_hours=24, default_window_days=30)
  api.set_paused(CT, False)
  if champion(cluster) is None:  # run alone (-k): the earlier tests leave one otherwise
    assert run_to_end(api, conf={'force_retrain': True})[0]['state'] == 'success'
  before = champion(cluster)
  # the champion's last hour of traffic: trips of 2016 whose fares callers now send x4
  trips = monitoring.trips(cluster.local_dir, dt.date(2016, 1, 1), 366, 700)
  now = dt.datetime.now(dt.timezone.utc)
  monitoring.write_log(cluster.local_dir, trips, monitoring.scores(trips), now,
                       version=before['version'], name='part-e2e-skew.parquet',
                       change=lambda i: dict(i, fare=(i['fare'] or 0) * 4 + 20))
  for dag_id in (MONITORING, ALERTS):
    api.set_paused(dag_id, False)
  known_ct = {r['dag_run_id'] for r in api.runs(CT)}
  window_end = (now + dt.timedelta(minutes=1)).isoformat()
  run = api.trigger(MONITORING, conf={'window_end': window_end}, logical_date=None)
  assert api.wait_run(MONITORING, run['dag_run_id'])['state'] == 'success'
  states = api.task_states(MONITORING, run['dag_run_id'])
  assert states == {'plan_window': 'success', 'read_window': 'success', 'evaluate': 'success',
                    'request_retrain': 'success', 'update_dashboard': 'success'}
  sent = api.xcom(MONITORING, run['dag_run_id'], 'request_retrain')
  assert sent['send'] and 'skew:fare' in sent['keys']

  # the Asset event, with the reasons in its extra, started continuous_training
  events = api.get('/assets/events', params={'limit': 100})['asset_events']
  [event] = [e for e in events if e['name'] == 'chicago-taxi-tipper.retrain_request']
  assert event['extra']['request_id'] == sent['request_id']
  assert event['source_dag_id'] == MONITORING
  retrain = new_run(api, CT, known_ct)
  assert retrain['run_type'] == 'asset_triggered'
  done = api.wait_run(CT, retrain['dag_run_id'], timeout=300)
  ct_states = api.task_states(CT, retrain['dag_run_id'])
  assert done['state'] == 'success', ct_states
  assert_no_task_failed(ct_states)
  assert ct_states['retrain_needed'] == 'success' and ct_states['promote'] == 'success'
  plan = api.xcom(CT, retrain['dag_run_id'], 'plan_run')
  assert plan['trigger']['kind'] == 'monitoring'
  assert plan['trigger']['requests'] == [sent['request_id']]
  assert plan['trigger']['reason'].startswith('triggered by monitoring: skew on ')
  assert 'skew on fare (JSD ' in plan['trigger']['reason']
  # trained on the days the live traffic came from, not on today's empty window
  assert plan['window']['source'] == 'retrain_request'
  assert plan['window']['end'] == sent['data_until']
  # the drift verdict was still computed and reported
  assert api.xcom(CT, retrain['dag_run_id'], 'evaluate_drift')['report'].endswith('.html')
  after = champion(cluster)
  assert after['version'] > before['version']
  record = registry_record(cluster, after['version'])
  assert record['trigger']['kind'] == 'monitoring'
  assert any(r.startswith('skew on fare') for r in record['trigger']['reasons'])
  assert record['approval']['by'] == 'promotion gate (auto)'
  promoted = [n for n in notifications(cluster.local_dir) if n['event'] == 'champion_promoted']
  assert 'triggered by monitoring: skew on ' in promoted[-1]['message']
  assert 'skew on fare (JSD ' in promoted[-1]['message']

  # the new champion is sent the same shifted fares: inside the cooldown, the request is
  # recorded and suppressed
  monitoring.write_log(cluster.local_dir, trips, monitoring.scores(trips), now,
                       version=after['version'], name='part-e2e-skew-2.parquet',
                       change=lambda i: dict(i, fare=(i['fare'] or 0) * 4 + 20))
  known_ct = {r['dag_run_id'] for r in api.runs(CT)}
  again = api.trigger(MONITORING, conf={'window_end': window_end}, logical_date=None)
  assert api.wait_run(MONITORING, again['dag_run_id'])['state'] == 'success'
  assert api.task_states(MONITORING, again['dag_run_id'])['request_retrain'] == 'skipped'
  suppressed = [r for r in requests(cluster).values() if not r['sent']]
  assert len(suppressed) == 1 and suppressed[0]['why'].startswith('cooldown: request ')
  time.sleep(8)  # a scheduler loop or two: no run may appear
  assert {r['dag_run_id'] for r in api.runs(CT)} == known_ct
  dashboard = cluster.local_dir / 'bucket' / 'monitoring' / 'dashboard.html'
  assert 'retrain requested' in dashboard.read_text()


def publish(cluster, item: dict) -> None:
  outbox = cluster.pubsub_state / 'outbox'
  path = outbox / f'{time.monotonic_ns()}.json'
  path.with_suffix('.tmp').write_text(json.dumps(item))
  path.with_suffix('.tmp').rename(path)


def test_a_vertex_alert_through_pubsub_starts_one_retraining_and_its_redelivery_none(
    cluster, api):
  from fakes import pubsub

  settings(api, retrain_cooldown_hours=0, default_window_days=30)
  known_alerts = {r['dag_run_id'] for r in api.runs(ALERTS)}
  known_ct = {r['dag_run_id'] for r in api.runs(CT)}
  publish(cluster, {'data': pubsub.alert('0.e2e-incident', feature='trip_miles'),
                    'message_id': 'e2e-1'})
  alert_run = new_run(api, ALERTS, known_alerts, timeout=90)
  assert alert_run['run_type'] == 'asset_triggered'
  assert api.wait_run(ALERTS, alert_run['dag_run_id'])['state'] == 'success'
  assert api.task_states(ALERTS, alert_run['dag_run_id']) == {'request_retrain': 'success'}
  request = api.xcom(ALERTS, alert_run['dag_run_id'], 'request_retrain')
  assert request['incidents'] == ['0.e2e-incident'] and request['send']
  retrain = new_run(api, CT, known_ct)
  assert api.wait_run(CT, retrain['dag_run_id'], timeout=300)['state'] == 'success'
  plan = api.xcom(CT, retrain['dag_run_id'], 'plan_run')
  assert 'Vertex AI Model Monitoring: raw-feature-drift on trip_miles' in plan['trigger']['reason']
  log = [json.loads(line) for line in (cluster.pubsub_state / 'log.jsonl').read_text()
         .splitlines()]
  assert any(c['method'] == 'Acknowledge' for c in log)  # the trigger acked it

  # Pub/Sub delivers the same incident again: a new event, a new run, no new request
  known_alerts = {r['dag_run_id'] for r in api.runs(ALERTS)}
  known_ct = {r['dag_run_id'] for r in api.runs(CT)}
  publish(cluster, {'redeliver': 'e2e-1'})
  second = new_run(api, ALERTS, known_alerts, timeout=90)
  assert api.wait_run(ALERTS, second['dag_run_id'])['state'] == 'success'
  assert api.task_states(ALERTS, second['dag_run_id']) == {'request_retrain': 'skipped'}
  time.sleep(8)
  assert {r['dag_run_id'] for r in api.runs(CT)} == known_ct
  for dag_id in (MONITORING, ALERTS):
    api.set_paused(dag_id, True)

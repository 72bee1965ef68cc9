"""Vertex AI Model Monitoring alerts through Pub/Sub: the real trigger (the provider's
MessageQueueTrigger, scheme google+pubsub, on google-cloud-pubsub's client) against a
loopback fake of the Pub/Sub API, and the request rules on what it yields, with a
redelivered incident."""

import asyncio
import base64
import json

import pytest
from fakes import pubsub

from ct_platform.monitoring import alerts, steps


@pytest.fixture
def subscriber(monkeypatch):
  fake = pubsub.FakeSubscriber()
  server, port = pubsub.serve(fake)
  monkeypatch.setenv('PUBSUB_EMULATOR_HOST', f'127.0.0.1:{port}')
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))
  yield fake
  server.stop(0)


def pull_once() -> dict:
  """What the AssetWatcher's trigger yields for one pull (the event's payload)."""
  from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

  trigger = MessageQueueTrigger(scheme='google+pubsub', project_id='p1', subscription='alerts',
                                max_messages=10, ack_messages=True,
                                gcp_conn_id='google_cloud_default', poke_interval=0.2,
                                return_immediately=False)

  async def first():
    async for event in trigger.run():
      return event.payload
  return asyncio.run(asyncio.wait_for(first(), 30))


def as_event(payload) -> dict:
  # Airflow stores a watcher's trigger event as the Asset event's extra, so
  return {'asset': 'chicago-taxi-tipper.vertex_monitoring_alert',
          'extra': {'from_trigger': True, 'payload': payload}}


@pytest.fixture
def settings(tmp_path):
  from ct_platform.config import load_settings
  return load_settings({'local_dir': str(tmp_path), 'retrain_cooldown_hours': 0},
                       use_variable=False)


def test_an_alert_is_pulled_acked_and_becomes_one_retrain_request(subscriber, settings):
  subscriber.publish(pubsub.alert('0.inc-1', feature='fare'), message_id='m1')
  payload = pull_once()
  assert [c['method'] for c in subscriber.calls] == ['Pull', 'Acknowledge']
  assert subscriber.pending == {}  # acked before Airflow stores the event
  request = steps.alert_request([as_event(payload)], 'asset_triggered__1', settings,
                                active_runs=0)
  assert request['send'] and request['incidents'] == ['0.inc-1']
  assert request['keys'] == ['vertex:raw-feature-drift:fare']
  assert request['reasons'] == ['Vertex AI Model Monitoring: raw-feature-drift on fare: '
                                '0.31 > 0.15 (incident 0.inc-1)']
  assert steps.request_extra(request)['source'] == 'vertex_model_monitoring'


def test_a_redelivered_incident_does_not_start_a_second_run(subscriber, settings):
  subscriber.publish(pubsub.alert('0.inc-2'), message_id='m2')
  first = steps.alert_request([as_event(pull_once())], 'asset_triggered__1', settings,
                              active_runs=0)
  assert first['send']
  subscriber.redeliver('m2')  # at-least-once: the same message, a new ack id
  second = steps.alert_request([as_event(pull_once())], 'asset_triggered__2', settings,
                               active_runs=0)
  assert not second['send'] and second['duplicates'] == ['0.inc-2']
  assert second['why'] == 'no open incident that was not seen before (duplicates: 0.inc-2)'
  # a retry of the first run is not its own duplicate
  again = steps.alert_request([as_event({
      'status': 'success', 'message': [first_message('0.inc-2')]})], 'asset_triggered__1',
      settings, active_runs=0)
  assert again['send'] and again['request_id'] == first['request_id']


def first_message(incident_id):
  data = base64.b64encode(json.dumps(pubsub.alert(incident_id)).encode()).decode()
  return {'ack_id': 'a', 'message': {'data': data, 'message_id': 'm'}}


def test_merged_events_are_all_read_and_closed_or_foreign_messages_are_not_reasons(settings):
  closed = base64.b64encode(json.dumps(pubsub.alert('0.inc-4', state='closed')).encode())
  junk = base64.b64encode(b'not json')
  events = [as_event({'message': [first_message('0.inc-3')]}),
            as_event({'message': [{'message': {'data': closed.decode(), 'message_id': 'c'}},
                                  {'message': {'data': junk.decode(), 'message_id': 'j'}},
                                  first_message('0.inc-3')]})]
  found, problems = alerts.from_events(events)
  assert [a['incident_id'] for a in found] == ['0.inc-3', '0.inc-4']
  assert problems == ['message j: data is not base64 JSON (Expecting value: line 1 column 1 '
                      '(char 0))']
  request = steps.alert_request(events, 'asset_triggered__3', settings, active_runs=0)
  assert request['send'] and request['incidents'] == ['0.inc-3'] and request['closed'] == [
      '0.inc-4']


def test_a_message_without_an_incident_is_named():
  data = base64.b64encode(json.dumps({'hello': 1}).encode()).decode()
  with pytest.raises(alerts.AlertError, match=r'message m9: no "incident" object; a Cloud '
                                              r"Monitoring incident notification was "
                                              r"expected, got keys \['hello'\]"):
    alerts.parse({'message': {'data': data, 'message_id': 'm9'}})


def test_a_recorded_request_can_be_answered_by_hand(settings):
  """continuous_training's retrain_request_id Param: the request as its Asset event."""
  from ct_platform import run_trigger
  events = [as_event({'message': [first_message('0.inc-5')]})]
  request = steps.alert_request(events, 'asset_triggered__5', settings, active_runs=0)
  event = steps.request_event(request['request_id'], settings)
  trigger = run_trigger.describe('manual', 'ada', [event])
  assert trigger['kind'] == 'monitoring' and trigger['requests'] == [request['request_id']]
  assert trigger['reasons'] == request['reasons']
  with pytest.raises(ValueError, match=r"retrain_request_id: no request 'nope' in .*requests; "
                                       r"the latest recorded: \['alert-asset-triggered"):
    steps.request_event('nope', settings)

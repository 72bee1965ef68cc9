"""EndpointOperationTrigger: a Vertex AI deploy waited for on the triggerer, with the real
client (REST) above the loopback fake: done, failed with Vertex AI's message, polls that
fail for a while, a deadline."""

import asyncio
import datetime as dt
import json

import pytest
from fakes.vertex import FakeVertex

from ct_platform.backends import endpoint_from_config
from ct_platform.backends.vertex_endpoint import VertexEndpoint
from ct_platform.backends.vertex_registry import VertexModelRegistry
from ct_platform.triggers.endpoint_operation import EndpointOperationTrigger


@pytest.fixture
def endpoint(tmp_path, monkeypatch):
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))
  fake = FakeVertex()
  fake.deploy_polls = 3
  registry = VertexModelRegistry('p1', 'us-central1', 'chicago-taxi-tipper',
                                 api_endpoint=fake.endpoint, serving_image='img:1')
  for i in (1, 2):
    (tmp_path / f'c{i}' / 'Format-Serving').mkdir(parents=True)
    registry.register(str(tmp_path / f'c{i}'), {'run_id': f'r{i}', 'smoke_test': {
        'passed': True, 'message': 'ok'}})
  yield fake, VertexEndpoint('p1', 'us-central1', 'chicago-taxi-tipper',
                             api_endpoint=fake.endpoint)
  fake.close()


def _trigger(endpoint, operation, seconds=60):
  deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
  trigger = EndpointOperationTrigger(endpoint.config(), operation, 'deploy of version 1',
                                     deadline.isoformat(), poll_interval=0.05,
                                     max_poll_error_seconds=30)
  path, kwargs = trigger.serialize()  # what the triggerer rebuilds it from
  assert path == 'ct_platform.triggers.endpoint_operation.EndpointOperationTrigger'
  return EndpointOperationTrigger(**json.loads(json.dumps(kwargs)))


async def _events(trigger):
  return [e.payload async for e in trigger.run()]


def test_the_endpoint_is_rebuilt_from_its_config():
  endpoint = VertexEndpoint('p1', 'europe-west4', 'm', endpoint_id='e7', log_table='bq://a.b.c',
                            impersonation_chain='sa@p1.iam.gserviceaccount.com')
  rebuilt = endpoint_from_config(json.loads(json.dumps(endpoint.config())))
  assert rebuilt.config() == endpoint.config() and rebuilt.resource == endpoint.resource
  with pytest.raises(ValueError, match="endpoint config kind 'gke' is unknown"):
    endpoint_from_config({'kind': 'gke', 'kwargs': {}})


def test_a_deploy_is_done_after_its_polls_and_503s_while_polling_are_retried(endpoint):
  fake, vertex = endpoint
  operation = vertex.begin_deploy(1, 'gs://m/1', 100)
  assert operation and vertex.state().traffic_split == {}  # started, not done
  fake.operation_503 = 2
  (event,) = asyncio.run(_events(_trigger(vertex, operation)))
  assert event == {'status': 'DONE', 'operation': operation,
                   'message': 'deploy of version 1 done'}
  assert vertex.state().traffic_split == {'1': 100}
  gets = [c for c in fake.log if c[0] == 'GET' and c[1].endswith(operation)]
  assert len(gets) >= 5  # 2 refused, then polled until done


def test_a_deploy_that_fails_yields_vertex_ais_message(endpoint):
  fake, vertex = endpoint
  fake.fail_deploy = 'Model server never became ready'
  operation = vertex.begin_deploy(1, 'gs://m/1', 100)
  (event,) = asyncio.run(_events(_trigger(vertex, operation)))
  assert event['status'] == 'FAILED'
  assert event['message'].startswith('deploy of version 1 failed: Model server never became '
                                     'ready (code 13')


def test_past_its_deadline_it_yields_timeout(endpoint):
  fake, vertex = endpoint
  fake.deploy_polls = 10_000
  operation = vertex.begin_deploy(1, 'gs://m/1', 100)
  (event,) = asyncio.run(_events(_trigger(vertex, operation, seconds=0.3)))
  assert event['status'] == 'TIMEOUT' and operation in event['message']


def test_a_deployed_version_only_moves_its_share_with_no_operation(endpoint):
  fake, vertex = endpoint
  vertex.deploy(1, 'gs://m/1', 100)
  vertex.deploy(2, 'gs://m/2', 10)
  assert vertex.begin_deploy(2, 'gs://m/2', 30) is None
  assert vertex.state().traffic_split == {'1': 70, '2': 30}

"""The Vertex AI Endpoint backend with the real google-cloud-aiplatform client (REST) above
the loopback fake (tests/fakes/vertex.py): created once with request-response logging,
a canary deploy with a traffic split, a split change, undeploy; a 503 during a deploy is
retried, a deploy that fails leaves the endpoint as it was."""

import json

import pytest
from fakes.vertex import FakeVertex

from ct_platform.backends.vertex_endpoint import VertexEndpoint
from ct_platform.backends.vertex_registry import VertexModelRegistry
from ct_platform.contracts.endpoint import EndpointError

ENDPOINT = 'projects/p1/locations/us-central1/endpoints/chicago-taxi-tipper'


@pytest.fixture(autouse=True)
def anonymous_connection(monkeypatch):
  monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', json.dumps(
      {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True, 'project': 'p1'}}))


@pytest.fixture
def fake():
  server = FakeVertex()
  server.deploy_polls = 2  # a deploy's operation is not done at its first poll
  yield server
  server.close()


@pytest.fixture
def versions(fake, tmp_path):
  """Versions 1-3 of the model in the fake registry."""
  registry = VertexModelRegistry('p1', 'us-central1', 'chicago-taxi-tipper',
                                 api_endpoint=fake.endpoint, serving_image='img:1')
  for i in (1, 2, 3):
    path = tmp_path / f'c{i}'
    (path / 'Format-Serving').mkdir(parents=True)
    registry.register(str(path), {'run_id': f'r{i}', 'smoke_test': {'passed': True,
                                                                    'message': 'ok'}})
  return registry


@pytest.fixture
def endpoint(fake, versions):
  return VertexEndpoint('p1', 'us-central1', 'chicago-taxi-tipper', api_endpoint=fake.endpoint,
                        log_table='bq://p1.ct_monitoring.prediction_log')


def test_a_champion_then_a_canary_then_a_full_rollout(fake, endpoint):
  assert endpoint.state() is None
  state = endpoint.deploy(1, 'unused', 100)
  (create,) = fake.calls('POST', r'/endpoints$')
  assert create[2]['endpointId'] == ['chicago-taxi-tipper']
  logging = create[3]['predictRequestResponseLoggingConfig']
  assert logging['enabled'] and logging['bigqueryDestination']['outputUri'] == (
      'bq://p1.ct_monitoring.prediction_log')
  assert state.traffic_split == {'1': 100}

  state = endpoint.deploy(2, 'unused', 10)
  deploy = fake.calls('POST', r':deployModel$')[-1][3]
  assert deploy['trafficSplit'] == {'1': 90, '0': 10}  # "0": the model being deployed
  assert deploy['deployedModel']['model'].endswith('/models/chicago-taxi-tipper@2')
  assert deploy['deployedModel']['id'] == '2'
  assert deploy['deployedModel']['dedicatedResources']['machineSpec']['machineType'] == (
      'n1-standard-2')
  assert state.traffic_split == {'1': 90, '2': 10}
  assert [m.model_version_id for m in state.deployed_models] == ['1', '2']
  assert len(fake.calls('POST', r'/endpoints$')) == 1  # created once

  state = endpoint.set_traffic({'2': 100})
  assert state.traffic_split == {'1': 0, '2': 100}
  (patch,) = fake.calls('PATCH', ENDPOINT + '$')
  assert patch[2]['updateMask'] == ['trafficSplit']
  with pytest.raises(EndpointError, match='takes 100% of the traffic'):
    endpoint.undeploy(2)
  state = endpoint.deploy(3, 'unused', 100)
  state = endpoint.undeploy(1)
  assert state.traffic_split == {'2': 0, '3': 100}
  assert [m.id for m in state.deployed_models] == ['2', '3']


def test_a_503_during_a_deploy_is_retried(fake, endpoint):
  endpoint.deploy(1, 'unused', 100)
  fake.deploy_503 = 2
  state = endpoint.deploy(2, 'unused', 10)
  assert state.traffic_split == {'1': 90, '2': 10}
  assert len(fake.calls('POST', r':deployModel$')) == 4  # 1, then 2 refused and 1 accepted


def test_a_deploy_that_fails_raises_its_message_and_changes_nothing(fake, endpoint):
  endpoint.deploy(1, 'unused', 100)
  fake.fail_deploy = 'Model server never became ready: the container exited'
  with pytest.raises(EndpointError, match='deploy of version 2 on .* failed: Model server '
                                          'never became ready'):
    endpoint.deploy(2, 'unused', 10)
  assert endpoint.state().traffic_split == {'1': 100}


def test_bad_splits_are_refused_before_any_call(fake, endpoint):
  endpoint.deploy(1, 'unused', 100)
  calls = len(fake.log)
  with pytest.raises(EndpointError, match=r"\['9'\] not deployed"):
    endpoint.set_traffic({'9': 100})
  with pytest.raises(EndpointError, match='sums to 50, not 100'):
    endpoint.set_traffic({'1': 50})
  assert not [c for c in fake.log[calls:] if c[0] != 'GET']
  with pytest.raises(EndpointError, match='traffic_percent: 150 is not 0-100'):
    endpoint.deploy(2, 'unused', 150)


def test_the_validation_endpoint_is_a_private_one_beside_the_serving_one(fake, endpoint):
  validation = endpoint.validation()
  assert validation.resource == ENDPOINT + '-validation' and validation.purpose == 'validation'
  assert validation.config()['kwargs']['purpose'] == 'validation'  # what a trigger rebuilds
  # Vertex AI's endpoint ids: a numeric one takes no suffix; at most 63 characters
  numeric = VertexEndpoint('p1', 'us-central1', 'chicago-taxi-tipper', endpoint_id='123456')
  assert numeric.validation().endpoint_id == 'chicago-taxi-tipper-validation'
  long = VertexEndpoint('p1', 'us-central1', 'm', endpoint_id='e' * 70).validation()
  assert len(long.endpoint_id) == 63 and long.endpoint_id.endswith('-validation')
  with pytest.raises(ValueError, match="purpose: 'canary' is not serving or validation"):
    VertexEndpoint('p1', 'us-central1', 'm', purpose='canary')
  # the last deployed model may leave with its traffic (the split ends empty); only then
  validation.deploy(2, 'gs://m/2', 100)
  assert validation.state().traffic_split == {'2': 100}
  (create,) = fake.calls('POST', r'/endpoints$')
  assert 'predictRequestResponseLoggingConfig' not in create[3]
  validation.deploy(3, 'gs://m/3', 100)  # 2 goes to 0%
  with pytest.raises(EndpointError, match='3 takes 100% of the traffic'):
    validation.undeploy(3)
  validation.undeploy(2)
  assert validation.undeploy(3).deployed_models == ()

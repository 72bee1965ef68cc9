"""LocalEndpoint: deploy beside, move traffic, undeploy; every file the server would accept."""

import pytest

from ct_platform.backends.local_endpoint import LocalEndpoint, rescale
from ct_platform.contracts import endpoint as contract


@pytest.fixture
def ep(tmp_path):
  return LocalEndpoint(tmp_path / 'serving' / 'endpoint.json')


def test_a_canary_beside_the_champion_then_full_rollout_then_undeploy(ep, tmp_path):
  assert ep.state() is None
  ep.deploy(1, '/reg/versions/1/model', 100)
  state = ep.deploy(2, '/reg/versions/2/model', 10)
  assert state.traffic_split == {'v1': 90, 'v2': 10}
  assert [m.model_version_id for m in state.deployed_models] == ['1', '2']
  assert contract.read(ep.path) == state  # what the server reads
  ep.set_traffic({'v2': 100})
  assert ep.state().traffic_split == {'v1': 0, 'v2': 100}  # the old one stays at 0%
  with pytest.raises(contract.EndpointError, match='v2 takes 100% of the traffic'):
    ep.undeploy(2)
  assert [m.id for m in ep.undeploy(1).deployed_models] == ['v2']


def test_a_refused_change_leaves_the_file_as_it_was(ep):
  ep.deploy(1, '/m/1', 100)
  before = ep.path.read_text()
  with pytest.raises(contract.EndpointError, match='sums to 60'):
    ep.set_traffic({'v1': 60})
  with pytest.raises(contract.EndpointError, match='traffic_percent: 120 is not 0-100'):
    ep.deploy(2, '/m/2', 120)
  assert ep.path.read_text() == before


def test_the_first_model_takes_all_the_traffic(ep):
  with pytest.raises(contract.EndpointError, match='the first deployed model takes 100'):
    ep.deploy(1, '/m/1', 10)


@pytest.mark.parametrize('split, keep, expected', [
    ({'a': 50, 'b': 50}, 90, {'a': 45, 'b': 45}),
    ({'a': 2, 'b': 1}, 100, {'a': 67, 'b': 33}),
    ({'a': 100}, 0, {'a': 0}),
])
def test_rescale_keeps_whole_percents_that_sum_to_the_rest(split, keep, expected):
  assert rescale(split, keep) == expected

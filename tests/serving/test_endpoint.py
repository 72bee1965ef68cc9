"""endpoint: the endpoint file's checks and the traffic split's routing."""

import pytest

from ct_serving import endpoint

TWO = {'endpoint': 'e', 'traffic_split': {'v1': 90, 'v2': 10},
       'deployed_models': [{'id': 'v1', 'model_version_id': '1', 'artifact_uri': '/m/1'},
                           {'id': 'v2', 'model_version_id': '2', 'artifact_uri': '/m/2'}]}


def test_a_ten_percent_split_routes_between_5_and_15_percent_of_2000_requests():
  router = endpoint.Router(endpoint.parse(TWO).traffic_split)
  picks = [router.pick() for _ in range(2000)]
  assert 100 <= picks.count('v2') <= 300
  assert set(picks) == {'v1', 'v2'}


def test_a_zero_percent_model_gets_nothing():
  router = endpoint.Router({'v1': 100, 'v2': 0})
  assert {router.pick() for _ in range(500)} == {'v1'}


@pytest.mark.parametrize('change, message', [
    (lambda d: d['traffic_split'].update(v1=80), 'traffic_split sums to 90, not 100'),
    (lambda d: d['traffic_split'].update(v3=0), 'traffic_split.v3: no deployed model has that'),
    (lambda d: d['traffic_split'].update(v1=90.5), 'traffic_split.v1: 90.5 is not a whole'),
    (lambda d: d['deployed_models'][1].pop('artifact_uri'),
     'deployed_models[1].artifact_uri is missing'),
    (lambda d: d['deployed_models'][1].update(id='v1'), 'deployed_models has duplicate ids'),
])
def test_a_bad_endpoint_file_names_the_field(change, message):
  import copy
  data = copy.deepcopy(TWO)
  change(data)
  with pytest.raises(endpoint.EndpointError, match=message.replace('[', r'\[').replace(
      '.', r'\.')):
    endpoint.parse(data)


def test_write_refuses_what_the_server_would_refuse_and_keeps_the_old_file(tmp_path):
  path = tmp_path / 'endpoint.json'
  endpoint.write(path, endpoint.parse(TWO))
  before = path.read_text()
  bad = endpoint.EndpointState('e', endpoint.parse(TWO).deployed_models, {'v1': 50})
  with pytest.raises(endpoint.EndpointError, match='sums to 50'):
    endpoint.write(path, bad)
  assert path.read_text() == before and endpoint.read(path) == endpoint.parse(TWO)

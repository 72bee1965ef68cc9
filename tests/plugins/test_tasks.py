"""Task logic outside Airflow: rollback rules, promotion refusal, the run report."""

import pytest

from ct_platform import tasks
from ct_platform.backends.local_registry import LocalModelRegistry
from ct_platform.config import load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  return load_settings(use_variable=False)


def _register(settings, tmp_path, name, smoke_passed):
  model = tmp_path / name / 'Format-Serving'
  model.mkdir(parents=True)
  (model / 'saved_model.pb').write_bytes(b'x')
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  return reg.register(str(model.parent), {'smoke_test': {'passed': smoke_passed,
                                                         'message': 'm'}})


def test_rollback_moves_the_alias(settings, tmp_path):
  _register(settings, tmp_path, 'a', True)
  _register(settings, tmp_path, 'b', True)
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  reg.set_alias(2)
  assert tasks.rollback(1, settings)['version'] == 1
  assert reg.get_alias()['version'] == 1


def test_rollback_moves_the_serving_traffic_too_when_the_endpoint_serves(settings, tmp_path):
  from ct_platform.backends.local_endpoint import LocalEndpoint
  v1, v2 = _register(settings, tmp_path, 'a', True), _register(settings, tmp_path, 'b', True)
  endpoint = LocalEndpoint.from_settings(settings)
  endpoint.deploy(1, v1['model_uri'], 100)
  endpoint.deploy(2, v2['model_uri'], 100)
  assert endpoint.state().traffic_split == {'v1': 0, 'v2': 100}
  assert tasks.rollback(1, settings)['traffic_split'] == {'v1': 100, 'v2': 0}
  assert endpoint.state().traffic_split == {'v1': 100, 'v2': 0}


def test_rollback_without_a_served_endpoint_creates_none(settings, tmp_path):
  _register(settings, tmp_path, 'a', True)
  assert 'traffic_split' not in tasks.rollback(1, settings)
  assert _endpoint_path(settings).exists() is False


def _endpoint_path(settings):
  from ct_platform.backends.local_endpoint import LocalEndpoint
  return LocalEndpoint.from_settings(settings).path


def test_rollback_refuses_a_version_that_failed_its_smoke_test(settings, tmp_path):
  _register(settings, tmp_path, 'a', False)
  with pytest.raises(ValueError, match='version: 1 did not pass its smoke test'):
    tasks.rollback(1, settings)
  with pytest.raises(Exception, match='has no version 5'):
    tasks.rollback(5, settings)


def test_promote_refuses_a_rejected_decision(settings):
  with pytest.raises(RuntimeError, match='refusing to promote'):
    tasks.promote({'promote': False, 'outcome': 'reject'}, {}, {}, {}, settings)


def test_plan_run_rejects_bad_params(settings):
  with pytest.raises(ValueError, match='force_reject_reason'):
    tasks.plan_run({'force_reject': True}, None, None, 'r', settings)
  plan = tasks.plan_run({'window_end': '2016-01-01', 'window_days': 10}, None, None, 'r',
                        settings)
  assert plan['window'] == {'start': '2015-12-22', 'end': '2016-01-01', 'days': 10,
                            'source': 'param'}


def test_a_monitoring_request_ends_the_window_where_its_labelled_traffic_ended(settings):
  import datetime as dt
  trigger = {'kind': 'monitoring', 'data_until': '2016-07-01', 'reason': 'r'}
  after = dt.datetime(2026, 12, 4, tzinfo=dt.timezone.utc)
  plan = tasks.plan_run({'window_days': 30}, None, after, 'r', settings, trigger=trigger)
  assert plan['window'] == {'start': '2016-06-01', 'end': '2016-07-01', 'days': 30,
                            'source': 'retrain_request'}
  assert plan['trigger'] is trigger
  # a window_end Param still wins
  plan = tasks.plan_run({'window_end': '2016-01-01', 'window_days': 10}, None, after, 'r',
                        settings, trigger=trigger)
  assert plan['window']['end'] == '2016-01-01' and plan['window']['source'] == 'param'


def test_a_monitoring_request_retrains_whatever_the_drift_verdict(settings, capsys):
  verdict = {'retrain': False, 'reason': 'no significant drift in 15 features',
             'report': 'r.html'}
  plan = {'trigger': {'kind': 'monitoring', 'reason': 'triggered by monitoring: skew on fare'}}
  assert tasks.retrain_needed(verdict, settings, plan) is True
  assert ('retraining: triggered by monitoring: skew on fare; the drift verdict was: no '
          'significant drift in 15 features') in capsys.readouterr().out
  assert tasks.retrain_needed(verdict, settings, {'trigger': {'kind': 'scheduled'}}) is False


def test_promote_stops_when_the_champion_moved_since_the_gate(settings, tmp_path):
  from ct_platform.backends.registry import AliasMoved

  _register(settings, tmp_path, 'a', True)
  _register(settings, tmp_path, 'b', True)
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  reg.set_alias(2)  # a rollback or another run moved it after this run's gate read v1
  candidate = tmp_path / 'cand' / 'Format-Serving'
  candidate.mkdir(parents=True)
  (candidate / 'saved_model.pb').write_bytes(b'c')
  result = {'run_id': 'p1', 'summary': {
      'candidate_model_uri': str(candidate.parent), 'metrics': {'candidate': {}},
      'smoke_test': {'passed': True, 'message': 'm'}, 'pipeline': {}}}
  plan = {'run_id': 'manual__1', 'window': {'start': '2016-01-01', 'end': '2016-02-01'}}
  with pytest.raises(AliasMoved, match='points to version 2 now, not 1'):
    tasks.promote({'promote': True, 'outcome': 'promote'}, result, {'uri': '/s'}, plan,
                  settings, gated_champion={'version': 1})
  assert reg.versions() == [1, 2]  # nothing registered
  assert reg.get_alias()['version'] == 2
  promoted = tasks.promote({'promote': True, 'outcome': 'promote'}, result, {'uri': '/s'},
                           plan, settings, gated_champion={'version': 2})
  assert promoted['version'] == 3 and reg.get_alias()['version'] == 3


def _candidate(tmp_path, name):
  candidate = tmp_path / name / 'Format-Serving'
  candidate.mkdir(parents=True)
  (candidate / 'saved_model.pb').write_bytes(name.encode())
  return {'run_id': name, 'summary': {
      'candidate_model_uri': str(candidate.parent), 'metrics': {'candidate': {}},
      'smoke_test': {'passed': True, 'message': 'm'}, 'pipeline': {}}}


def test_a_challenger_leaves_the_champion_and_a_newer_one_replaces_it(settings, tmp_path):
  _register(settings, tmp_path, 'a', True)
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  reg.set_alias(1)
  plan = {'run_id': 'manual__1', 'window': {'start': '2016-01-01', 'end': '2016-02-01'}}
  decision = {'promote': True, 'outcome': 'promote'}
  first = tasks.promote(decision, _candidate(tmp_path, 'c1'), {'uri': '/s'}, plan, settings,
                        gated_champion={'version': 1}, alias='challenger')
  assert first == {'version': 2, 'model_uri': first['model_uri'],
                   'model_name': settings.model_name, 'alias': 'challenger'}
  assert reg.get_alias()['version'] == 1 and reg.get_alias('challenger')['version'] == 2
  tasks.promote(decision, _candidate(tmp_path, 'c2'), {'uri': '/s'}, plan, settings,
                gated_champion={'version': 1}, alias='challenger')
  assert reg.get_alias()['version'] == 1 and reg.get_alias('challenger')['version'] == 3
  with pytest.raises(ValueError, match="alias: 'canary' is not champion or challenger"):
    tasks.promote(decision, _candidate(tmp_path, 'c3'), {'uri': '/s'}, plan, settings,
                  gated_champion={'version': 1}, alias='canary')


@pytest.mark.parametrize('rollout, champion, mode, expected', [
    ('none', {'version': 1}, 'auto', 'promote'),
    ('canary', {'version': 1}, 'auto', 'nominate_challenger'),
    ('canary', {}, 'auto', 'promote'),  # a first model has nothing to canary against
    ('canary', {'version': 1}, 'manual', ['request_approval', 'nominate_challenger']),
    ('none', {}, 'manual', ['request_approval', 'promote']),
])
def test_choose_path_nominates_a_challenger_only_with_canary_and_a_champion(
    tmp_path, monkeypatch, rollout, champion, mode, expected):
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  settings = load_settings({'rollout': rollout}, use_variable=False)
  decision = {'promote': True, 'outcome': 'promote', 'reasons': [], 'report': 'r'}
  plan = {'dry_run': False, 'promotion_mode': mode}
  assert tasks.choose_path(decision, plan, settings, champion) == expected


def test_the_rollout_setting_is_checked(tmp_path, monkeypatch):
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  with pytest.raises(ValueError, match=r"setting rollout: 'blue-green' is not one of "
                                       r"\['none', 'canary'\]"):
    load_settings({'rollout': 'blue-green'}, use_variable=False)

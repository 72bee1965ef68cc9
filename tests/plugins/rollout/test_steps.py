"""What model_rollout's first step refuses, and the local server's start failing loudly."""

import pytest

from ct_platform.backends.local_registry import LocalModelRegistry
from ct_platform.config import load_settings
from ct_platform.rollout import server, steps


@pytest.fixture
def settings(tmp_path):
  return load_settings({'local_dir': str(tmp_path)}, use_variable=False)


def _version(settings, tmp_path, name, smoke_passed=True):
  model = tmp_path / name / 'Format-Serving'
  model.mkdir(parents=True)
  (model / 'saved_model.pb').write_bytes(name.encode())
  reg = LocalModelRegistry(settings.registry_root, settings.model_name)
  return reg, reg.register(str(model.parent), {'smoke_test': {
      'passed': smoke_passed, 'message': 'm', 'rows_uri': '/rows.json'}})['version']


def test_plan_rollout_refuses_what_cannot_be_rolled_out(settings, tmp_path):
  with pytest.raises(ValueError, match='no champion yet'):
    steps.plan_rollout({}, 'r1', settings)
  reg, v1 = _version(settings, tmp_path, 'a')
  reg.set_alias(v1, 'champion')
  with pytest.raises(ValueError, match='no version has the challenger alias'):
    steps.plan_rollout({}, 'r1', settings)
  with pytest.raises(ValueError, match='version: 1 is the champion already'):
    steps.plan_rollout({'version': 1}, 'r1', settings)
  _, v2 = _version(settings, tmp_path, 'b', smoke_passed=False)
  with pytest.raises(ValueError, match='version: 2 did not pass its smoke test'):
    steps.plan_rollout({'version': v2}, 'r1', settings)
  _, v3 = _version(settings, tmp_path, 'c')
  with pytest.raises(ValueError, match='canary_percent: 100 is not within 1..99'):
    steps.plan_rollout({'version': v3, 'canary_percent': 100}, 'r1', settings)
  reg.set_alias(v3, 'challenger')
  plan = steps.plan_rollout({'reason': 'nightly'}, 'manual__2026-12-01', settings)
  assert plan['challenger']['version'] == 3 and plan['champion']['version'] == 1
  assert plan['canary_percent'] == 10 and plan['min_requests'] == 200
  assert plan['challenger']['smoke_rows'] == '/rows.json' and plan['reason'] == 'nightly'


def test_a_server_that_cannot_start_fails_with_its_own_output(tmp_path):
  settings = load_settings({'local_dir': str(tmp_path), 'serving_python': '/bin/false',
                            'serve_port': 1}, use_variable=False)
  with pytest.raises(RuntimeError, match='the model server exited with 1'):
    server.ensure_running(settings, timeout=30)

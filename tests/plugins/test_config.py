"""config: the settings layers (profile < Variable ct_settings < CT_* env < overrides),
coercion, the errors that name the field, and what the settings derive (paths, version)."""

import json

import pytest

from ct_platform.config import REPO_ROOT, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
  for name in ('CT_PROFILE', 'CT_TRAIN_STEPS', 'CT_PIPELINE_VERSION', 'AIRFLOW_VAR_CT_SETTINGS',
               'CT_DEPLOY_CONFIG'):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))


def test_later_layers_win_profile_then_variable_then_env_then_overrides(monkeypatch):
  assert load_settings().train_steps == 1000  # the field's default
  assert load_settings().default_window_days == 1470  # the local profile's
  monkeypatch.setenv('AIRFLOW_VAR_CT_SETTINGS', json.dumps(
      {'train_steps': 7, 'default_window_days': 3}))
  assert (load_settings().train_steps, load_settings().default_window_days) == (7, 3)
  monkeypatch.setenv('CT_TRAIN_STEPS', '8')
  assert load_settings().train_steps == 8
  assert load_settings({'train_steps': 9}).train_steps == 9
  assert load_settings(use_variable=False).default_window_days == 1470


def test_the_gcp_profile_selects_the_google_backends(monkeypatch):
  monkeypatch.setenv('CT_PROFILE', 'gcp')
  s = load_settings(use_variable=False)
  assert (s.profile, s.warehouse, s.runner, s.registry) == ('gcp', 'bigquery', 'vertex',
                                                            'vertex')
  assert load_settings({'profile': 'local'}).warehouse == 'duckdb'


@pytest.mark.parametrize('overrides, message', [
    ({'train_step': 5}, "setting 'train_step' is unknown"),
    ({'train_steps': 'many'}, "setting train_steps: 'many' is not a valid int"),
    ({'poll_interval_seconds': 'soon'}, "poll_interval_seconds: 'soon' is not a valid float"),
    ({'runner': 'airflow'}, "setting runner: 'airflow' is not one of ['local', 'vertex', 'kfp']"),
    ({'warehouse': 'snowflake'}, "warehouse: 'snowflake' is not one of"),
    ({'profile': 'azure'}, "CT_PROFILE: 'azure' is not one of ['gcp', 'local']"),
    ({'warehouse_memory_limit': 'lots'},
     "setting warehouse_memory_limit: 'lots' is not a memory size"),
    ({'warehouse_memory_limit': '256'}, "warehouse_memory_limit: '256' is not a memory size"),
    ({'warehouse_memory_limit': '100KB'}, "warehouse_memory_limit: '100KB' is below 64MB"),
])
def test_bad_settings_name_the_field_and_the_value(overrides, message):
  with pytest.raises(ValueError) as raised:
    load_settings(overrides, use_variable=False)
  assert message in str(raised.value)


def test_a_variable_that_is_not_a_json_object_is_refused(monkeypatch):
  monkeypatch.setenv('AIRFLOW_VAR_CT_SETTINGS', '[1, 2]')
  with pytest.raises(ValueError, match='Variable ct_settings: expected a JSON object'):
    load_settings()


def test_a_command_setting_takes_json_or_words(monkeypatch):
  monkeypatch.setenv('CT_LOCAL_PIPELINE_COMMAND', '["python", "fake.py", "--a b"]')
  assert load_settings().local_pipeline_command == ('python', 'fake.py', '--a b')
  monkeypatch.setenv('CT_LOCAL_PIPELINE_COMMAND', 'python fake.py')
  assert load_settings().local_pipeline_command == ('python', 'fake.py')


def test_local_paths_default_under_the_local_dir(tmp_path):
  s = load_settings(use_variable=False)
  assert s.warehouse_file == tmp_path / 'warehouse.duckdb'
  assert s.bucket_root == str(tmp_path / 'bucket')
  assert s.registry_root == tmp_path / 'registry'
  assert s.pipeline_root_uri == str(tmp_path / 'bucket' / 'pipeline_root')
  assert load_settings({'bucket': 'gs://b1'}).pipeline_root_uri == 'gs://b1/pipeline_root'
  assert s.deploy_config_path == REPO_ROOT / 'dags' / 'ct_deploy.json'


def test_the_code_version_comes_from_the_deploy_config_first(tmp_path, monkeypatch):
  """On Composer nothing sets CT_PIPELINE_VERSION: the deploy's git sha must win."""
  deploy = tmp_path / 'ct_deploy.json'
  monkeypatch.setenv('CT_DEPLOY_CONFIG', str(deploy))
  assert load_settings(use_variable=False).code_version == 'dev'
  monkeypatch.setenv('CT_PIPELINE_VERSION', 'abc123local')
  assert load_settings(use_variable=False).code_version == 'abc123local'
  deploy.write_text('{"git_sha": "0f1e2d3c4b5a", "pipeline_spec_uri": "gs://b/p"}')
  assert load_settings(use_variable=False).code_version == '0f1e2d3c4b5a'
  assert load_settings(use_variable=False).compiled_pipeline_uri == 'gs://b/p'


def test_the_local_profile_canaries_and_gcp_moves_the_champion_at_promotion(monkeypatch):
  from ct_platform.config import load_settings
  monkeypatch.delenv('CT_ROLLOUT', raising=False)
  assert load_settings({'profile': 'local'}, use_variable=False).rollout == 'canary'
  assert load_settings({'profile': 'gcp'}, use_variable=False).rollout == 'none'

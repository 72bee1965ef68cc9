"""docker-compose.yaml (no Docker engine here): valid per check-jsonschema's built-in
vendor.compose-spec schema, every mounted host path and every build context and
Dockerfile exists, the image is the official one at our Airflow version, and it carries
the pipeline env the local backend is pointed at."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from ci_checks import (
  REPO,
  check_jsonschema,
  copy_sources,
  dockerfile_args,
  dockerfile_instructions,
  dockerignored,
  locked_version,
)

COMPOSE = REPO / 'docker-compose.yaml'
AIRFLOW_SERVICES = {'api-server', 'scheduler', 'dag-processor', 'triggerer'}


@pytest.fixture(scope='module')
def compose():
  return yaml.safe_load(COMPOSE.read_text())


def airflow_services(compose) -> dict:
  """Airflow component -> its service (by the command it runs)."""
  out = {}
  for name, svc in compose['services'].items():
    command = svc.get('command')
    if isinstance(command, str) and command in AIRFLOW_SERVICES:
      out[command] = svc
  return out


def test_valid_per_the_compose_spec(tmp_path):
  proc = check_jsonschema('vendor.compose-spec', COMPOSE)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  broken = tmp_path / 'docker-compose.yaml'
  broken.write_text(COMPOSE.read_text().replace('healthcheck:', 'healthchek:', 1))
  assert check_jsonschema('vendor.compose-spec', broken).returncode != 0


def test_postgres_and_the_four_airflow_components(compose):
  assert set(airflow_services(compose)) == AIRFLOW_SERVICES
  assert compose['services']['postgres']['image'].startswith('postgres:')
  for svc in airflow_services(compose).values():
    assert svc['environment']['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'].startswith(
        'postgresql+psycopg2://')
    assert svc['depends_on']['postgres']['condition'] == 'service_healthy'
    assert svc['depends_on']['airflow-init']['condition'] == 'service_completed_successfully'


def _gitignored(path: Path) -> bool:
  proc = subprocess.run(['git', '-C', str(REPO), 'check-ignore', '-q', '--no-index',
                         str(path.relative_to(REPO))], capture_output=True)
  return proc.returncode == 0


def test_every_mounted_host_path_exists(compose):
  named = set(compose.get('volumes') or {})
  checked = 0
  for name, svc in compose['services'].items():
    for vol in svc.get('volumes', []):
      if isinstance(vol, str):
        source = vol.split(':')[0]
        kind, create = ('bind' if source.startswith(('.', '/', '~')) else 'volume'), False
      else:
        source, kind = vol['source'], vol['type']
        create = (vol.get('bind') or {}).get('create_host_path', False)
      if kind == 'volume':
        assert source in named, f'{name}: volume {source} is not declared'
        continue
      path = (COMPOSE.parent / source).resolve()
      checked += 1
      if create and _gitignored(path):
        continue  # local state: created on first start (git-ignored, absent on a clone)
      assert path.exists(), f'{name}: mounted host path {source} does not exist'
  assert checked


def test_airflow_components_mount_dags_plugins_and_the_local_state(compose):
  for command, svc in airflow_services(compose).items():
    targets = {(v.split(':')[1] if isinstance(v, str) else v['target']): (
        v.split(':')[0] if isinstance(v, str) else v['source']) for v in svc['volumes']}
    assert targets['/opt/airflow/dags'] == './dags', command
    assert targets['/opt/airflow/plugins'] == './plugins', command
    assert targets[svc['environment']['CT_LOCAL_DIR']].startswith('./.local'), command
    assert targets[svc['environment']['CT_PIPELINE_SOURCE']] == './pipeline', command


def _builds(compose) -> list:
  return [(name, svc['build']) for name, svc in compose['services'].items() if 'build' in svc]


def test_every_build_context_dockerfile_and_copied_file_exists(compose):
  assert _builds(compose)
  for name, build in _builds(compose):
    context = (COMPOSE.parent / build['context']).resolve()
    dockerfile = context / build.get('dockerfile', 'Dockerfile')
    assert context.is_dir(), name
    assert dockerfile.is_file(), f'{name}: {dockerfile} missing'
    for src in copy_sources(dockerfile):
      assert (context / src).exists(), f'{dockerfile}: COPY {src} not in the context'
      assert not dockerignored(context, src), f'{src} is excluded by .dockerignore'


def test_the_image_is_the_official_one_at_our_airflow_version(compose):
  airflow = locked_version('apache-airflow')
  for name, build in _builds(compose):
    dockerfile = (COMPOSE.parent / build['context'] / build['dockerfile'])
    args = {**dockerfile_args(dockerfile), **(build.get('args') or {})}
    froms = [rest for word, rest in dockerfile_instructions(dockerfile) if word == 'FROM']
    assert froms == ['apache/airflow:${AIRFLOW_VERSION}-python3.11'], froms
    assert args['AIRFLOW_VERSION'] == dockerfile_args(dockerfile)['AIRFLOW_VERSION'] == airflow
    text = dockerfile.read_text()
    assert '-r /opt/ct/requirements.txt' in text and 'COPY' in text
    assert re.search(r'"apache-airflow==\$\{AIRFLOW_VERSION\}"', text)  # kept at the image's


def test_the_image_has_the_pipeline_env_the_settings_point_at(compose):
  for name, build in _builds(compose):
    dockerfile = COMPOSE.parent / build['context'] / build['dockerfile']
    text = dockerfile.read_text()
    python = compose['services'][name]['environment']['CT_PIPELINE_PYTHON']
    venv = str(Path(python).parents[1])
    assert f'uv venv --python 3.10 {venv}' in text
    assert f'--python {python} /opt/ct/pipeline-requirements.lock' in text
    assert ('pipeline/requirements.lock', '/opt/ct/pipeline-requirements.lock') in [
        tuple(rest.split()[-2:]) for word, rest in dockerfile_instructions(dockerfile)
        if word == 'COPY']
    assert f'CT_PIPELINE_PYTHON={python}' in text

"""cloudbuild.yaml: valid for Cloud Build (check-jsonschema's built-in vendor.cloudbuild
schema), and everything a step calls exists: make targets, scripts, Python modules,
Dockerfiles and the files they copy."""

import re
import shlex
import subprocess

import pytest
import yaml
from ci_checks import (
  REPO,
  check_jsonschema,
  copy_sources,
  dockerignored,
  make_targets_run,
  makefile_targets,
)

CLOUDBUILD = REPO / 'cloudbuild.yaml'
SUBSTITUTIONS = {'_ENV', '_COMPOSER_BUCKET', '_REGION', '_PROJECT', '_ARTIFACT_REPO',
                 '_RUN_INTEGRATION'}
# Cloud Build's own substitutions (cloud.google.com/build/docs/configuring-builds/
# substitute-variable-values)
BUILTIN = {'PROJECT_ID', 'PROJECT_NUMBER', 'BUILD_ID', 'LOCATION', 'TRIGGER_NAME',
           'COMMIT_SHA', 'SHORT_SHA', 'REVISION_ID', 'REPO_NAME', 'REPO_FULL_NAME',
           'BRANCH_NAME', 'TAG_NAME', 'REF_NAME', 'TRIGGER_BUILD_CONFIG_PATH',
           'SERVICE_ACCOUNT_EMAIL', 'SERVICE_ACCOUNT'}
IMAGE = '${_REGION}-docker.pkg.dev/${_PROJECT}/${_ARTIFACT_REPO}/chicago-taxi-tipper:$SHORT_SHA'


@pytest.fixture(scope='module')
def build():
  return yaml.safe_load(CLOUDBUILD.read_text())


def steps_by_id(build) -> dict:
  return {s['id']: s for s in build['steps']}


def scripts_of(step) -> list:
  """The shell scripts a step runs (`bash -c SCRIPT`)."""
  args = step.get('args', [])
  if step.get('entrypoint') in ('bash', 'sh') and args[:1] == ['-c']:
    return [args[1]]
  return [step['script']] if 'script' in step else []


def shell_commands(script: str) -> list:
  """Simple commands of a shell script, as token lists (enough for our steps)."""
  commands = []
  for line in script.replace('\\\n', ' ').splitlines():
    for chunk in re.split(r'&&|\|\||;|\|', line):
      try:
        tokens = shlex.split(chunk, comments=True)
      except ValueError:
        continue
      while tokens and re.match(r'^[A-Z_][A-Z0-9_]*=', tokens[0]):  # VAR=value cmd
        tokens = tokens[1:]
      if tokens:
        commands.append(tokens)
  return commands


def commands_of(step) -> list:
  entry = step.get('entrypoint')
  if entry and entry not in ('bash', 'sh'):
    return [[entry, *step.get('args', [])]]
  if not entry and 'cloud-builders/docker' in step['name']:
    return [['docker', *step['args']]]
  return [c for s in scripts_of(step) for c in shell_commands(s)]


def test_valid_for_cloud_build_per_its_schema(tmp_path):
  proc = check_jsonschema('vendor.cloudbuild', CLOUDBUILD)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  # the check can fail: a misspelt step key is rejected
  broken = tmp_path / 'cloudbuild.yaml'
  broken.write_text(CLOUDBUILD.read_text().replace('entrypoint: make', 'entrypont: make', 1))
  assert check_jsonschema('vendor.cloudbuild', broken).returncode != 0


def test_substitutions_are_declared_used_and_known(build):
  assert SUBSTITUTIONS <= set(build['substitutions'])
  text = CLOUDBUILD.read_text()
  body = re.sub(r'#.*', '', text.replace('$$', ''))
  used = set(re.findall(r'\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?', body))
  unknown = {u for u in used if not u.startswith('_') and u not in BUILTIN}
  assert not unknown, f'$NAME that Cloud Build does not define (bash needs $$): {unknown}'
  assert {u for u in used if u.startswith('_')} == set(build['substitutions'])


def test_every_called_make_target_script_and_module_exists(build):
  targets = makefile_targets()
  called = set()
  for step in build['steps']:
    for cmd in commands_of(step):
      if cmd[0] == 'make':
        wanted = [a for a in cmd[1:] if '=' not in a and not a.startswith('-')]
        assert wanted, step['id']
        missing = set(wanted) - targets
        assert not missing, f'step {step["id"]}: no make target {missing}'
        called.update(wanted)
      if cmd[0].startswith('scripts/'):
        assert (REPO / cmd[0]).stat().st_mode & 0o111, f'{cmd[0]} is not executable'
      if cmd[0] == 'python' and cmd[1:2] == ['-m']:
        module = cmd[2].replace('.', '/') + '.py'
        assert any((REPO / root / module).is_file() for root in ('pipeline', 'plugins')), (
            f'step {step["id"]}: module {cmd[2]} missing')
    for text in [*scripts_of(step), *step.get('args', [])]:  # also inside $(...)
      for path in re.findall(r'(?<![\w/.-])(scripts/[\w./-]+)', text):
        assert (REPO / path).is_file(), f'step {step["id"]}: {path} missing'
  # the targets `make test` runs are the ones Cloud Build runs
  assert set(make_targets_run('test')) - {'envs'} <= called
  assert {'envs', 'compile', 'deploy'} <= called


def test_docker_builds_use_existing_files_in_their_context(build):
  builds = [c for s in build['steps'] for c in commands_of(s) if c[:2] == ['docker', 'build']]
  assert builds
  for cmd in builds:
    dockerfile = REPO / cmd[cmd.index('-f') + 1]
    context = REPO / cmd[-1]
    assert dockerfile.is_file() and context.is_dir(), cmd
    for src in copy_sources(dockerfile):
      assert (context / src).exists(), f'{dockerfile.name}: COPY {src} not in the context'
      assert not dockerignored(context, src), f'{src} is excluded by .dockerignore'
  assert 'plugins/ct_platform/contracts' in copy_sources(REPO / 'pipeline/Dockerfile')


def test_one_image_pinned_to_this_build(build):
  steps = steps_by_id(build)
  compile_args = steps['compile']['args']
  assert f'IMAGE={IMAGE}' in compile_args and 'PIPELINE_VERSION=$SHORT_SHA' in compile_args
  build_cmd = commands_of(steps['build-image'])[0]
  assert build_cmd[build_cmd.index('-t') + 1] == IMAGE
  assert commands_of(steps['push-image'])[0] == ['docker', 'push', IMAGE]
  assert steps['integration-run']['name'] == IMAGE
  assert build['images'] == [IMAGE]
  assert 'latest' not in yaml.safe_dump(build)  # comments aside
  deploy = steps['deploy']['args']
  assert deploy[0] == 'deploy' and 'PIPELINE_VERSION=$SHORT_SHA' in deploy
  assert 'BUCKET=${_COMPOSER_BUCKET}' in deploy and 'DEPLOY_ENV=${_ENV}' in deploy


def _after(build) -> dict:
  """step id -> every step it waits for, transitively (Cloud Build: no waitFor = all the
  steps before it; ['-'] = none)."""
  ids = [s['id'] for s in build['steps']]
  direct = {}
  for i, s in enumerate(build['steps']):
    wait = s.get('waitFor')
    direct[s['id']] = set(ids[:i]) if wait is None else set(wait) - {'-'}
  closure = {}
  for sid in ids:
    seen, todo = set(), list(direct[sid])
    while todo:
      d = todo.pop()
      if d not in seen:
        seen.add(d)
        todo += direct[d]
    closure[sid] = seen
  return closure


def test_order_tests_before_publishing_and_deploy_last(build):
  after = _after(build)
  assert {'lint', 'unit-dag-and-airflow-tests', 'pipeline-tests'} <= after['compile']
  assert {'unit-dag-and-airflow-tests', 'pipeline-tests', 'compile', 'build-image'} <= after[
      'push-image']
  assert after['integration-run'] >= {'push-image'}
  assert after['deploy'] == set(after) - {'deploy'}  # waits for every other step
  assert [s['id'] for s in build['steps']][-1] == 'deploy'


def _substitute(text: str, values: dict) -> str:
  for name, value in values.items():
    text = text.replace('${%s}' % name, value).replace('$' + name, value)
  return text.replace('$$', '$')


@pytest.mark.parametrize('flag', ['false', 'no', ''])
def test_integration_run_is_skipped_unless_asked_for(build, flag):
  script = scripts_of(steps_by_id(build)['integration-run'])[0]
  assert '_RUN_INTEGRATION' in script
  values = {'_RUN_INTEGRATION': flag, 'SHORT_SHA': 'abc1234'}
  proc = subprocess.run(['bash', '-c', _substitute(script, values)], capture_output=True,
                        text=True, timeout=30, env={'PATH': '/usr/bin:/bin'})
  assert proc.returncode == 0 and 'integration run skipped' in proc.stdout, proc.stderr
  # ...and it is run when asked for: the same script goes on to the pipeline
  run = [c for c in shell_commands(_substitute(script, dict(values, _RUN_INTEGRATION='true')))
         if c[:3] == ['python', '-m', 'ct_pipeline.runners.local_runner']]
  assert run and '--span-uri' in run[0]

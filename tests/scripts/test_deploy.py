"""scripts/deploy.py against the GCS JSON API (gcp-storage-emulator on loopback, the real
google-cloud-storage client), and against a local folder standing in for the bucket.

The source tree is a copy of the real dags/ and plugins/ct_platform; the compiled pipeline
is a tiny stand-in folder shaped like `make compile`'s output (the real compile is the
pipeline tests' business)."""

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import deploy as deploy_tool
import pytest
from fakes.http import gcs_emulator

from ct_platform.config import load_settings

REPO = Path(__file__).resolve().parents[2]

SHA1, SHA2 = 'aaaaaaaaaaa1', 'bbbbbbbbbbb2'
FOREIGN = {'dags/airflow_monitoring.py': b'# Composer\'s own liveness DAG\n',
           'dags/other_team.py': b'# another team\'s DAG\n',
           'plugins/other/x.py': b'# another plugin\n',
           'plugins/ct_platform_extra.py': b'# a neighbour whose name starts like ours\n',
           'data/other/state.json': b'{}\n'}


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def emulator():
  with gcs_emulator() as url:
    yield url


@pytest.fixture
def gcs(emulator, monkeypatch):
  """A fresh bucket on the emulator; the client finds it through STORAGE_EMULATOR_HOST."""
  from google.cloud import storage
  monkeypatch.setenv('STORAGE_EMULATOR_HOST', emulator)
  client = storage.Client()
  bucket = client.create_bucket(f'composer-{uuid.uuid4().hex[:12]}')
  return client, bucket


def write_fake_compile(folder: Path, sha: str, marker: str = '') -> Path:
  """What ct_pipeline.runners.kfp_compile writes: per variant pipeline.json + pipeline.yaml,
  and settings.json (version = the code version)."""
  if folder.exists():
    shutil.rmtree(folder)
  variants = {}
  for variant in ('with_baseline', 'first_run'):
    (folder / variant).mkdir(parents=True)
    job = {'displayName': 'chicago-taxi-tipper', 'pipelineSpec': {
        'pipelineInfo': {'name': 'chicago-taxi-tipper'}, 'sdkVersion': f'tfx-1.16.0{marker}',
        'root': {'inputDefinitions': {'parameters': {'span_uri': {'type': 'STRING'}}}}}}
    (folder / variant / 'pipeline.json').write_text(json.dumps(job))
    (folder / variant / 'pipeline.yaml').write_text(f'pipelineInfo:\n  name: {variant}\n')
    variants[variant] = {'json': f'{variant}/pipeline.json', 'yaml': f'{variant}/pipeline.yaml',
                         'parameters': ['span_uri']}
  (folder / 'settings.json').write_text(json.dumps(
      {'pipeline_name': 'chicago-taxi-tipper', 'version': sha,
       'image': f'example.com/ct/tipper:{sha}', 'variants': variants}, indent=2))
  return folder


def make_source(src: Path) -> Path:
  """A checkout to deploy from: the real DAG files and plugin package, a fake compile."""
  (src / 'dags').mkdir(parents=True)
  for f in (REPO / 'dags').glob('*.py'):
    shutil.copy(f, src / 'dags' / f.name)
  shutil.copytree(REPO / 'plugins' / 'ct_platform', src / 'plugins' / 'ct_platform',
                  ignore=shutil.ignore_patterns('__pycache__'))
  write_fake_compile(src / 'build' / 'pipeline', SHA1)
  return src


@pytest.fixture
def source(tmp_path):
  src = make_source(tmp_path / 'src')
  cache = src / 'plugins' / 'ct_platform' / '__pycache__'
  cache.mkdir()
  (cache / 'config.cpython-311.pyc').write_bytes(b'\0bytecode')  # never deployed
  return src


def run(source: Path, bucket: str, sha: str = SHA1, env='test', **kwargs) -> tuple[dict, str]:
  out = io.StringIO()
  counts = deploy_tool.deploy(source, bucket, sha, env=env, out=out, **kwargs)
  return counts, out.getvalue()


def snapshot(client, bucket) -> dict:
  """name -> md5 of every object in the bucket."""
  return {b.name: b.md5_hash for b in client.list_blobs(bucket.name)}


def content(bucket, name: str) -> bytes:
  return bucket.blob(name).download_as_bytes()


def deployable(source: Path) -> set:
  """The object names a deploy of `source` must produce (besides manifest and history)."""
  names = {f'dags/{p.name}' for p in (source / 'dags').glob('*.py')} | {'dags/ct_deploy.json'}
  package = source / 'plugins' / 'ct_platform'
  names |= {f'plugins/ct_platform/{p.relative_to(package).as_posix()}'
            for p in package.rglob('*') if p.is_file() and '__pycache__' not in p.parts}
  assert 'plugins/ct_platform/.airflowignore' in names  # what Airflow's plugin loader skips
  pipeline = source / 'build' / 'pipeline'
  sha = json.loads((pipeline / 'settings.json').read_text())['version']
  names |= {f'data/ct/pipelines/{sha}/{p.relative_to(pipeline).as_posix()}'
            for p in pipeline.rglob('*') if p.is_file()}
  return names


class FailAfter:
  """before_write hook: records the writes in order; with (kind, n) it raises instead of
  the (n+1)-th write of that kind ('upload', 'delete', 'manifest')."""

  def __init__(self, kind=None, n=0):
    self.kind, self.n, self.calls = kind, n, []

  def __call__(self, kind, name):
    if kind == self.kind and sum(k == kind for k, _ in self.calls) >= self.n:
      raise ConnectionError(f'injected: connection lost before {kind} {self.n + 1} ({name})')
    self.calls.append((kind, name))

  def writes(self, kind='upload'):
    return [n for k, n in self.calls if k == kind]


# -- tests -------------------------------------------------------------------------------

def test_first_deploy_uploads_everything_in_the_composer_layout(gcs, source):
  client, bucket = gcs
  hook = FailAfter()
  counts, out = run(source, f'gs://{bucket.name}', before_write=hook)

  expected = deployable(source)
  assert counts['uploaded'] == len(expected) and counts['unchanged'] == 0
  assert f'uploaded={len(expected)} unchanged=0 deleted=0' in out
  objects = snapshot(client, bucket)
  history = [n for n in objects if n.startswith('data/ct/deploys/')]
  assert set(objects) == expected | {'data/ct/deploy_manifest.json'} | set(history)
  assert len(history) == 1 and history[0].endswith(f'-{SHA1}.json')
  # the package travels with its data files; bytecode does not
  for name in ('plugins/ct_platform/sql/training_window.sql',
               'plugins/ct_platform/contracts/promotion_policy.yaml',
               'plugins/ct_platform/contracts/run_summary.schema.json',
               f'data/ct/pipelines/{SHA1}/with_baseline/pipeline.json',
               f'data/ct/pipelines/{SHA1}/first_run/pipeline.yaml',
               f'data/ct/pipelines/{SHA1}/settings.json'):
    assert name in objects, name
  assert not [n for n in objects if '__pycache__' in n or n.endswith('.pyc')]
  assert content(bucket, 'plugins/ct_platform/gate.py') == (
      source / 'plugins/ct_platform/gate.py').read_bytes()

  # order: pipeline, then plugins, then the deploy config, then the DAG files, manifest
  sections = [Path(n).parts[0] if not n.startswith('data/') else 'pipeline'
              for n in hook.writes()]
  assert sections == sorted(sections, key=['pipeline', 'plugins', 'dags'].index)
  assert [n for n in hook.writes() if n.startswith('dags/')][0] == 'dags/ct_deploy.json'
  assert hook.calls[-1] == ('manifest', 'data/ct/deploy_manifest.json')

  # the manifest (written last) records every file with the hash GCS computed
  manifest = json.loads(content(bucket, 'data/ct/deploy_manifest.json'))
  assert manifest['git_sha'] == SHA1 and manifest['env'] == 'test'
  assert manifest['dag_files'] == sorted(f'dags/{p.name}' for p in (source / 'dags').glob('*.py'))
  assert {n: f['md5'] for n, f in manifest['files'].items()} == {
      n: objects[n] for n in expected}
  assert manifest['deployed_at'] and manifest['pipeline_spec_uri'] == (
      f'gs://{bucket.name}/data/ct/pipelines/{SHA1}')
  assert content(bucket, history[0]) == content(bucket, 'data/ct/deploy_manifest.json')
  assert bucket.get_blob('data/ct/deploy_in_progress.json') is None

  # the DAG side finds the compiled pipeline through the deploy config next to the DAGs
  config = source.parent / 'ct_deploy.json'
  config.write_bytes(content(bucket, 'dags/ct_deploy.json'))
  settings = load_settings({'deploy_config': str(config)}, use_variable=False)
  assert settings.compiled_pipeline_uri == f'gs://{bucket.name}/data/ct/pipelines/{SHA1}'
  assert settings.deployment()['variants']['first_run'] == (
      f'gs://{bucket.name}/data/ct/pipelines/{SHA1}/first_run/pipeline.json')
  assert settings.deployment()['git_sha'] == SHA1


def test_redeploy_uploads_nothing_and_rewrites_nothing(gcs, source):
  client, bucket = gcs
  first, _ = run(source, f'gs://{bucket.name}')
  before = {b.name: b.generation for b in client.list_blobs(bucket.name)}
  counts, out = run(source, f'gs://{bucket.name}')
  assert (counts['uploaded'], counts['unchanged'], counts['deleted']) == (
      0, first['uploaded'], 0)
  assert f'uploaded=0 unchanged={first["uploaded"]} deleted=0' in out
  assert {b.name: b.generation for b in client.list_blobs(bucket.name)} == before


def test_a_changed_file_uploads_just_that_file(gcs, source):
  client, bucket = gcs
  run(source, f'gs://{bucket.name}')
  sql = source / 'plugins/ct_platform/sql/training_window.sql'
  sql.write_text(sql.read_text() + '\n-- changed\n')
  hook = FailAfter()
  counts, _ = run(source, f'gs://{bucket.name}', before_write=hook)
  assert counts['uploaded'] == 1 and counts['deleted'] == 0
  assert hook.calls == [('upload', 'plugins/ct_platform/sql/training_window.sql'),
                        ('manifest', 'data/ct/deploy_manifest.json')]
  assert content(bucket, 'plugins/ct_platform/sql/training_window.sql') == sql.read_bytes()
  manifest = json.loads(content(bucket, 'data/ct/deploy_manifest.json'))
  assert manifest['uploaded'] == ['plugins/ct_platform/sql/training_window.sql']


def _next_version(source: Path) -> None:
  """A new commit: new compile, a changed plugin module, a new plugin data file, a DAG file
  dropped and one added."""
  write_fake_compile(source / 'build' / 'pipeline', SHA2, marker='+v2')
  gate = source / 'plugins/ct_platform/gate.py'
  gate.write_text(gate.read_text() + '\n# v2\n')
  (source / 'plugins/ct_platform/contracts/extra.yaml').write_text('threshold: 1\n')
  (source / 'plugins/ct_platform/gate_report.py').unlink()
  (source / 'dags/rollback_model.py').unlink()
  (source / 'dags/ct_reports.py').write_text(
      'from airflow.sdk import DAG\n\nwith DAG("ct_reports", schedule=None):\n  pass\n')


def _state(client, bucket) -> dict:
  """The bucket's content, without what differs by time or bucket name (history names,
  manifest time; the deploy config names its bucket)."""
  config = 'dags/ct_deploy.json'
  state = {n: md5 for n, md5 in snapshot(client, bucket).items() if n != config
           and not n.startswith('data/ct/deploys/') and n != 'data/ct/deploy_manifest.json'}
  state[config] = content(bucket, config).decode().replace(bucket.name, 'B')
  manifest = json.loads(content(bucket, 'data/ct/deploy_manifest.json'))
  manifest['files'].pop(config)
  state['manifest'] = {k: v for k, v in manifest.items() if k not in (
      'deployed_at', 'uploaded', 'deleted', 'bucket', 'pipeline_spec_uri')}
  return state


# v2 uploads: 5 pipeline files, 2 plugin files, ct_deploy.json, 1 DAG file; then it removes
# 1 DAG file and 1 plugin file; then the manifest.
@pytest.mark.parametrize('kind,n', [('upload', 3), ('upload', 6), ('upload', 8),
                                    ('delete', 1), ('manifest', 0)])
def test_a_deploy_that_fails_midway_converges_on_rerun(gcs, source, tmp_path, kind, n):
  client, bucket = gcs
  run(source, f'gs://{bucket.name}')
  _next_version(source)
  planned, _ = run(source, f'gs://{bucket.name}', SHA2, dry_run=True)
  assert (planned['uploaded'], planned['deleted']) == (9, 2)

  hook = FailAfter(kind, n)
  with pytest.raises(ConnectionError, match='injected'):
    run(source, f'gs://{bucket.name}', SHA2, before_write=hook)
  manifest = json.loads(content(bucket, 'data/ct/deploy_manifest.json'))
  assert manifest['git_sha'] == SHA1  # the failed deploy did not claim to be done

  counts, _ = run(source, f'gs://{bucket.name}', SHA2)
  assert counts['uploaded'] == 9 - len(hook.writes('upload'))
  assert counts['deleted'] == 2 - len(hook.writes('delete'))

  # the same state as a clean deploy of v1 then v2 into a fresh bucket
  clean = client.create_bucket(f'composer-{uuid.uuid4().hex[:12]}')
  clean_src = make_source(tmp_path / 'clean')
  run(clean_src, f'gs://{clean.name}')
  _next_version(clean_src)
  run(clean_src, f'gs://{clean.name}', SHA2)
  assert _state(client, bucket) == _state(client, clean)
  assert 'dags/rollback_model.py' not in snapshot(client, bucket)
  assert 'plugins/ct_platform/gate_report.py' not in snapshot(client, bucket)
  assert bucket.get_blob('data/ct/deploy_in_progress.json') is None


def test_a_dag_uploaded_by_a_failed_deploy_is_removed_by_the_next_one(gcs, source):
  """v2 adds a DAG and fails before its manifest; v3 no longer has that DAG: v3 removes it
  (the in-progress record names it, although no manifest ever did)."""
  client, bucket = gcs
  run(source, f'gs://{bucket.name}')
  new_dag = source / 'dags' / 'ct_experimental.py'
  new_dag.write_text('from airflow.sdk import DAG\n\nwith DAG("ct_exp", schedule=None):\n'
                     '  pass\n')
  with pytest.raises(ConnectionError, match='injected'):
    run(source, f'gs://{bucket.name}', before_write=FailAfter('manifest'))
  assert 'dags/ct_experimental.py' in snapshot(client, bucket)  # it landed
  assert 'dags/ct_experimental.py' not in json.loads(
      content(bucket, 'data/ct/deploy_manifest.json'))['dag_files']
  new_dag.unlink()
  counts, out = run(source, f'gs://{bucket.name}')
  assert '- dags/ct_experimental.py' in out and counts['deleted'] == 1
  assert 'dags/ct_experimental.py' not in snapshot(client, bucket)


def test_foreign_objects_survive_every_deploy(gcs, source):
  client, bucket = gcs
  for name, data in FOREIGN.items():
    bucket.blob(name).upload_from_string(data)
  run(source, f'gs://{bucket.name}')
  (source / 'dags/rollback_model.py').unlink()
  (source / 'plugins/ct_platform/gate_report.py').unlink()
  counts, _ = run(source, f'gs://{bucket.name}')
  assert counts['deleted'] == 2
  objects = snapshot(client, bucket)
  for name, data in FOREIGN.items():
    assert content(bucket, name) == data, name
  assert 'dags/rollback_model.py' not in objects
  assert 'plugins/ct_platform/gate_report.py' not in objects


def test_a_removed_dag_file_of_ours_is_deleted_on_the_next_deploy(gcs, source):
  client, bucket = gcs
  run(source, f'gs://{bucket.name}')
  assert 'dags/rollback_model.py' in snapshot(client, bucket)
  (source / 'dags/rollback_model.py').unlink()
  hook = FailAfter()
  counts, out = run(source, f'gs://{bucket.name}', before_write=hook)
  assert (counts['uploaded'], counts['deleted']) == (0, 1)
  assert hook.calls == [('delete', 'dags/rollback_model.py'),
                        ('manifest', 'data/ct/deploy_manifest.json')]
  assert '- dags/rollback_model.py' in out
  objects = snapshot(client, bucket)
  assert 'dags/rollback_model.py' not in objects and 'dags/continuous_training.py' in objects
  manifest = json.loads(content(bucket, 'data/ct/deploy_manifest.json'))
  assert manifest['dag_files'] == sorted(f'dags/{p.name}' for p in (source / 'dags').glob('*.py'))
  assert 'dags/rollback_model.py' not in manifest['dag_files']


def test_the_pipeline_folder_of_a_sha_is_never_overwritten(gcs, source):
  client, bucket = gcs
  run(source, f'gs://{bucket.name}')
  before = snapshot(client, bucket)
  write_fake_compile(source / 'build/pipeline', SHA1, marker='+recompiled-differently')
  (source / 'plugins/ct_platform/gate.py').write_text('# would be uploaded\n')
  with pytest.raises(deploy_tool.DeployError, match='immutable'):
    run(source, f'gs://{bucket.name}')
  assert snapshot(client, bucket) == before  # refused before writing anything

  # a stray extra file for that sha is a different content too
  write_fake_compile(source / 'build/pipeline', SHA1)
  (source / 'build/pipeline/notes.txt').write_text('extra\n')
  with pytest.raises(deploy_tool.DeployError, match='notes.txt|immutable'):
    run(source, f'gs://{bucket.name}')
  assert snapshot(client, bucket) == before


def test_refuses_a_compile_of_another_version(gcs, source):
  client, bucket = gcs
  with pytest.raises(deploy_tool.DeployError, match='make compile'):
    run(source, f'gs://{bucket.name}', SHA2)
  shutil.rmtree(source / 'build')
  with pytest.raises(deploy_tool.DeployError, match='make compile'):
    run(source, f'gs://{bucket.name}')
  assert snapshot(client, bucket) == {}


def test_refuses_a_folder_inside_the_bucket(source):
  with pytest.raises(deploy_tool.DeployError, match='gs://NAME'):
    deploy_tool.open_bucket('gs://composer-bucket/dags')


def test_dry_run_prints_the_plan_and_writes_nothing(gcs, source):
  client, bucket = gcs
  counts, out = run(source, f'gs://{bucket.name}', dry_run=True)
  assert counts['dry_run'] and counts['uploaded'] == len(deployable(source))
  assert '+ dags/continuous_training.py' in out and 'would upload=' in out
  assert snapshot(client, bucket) == {}


def _cli(*args, **env):
  return subprocess.run([sys.executable, str(REPO / 'scripts' / 'deploy.py'), *args],
                        capture_output=True, text=True, timeout=300,
                        env={**os.environ, **env})


def test_refuses_to_deploy_when_a_dag_fails_to_import(gcs, emulator, source):
  client, bucket = gcs
  (source / 'dags' / 'broken.py').write_text(
      'from airflow.sdk import DAG\nfrom ct_platform.no_such_module import thing\n\n'
      'with DAG("broken", schedule=None):\n  pass\n')
  proc = _cli('--bucket', f'gs://{bucket.name}', '--git-sha', SHA1, '--source', str(source),
              STORAGE_EMULATOR_HOST=emulator)
  assert proc.returncode == 1, proc.stdout + proc.stderr
  assert 'refusing to deploy' in proc.stderr and 'broken.py' in proc.stderr
  assert 'no_such_module' in proc.stderr
  assert snapshot(client, bucket) == {}


def test_local_folder_bucket(source, tmp_path):
  bucket = tmp_path / 'bucket'
  for name, data in FOREIGN.items():
    (bucket / name).parent.mkdir(parents=True, exist_ok=True)
    (bucket / name).write_bytes(data)
  expected = deployable(source)
  args = ('--bucket', str(bucket), '--git-sha', SHA1, '--source', str(source), '--env', 'local')
  first = _cli(*args)
  assert first.returncode == 0, first.stdout + first.stderr
  assert f'uploaded={len(expected)} unchanged=0 deleted=0' in first.stdout
  second = _cli(*args)
  assert second.returncode == 0, second.stdout + second.stderr
  assert f'uploaded=0 unchanged={len(expected)} deleted=0' in second.stdout
  files = {p.relative_to(bucket).as_posix() for p in bucket.rglob('*') if p.is_file()}
  assert expected <= files and set(FOREIGN) <= files
  assert not [f for f in files if ('/.' in f or f.startswith('.'))
              and not f.endswith('/.airflowignore')]  # no temp files left

  (source / 'plugins/ct_platform/gate_report.py').unlink()
  third, _ = run(source, str(bucket), env='local')
  assert (third['uploaded'], third['deleted']) == (0, 1)
  assert not (bucket / 'plugins/ct_platform/gate_report.py').exists()
  for name, data in FOREIGN.items():
    assert (bucket / name).read_bytes() == data

  # The deployed plugin package, with its default settings, finds the deployed pipeline:
  # dags/ct_deploy.json sits beside plugins/ as in Composer's bucket.
  probe = subprocess.run(
      [sys.executable, '-c', 'from ct_platform.config import load_settings; '
       's = load_settings(use_variable=False); print(s.compiled_pipeline_uri)'],
      capture_output=True, text=True, timeout=120,
      env={**{k: v for k, v in os.environ.items() if not k.startswith('CT_')},
           'PYTHONPATH': str(bucket / 'plugins')})
  assert probe.returncode == 0, probe.stderr
  spec_uri = probe.stdout.strip()
  assert spec_uri == str(bucket / 'data/ct/pipelines' / SHA1)
  assert json.loads((Path(spec_uri) / 'settings.json').read_text())['version'] == SHA1


def test_settings_default_to_no_deployed_pipeline(tmp_path):
  settings = load_settings({'deploy_config': str(tmp_path / 'absent.json')}, use_variable=False)
  assert settings.deployment() == {} and settings.compiled_pipeline_uri == ''
  pinned = load_settings({'pipeline_spec_uri': 'gs://b/data/ct/pipelines/x'},
                         use_variable=False)
  assert pinned.compiled_pipeline_uri == 'gs://b/data/ct/pipelines/x'

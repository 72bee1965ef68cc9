"""Deploys our DAG files, the plugin package and the compiled pipeline into a Composer bucket.

  python scripts/deploy.py --bucket gs://NAME [--dry-run]      (what `make deploy` runs)
  python scripts/deploy.py --bucket /some/folder               (a folder stands in for it)

Layout in the bucket (Cloud Composer syncs dags/ and plugins/ to its Airflow components;
data/ is mounted as /home/airflow/gcs/data):
  data/ct/pipelines/<git sha>/   the compiled pipeline: both variants' PipelineJob JSON and
                                 YAML spec, settings.json (`make compile`). Immutable: a
                                 different content for an existing sha is refused.
  plugins/ct_platform/           the orchestration package with its SQL, contracts, data files
  dags/<our DAG files>           and dags/ct_deploy.json: git sha + where the pipeline is
  data/ct/deploy_manifest.json   git sha, files, hashes, time; data/ct/deploys/ keeps each one

Order: pipeline, plugins, deploy config, DAG files, then stale DAG files and stale plugin
files are removed, the manifest last; so Composer never parses a DAG whose plugin code or
pipeline has not arrived. Files whose content hash (md5, or crc32c for composite objects)
matches the bucket are not uploaded again. Only what we own is ever removed: files under
plugins/ct_platform/ that we no longer have, and DAG files that an earlier deploy of ours
recorded (manifest, or the in-progress record of a deploy that failed midway); other
teams' DAGs, Composer's airflow_monitoring.py and other plugins are never touched. A deploy
that fails midway leaves the previous manifest; running it again converges.

It refuses to deploy when a DAG file fails to import in this (the orchestration) env.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import mimetypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'plugins'))
from ct_platform.config import DEPLOY_CONFIG_NAME  # noqa: E402

PLUGIN_PACKAGE = 'ct_platform'
DAGS_PREFIX = 'dags/'
PLUGINS_PREFIX = f'plugins/{PLUGIN_PACKAGE}/'
DATA_PREFIX = 'data/ct/'
PIPELINES_PREFIX = f'{DATA_PREFIX}pipelines/'
MANIFEST = f'{DATA_PREFIX}deploy_manifest.json'
HISTORY_PREFIX = f'{DATA_PREFIX}deploys/'
IN_PROGRESS = f'{DATA_PREFIX}deploy_in_progress.json'
DEPLOY_CONFIG = f'{DAGS_PREFIX}{DEPLOY_CONFIG_NAME}'
SECTIONS = ('pipeline', 'plugins', 'dags')  # upload order


class DeployError(Exception):
  """The deploy is refused (nothing of the refused part was written)."""


def md5_b64(data: bytes) -> str:
  return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32c_b64(data: bytes) -> str:
  import google_crc32c
  return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


@dataclasses.dataclass(frozen=True)
class Item:
  """One object to deploy; its bytes are read once, so what is hashed is what is sent."""
  name: str
  section: str
  data: bytes

  @functools.cached_property
  def md5(self) -> str:
    return md5_b64(self.data)


@dataclasses.dataclass(frozen=True)
class Remote:
  md5: str | None
  crc32c: str | None
  size: int

  def same_as(self, item: Item) -> bool:
    if self.size != len(item.data):
      return False
    if self.md5:
      return self.md5 == item.md5
    if self.crc32c:  # composite objects carry no md5
      return self.crc32c == crc32c_b64(item.data)
    return False


# -- buckets ---------------------------------------------------------------------------

class GcsBucket:
  """gs://NAME through google-cloud-storage (STORAGE_EMULATOR_HOST points it elsewhere)."""

  def __init__(self, name: str, client=None):
    from google.cloud import storage
    self._storage = storage
    self.client = client or storage.Client()
    self.bucket = self.client.bucket(name)
    self.name = name

  def uri(self, name: str = '') -> str:
    return f'gs://{self.name}/{name}'

  def list(self, prefix: str, recursive: bool = True) -> dict[str, Remote]:
    blobs = self.client.list_blobs(self.name, prefix=prefix,
                                   delimiter=None if recursive else '/')
    return {b.name: Remote(b.md5_hash, b.crc32c, int(b.size or 0)) for b in blobs
            if not b.name.endswith('/')}

  def read(self, name: str) -> bytes | None:
    from google.api_core.exceptions import NotFound
    try:
      return self.bucket.blob(name).download_as_bytes()
    except NotFound:
      return None

  def write(self, name: str, data: bytes, create_only: bool = False) -> None:
    from google.api_core.exceptions import PreconditionFailed
    content_type = mimetypes.guess_type(name)[0] or 'application/octet-stream'
    try:
      # Our uploads are idempotent (same bytes), so they are retried; create_only makes
      # GCS itself refuse to replace an object of an immutable folder.
      self.bucket.blob(name).upload_from_string(
          data, content_type=content_type, checksum='md5',
          if_generation_match=0 if create_only else None,
          retry=self._storage.retry.DEFAULT_RETRY)
    except PreconditionFailed as e:
      raise DeployError(f'{self.uri(name)} appeared while deploying (immutable): {e}') from e

  def delete(self, name: str) -> None:
    from google.api_core.exceptions import NotFound
    try:
      self.bucket.delete_blob(name)
    except NotFound:
      pass


class FolderBucket:
  """A local folder laid out like the bucket (the embedded default's stand-in)."""

  def __init__(self, root: Path):
    self.root = Path(root).resolve()

  def uri(self, name: str = '') -> str:
    return str(self.root / name) if name else str(self.root) + os.sep

  def list(self, prefix: str, recursive: bool = True) -> dict[str, Remote]:
    base = self.root / prefix
    if not base.is_dir():
      return {}
    paths = base.rglob('*') if recursive else base.iterdir()
    out = {}
    for path in paths:
      if path.is_file():
        data = path.read_bytes()
        out[path.relative_to(self.root).as_posix()] = Remote(md5_b64(data), None, len(data))
    return out

  def read(self, name: str) -> bytes | None:
    path = self.root / name
    return path.read_bytes() if path.is_file() else None

  def write(self, name: str, data: bytes, create_only: bool = False) -> None:
    path = self.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
      with os.fdopen(fd, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
      if create_only:
        try:
          os.link(tmp, path)  # fails if it exists: never replaces
        except FileExistsError:
          raise DeployError(f'{path} appeared while deploying (immutable)') from None
      else:
        os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.unlink(tmp)

  def delete(self, name: str) -> None:
    path = self.root / name
    path.unlink(missing_ok=True)
    parent = path.parent  # drop folders this left empty, up to the bucket root
    while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
      parent.rmdir()
      parent = parent.parent


def open_bucket(target: str, source: Path | None = None):
  if target.startswith('gs://'):
    name, _, rest = target[len('gs://'):].partition('/')
    if not name or rest.strip('/'):
      raise DeployError(f'--bucket {target!r}: give the Composer bucket itself (gs://NAME), '
                        f'not a folder in it; the layout (dags/, plugins/, data/) is fixed')
    return GcsBucket(name)
  root = Path(target).resolve()
  if source is not None and root == Path(source).resolve():
    raise DeployError(f'--bucket {target!r} is the source tree itself')
  return FolderBucket(root)


# -- what we deploy ----------------------------------------------------------------------

def _skip(rel: Path) -> bool:
  return any(p == '__pycache__' or p.startswith('.') for p in rel.parts) or rel.suffix in (
      '.pyc', '.pyo')


def collect(source: Path, pipeline_dir: Path, git_sha: str, bucket, env: str) -> list[Item]:
  """Everything to deploy, in upload order (pipeline, plugins, deploy config, DAG files)."""
  settings_path = pipeline_dir / 'settings.json'
  if not settings_path.is_file():
    raise DeployError(f'no compiled pipeline at {pipeline_dir} (settings.json missing): '
                      f'run `make compile` first')
  settings = json.loads(settings_path.read_text())
  if settings.get('version') != git_sha:
    raise DeployError(f'{settings_path} was compiled for version {settings.get("version")!r}, '
                      f'not {git_sha!r}: run `make compile` for this commit')
  variants = settings.get('variants') or {}
  missing = [f for v in variants.values() for f in (v.get('json'), v.get('yaml'))
             if not f or not (pipeline_dir / f).is_file()]
  if not variants or missing:
    raise DeployError(f'{pipeline_dir}: compiled variants missing: {missing or "none listed"}')
  pipeline_prefix = f'{PIPELINES_PREFIX}{git_sha}/'
  # settings.json (the folder's index) goes last: a folder that has it is complete
  files = sorted((p for p in pipeline_dir.rglob('*')
                  if p.is_file() and not _skip(p.relative_to(pipeline_dir))),
                 key=lambda p: (p == settings_path, p))
  items = [Item(pipeline_prefix + p.relative_to(pipeline_dir).as_posix(), 'pipeline',
                p.read_bytes()) for p in files]

  package = source / 'plugins' / PLUGIN_PACKAGE
  if not (package / '__init__.py').is_file():
    raise DeployError(f'{package} is not the plugin package')
  items += [Item(PLUGINS_PREFIX + p.relative_to(package).as_posix(), 'plugins', p.read_bytes())
            for p in sorted(package.rglob('*')) if p.is_file()
            and not _skip(p.relative_to(package))]

  dag_files = sorted(p for p in (source / 'dags').glob('*.py') if p.is_file())
  if not dag_files:
    raise DeployError(f'no DAG files in {source / "dags"}')
  spec_uri = bucket.uri(pipeline_prefix).rstrip('/')
  deploy_config = {
      'git_sha': git_sha, 'env': env, 'pipeline_version': settings.get('version'),
      'pipeline_spec_uri': spec_uri, 'image': settings.get('image'),
      'variants': {name: f'{spec_uri}/{v["json"]}' for name, v in sorted(variants.items())},
  }
  items.append(Item(DEPLOY_CONFIG, 'dags',
                    (json.dumps(deploy_config, indent=2, sort_keys=True) + '\n').encode()))
  items += [Item(DAGS_PREFIX + p.name, 'dags', p.read_bytes()) for p in dag_files]
  return items


# -- the DAG import check ----------------------------------------------------------------

_DAGBAG = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({'dags': {d: bag.dags[d].fileloc for d in bag.dags},
                  'import_errors': bag.import_errors}))
'''
_checked: set[str] = set()  # trees (by content) that passed, in this process


def check_dags_import(source: Path, python: str = sys.executable) -> list[str]:
  """Loads dags/ with Airflow's DagBag (plugins/ on sys.path, as Composer has it) in a
  fresh interpreter; raises DeployError naming each file that fails. Returns warnings."""
  dags, plugins = source / 'dags', source / 'plugins'
  py_files = sorted(p for p in [*dags.glob('*.py'), *(plugins / PLUGIN_PACKAGE).rglob('*.py')]
                    if p.is_file() and not _skip(p.relative_to(source)))
  key = hashlib.sha256()
  for p in py_files:
    key.update(p.relative_to(source).as_posix().encode() + b'\0' + p.read_bytes() + b'\0')
  if key.hexdigest() in _checked:
    return []
  with tempfile.TemporaryDirectory(prefix='ct-deploy-dagbag-') as home:
    env = {k: v for k, v in os.environ.items() if not k.startswith('AIRFLOW')}
    env.update(AIRFLOW_HOME=home, PYTHONPATH=str(plugins),
               AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
               AIRFLOW__CORE__LOAD_EXAMPLES='False',
               # a loaded CI machine is not a broken DAG (parse time has its own test)
               AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT='180')
    proc = subprocess.run([python, '-c', _DAGBAG, str(dags)], capture_output=True, text=True,
                          env=env, cwd=home, timeout=600)
  if proc.returncode != 0:
    raise DeployError(f'refusing to deploy: loading the DAGs failed:\n{proc.stderr[-3000:]}')
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  if result['import_errors']:
    lines = [f'  {Path(f).name}: {err.strip().splitlines()[-1] if err.strip() else err}'
             for f, err in sorted(result['import_errors'].items())]
    raise DeployError('refusing to deploy: DAG import errors in the orchestration env:\n'
                      + '\n'.join(lines))
  with_dags = {Path(f).name for f in result['dags'].values()}
  _checked.add(key.hexdigest())
  return [f'{p.name} defines no DAG' for p in sorted(dags.glob('*.py')) if p.name not in with_dags]


# -- plan and apply ----------------------------------------------------------------------

@dataclasses.dataclass
class Plan:
  git_sha: str
  target: str
  items: list[Item]
  uploads: list[Item]
  unchanged: list[Item]
  deletes: list[str]              # stale DAG files first, then stale plugin files
  owned_dags: list[str]           # our DAG names: from earlier deploys and this one
  previous_manifest: dict | None
  in_progress: dict | None

  def counts(self, section: str) -> tuple[int, int, int]:
    return (sum(i.section == section for i in self.uploads),
            sum(i.section == section for i in self.unchanged),
            sum(self._section_of(n) == section for n in self.deletes))

  @staticmethod
  def _section_of(name: str) -> str:
    if name.startswith(PIPELINES_PREFIX):
      return 'pipeline'
    return 'plugins' if name.startswith(PLUGINS_PREFIX) else 'dags'


def _read_json(bucket, name: str) -> dict | None:
  raw = bucket.read(name)
  if raw is None:
    return None
  try:
    return json.loads(raw)
  except ValueError as e:
    raise DeployError(f'{bucket.uri(name)} is not JSON ({e}); fix or remove it') from e


def make_plan(bucket, items: list[Item], git_sha: str) -> Plan:
  pipeline_prefix = f'{PIPELINES_PREFIX}{git_sha}/'
  remote = {**bucket.list(pipeline_prefix), **bucket.list(PLUGINS_PREFIX),
            **bucket.list(DAGS_PREFIX, recursive=False)}
  local = {i.name for i in items}

  # The pipeline folder of a sha is immutable: identical is a no-op, different is refused.
  # Without its settings.json (uploaded last) it is the rest of a deploy that failed
  # midway, and missing files may still be added.
  sealed = f'{pipeline_prefix}settings.json' in remote
  conflicts = [i.name for i in items if i.section == 'pipeline' and (
      (i.name in remote and not remote[i.name].same_as(i)) or (sealed and i.name not in remote))]
  conflicts += sorted(n for n in remote if n.startswith(pipeline_prefix) and n not in local)
  if conflicts:
    raise DeployError(f'refusing to deploy: {bucket.uri(pipeline_prefix)} already holds a '
                      f'different compiled pipeline for {git_sha} (immutable): '
                      + ', '.join(conflicts))

  uploads = [i for i in items if i.name not in remote or not remote[i.name].same_as(i)]
  upload_names = {i.name for i in uploads}
  unchanged = [i for i in items if i.name not in upload_names]

  previous, in_progress = _read_json(bucket, MANIFEST), _read_json(bucket, IN_PROGRESS)
  owned = set((previous or {}).get('dag_files', [])) | set((in_progress or {}).get(
      'dag_files', []))
  owned = {n for n in owned if n.startswith(DAGS_PREFIX) and '/' not in n[len(DAGS_PREFIX):]}
  local_dags = {i.name for i in items if i.section == 'dags' and i.name != DEPLOY_CONFIG}
  stale_dags = sorted(n for n in owned - local_dags if n in remote)
  stale_plugins = sorted(n for n in remote if n.startswith(PLUGINS_PREFIX) and n not in local)
  return Plan(git_sha, bucket.uri(), items, uploads, unchanged, stale_dags + stale_plugins,
              sorted(owned | local_dags), previous, in_progress)


def print_plan(plan: Plan, out=sys.stdout) -> None:
  print(f'deploy {plan.git_sha} -> {plan.target}', file=out)
  print(f'  {"section":9} {"prefix":40} {"upload":>6} {"unchanged":>9} {"delete":>6}', file=out)
  prefixes = {'pipeline': f'{PIPELINES_PREFIX}{plan.git_sha}/', 'plugins': PLUGINS_PREFIX,
              'dags': f'{DAGS_PREFIX} (our DAG files, {DEPLOY_CONFIG_NAME})'}
  for section in SECTIONS:
    up, same, gone = plan.counts(section)
    print(f'  {section:9} {prefixes[section]:40} {up:6d} {same:9d} {gone:6d}', file=out)
  for item in plan.uploads:
    print(f'  + {item.name}', file=out)
  for name in plan.deletes:
    print(f'  - {name}', file=out)


def _manifest(plan: Plan, env: str, dirty: bool | None, now: dt.datetime) -> dict:
  return {
      'git_sha': plan.git_sha, 'env': env, 'dirty': dirty,
      'deployed_at': now.isoformat(timespec='seconds'),
      'deployed_by': os.environ.get('USER') or os.environ.get('BUILD_ID') or '',
      'bucket': plan.target,
      'pipeline_spec_uri': f'{plan.target}{PIPELINES_PREFIX}{plan.git_sha}',
      'deploy_config': DEPLOY_CONFIG,
      'dag_files': sorted(i.name for i in plan.items
                          if i.section == 'dags' and i.name != DEPLOY_CONFIG),
      'files': {i.name: {'md5': i.md5, 'size': len(i.data), 'section': i.section}
                for i in plan.items},
      'uploaded': [i.name for i in plan.uploads], 'deleted': list(plan.deletes),
  }


def apply(bucket, plan: Plan, env: str = '', dirty: bool | None = None,
          before_write: Callable[[str, str], None] | None = None,
          now: dt.datetime | None = None) -> dict | None:
  """Writes the plan in order; returns the manifest written (None when nothing changed).

  before_write(kind, name) is called before each write: 'upload', 'delete', 'manifest'."""
  before_write = before_write or (lambda kind, name: None)
  previous = plan.previous_manifest or {}
  recorded = {n: f.get('md5') for n, f in previous.get('files', {}).items()}
  if not plan.uploads and not plan.deletes and plan.in_progress is None and previous.get(
      'git_sha') == plan.git_sha and recorded == {i.name: i.md5 for i in plan.items}:
    return None  # a no-op: the bucket already holds this deploy, and its manifest says so
  dag_phase = False
  for item in plan.uploads:
    if item.section == 'dags' and not dag_phase:
      _record_in_progress(bucket, plan)
      dag_phase = True
    before_write('upload', item.name)
    bucket.write(item.name, item.data, create_only=item.section == 'pipeline')
  if plan.deletes and not dag_phase:
    _record_in_progress(bucket, plan)
  for name in plan.deletes:
    before_write('delete', name)
    bucket.delete(name)
  before_write('manifest', MANIFEST)
  now = now or dt.datetime.now(dt.timezone.utc)
  manifest = _manifest(plan, env, dirty, now)
  raw = (json.dumps(manifest, indent=2, sort_keys=True) + '\n').encode()
  bucket.write(f'{HISTORY_PREFIX}{now:%Y%m%dT%H%M%SZ}-{plan.git_sha}.json', raw)
  bucket.write(MANIFEST, raw)
  bucket.delete(IN_PROGRESS)
  return manifest


def _record_in_progress(bucket, plan: Plan) -> None:
  """Before touching dags/: every DAG name we may own, so a deploy that fails midway still
  lets the next one remove what it uploaded or meant to remove."""
  bucket.write(IN_PROGRESS, json.dumps({'git_sha': plan.git_sha,
                                        'dag_files': plan.owned_dags}).encode())


# -- the CLI -----------------------------------------------------------------------------

def _git(source: Path, *args) -> str | None:
  try:
    out = subprocess.run(['git', '-C', str(source), *args], capture_output=True, text=True,
                         timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return out.stdout.strip() if out.returncode == 0 else None


def deploy(source: Path, bucket_target: str, git_sha: str, pipeline_dir: Path | None = None,
           env: str = '', dry_run: bool = False, before_write=None, out=sys.stdout) -> dict:
  """Checks, plans, prints the plan and (unless dry_run) applies it; returns the counts
  (for a dry run, what it would do)."""
  source = Path(source).resolve()
  pipeline_dir = Path(pipeline_dir) if pipeline_dir else source / 'build' / 'pipeline'
  bucket = open_bucket(bucket_target, source)
  for warning in check_dags_import(source):
    print(f'warning: {warning}', file=out)
  items = collect(source, pipeline_dir, git_sha, bucket, env)
  plan = make_plan(bucket, items, git_sha)
  print_plan(plan, out)
  counts = {'uploaded': len(plan.uploads), 'unchanged': len(plan.unchanged),
            'deleted': len(plan.deletes), 'dry_run': dry_run}
  if dry_run:
    print(f'dry run, nothing written: would upload={counts["uploaded"]} '
          f'unchanged={counts["unchanged"]} delete={counts["deleted"]}', file=out)
    return counts
  status = _git(source, 'status', '--porcelain', '--', 'dags', f'plugins/{PLUGIN_PACKAGE}')
  dirty = None if status is None else bool(status)
  if dirty:
    print('warning: dags/ or plugins/ have uncommitted changes; the manifest says dirty=true',
          file=out)
  manifest = apply(bucket, plan, env=env, dirty=dirty, before_write=before_write)
  print(f'uploaded={counts["uploaded"]} unchanged={counts["unchanged"]} '
        f'deleted={counts["deleted"]}', file=out)
  print(f'manifest: {bucket.uri(MANIFEST)}' + ('' if manifest else ' (unchanged: no-op)'),
        file=out)
  return counts


def parse_args(argv=None):
  p = argparse.ArgumentParser(prog='scripts/deploy.py', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--bucket', required=True,
                 help='gs://NAME (the Composer environment bucket) or a local folder')
  p.add_argument('--git-sha', default=None,
                 help='the code version; names the pipeline folder and must match the '
                      'compiled settings.json (default: git rev-parse --short=12 HEAD)')
  p.add_argument('--pipeline-dir', default=None,
                 help='the `make compile` output (default: <source>/build/pipeline)')
  p.add_argument('--source', default=str(REPO), help='the checkout to deploy from')
  p.add_argument('--env', default='local', help='the stage (dev|staging|prod), recorded')
  p.add_argument('--dry-run', action='store_true', help='print the plan, write nothing')
  return p.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  source = Path(args.source)
  git_sha = args.git_sha or _git(source, 'rev-parse', '--short=12', 'HEAD')
  if not git_sha:
    print('deploy: no --git-sha and no git checkout to take it from', file=sys.stderr)
    return 2
  try:
    deploy(source, args.bucket, git_sha, args.pipeline_dir, args.env, args.dry_run)
  except DeployError as e:
    print(f'deploy: {e}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())

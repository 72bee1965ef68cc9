"""What a deploy changes in the bucket, and writing it in the order that keeps Composer safe."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from typing import Callable

from ct_deploy import (
  DAGS_PREFIX,
  DEPLOY_CONFIG,
  HISTORY_PREFIX,
  IN_PROGRESS,
  MANIFEST,
  PIPELINES_PREFIX,
  PLUGINS_PREFIX,
  SECTIONS,
  DeployError,
)
from ct_deploy.bucket import same_content
from ct_deploy.collect import Item
from ct_platform.config import DEPLOY_CONFIG_NAME


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
      (i.name in remote and not same_content(remote[i.name], i.data))
      or (sealed and i.name not in remote))]
  conflicts += sorted(n for n in remote if n.startswith(pipeline_prefix) and n not in local)
  if conflicts:
    raise DeployError(f'refusing to deploy: {bucket.uri(pipeline_prefix)} already holds a '
                      f'different compiled pipeline for {git_sha} (immutable): '
                      + ', '.join(conflicts))

  uploads = [i for i in items if i.name not in remote or not same_content(remote[i.name], i.data)]
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

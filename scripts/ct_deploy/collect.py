"""What we deploy: the compiled pipeline, the plugin package, the deploy config, DAG files."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from ct_deploy import (
  DAGS_PREFIX,
  DEPLOY_CONFIG,
  PIPELINES_PREFIX,
  PLUGIN_PACKAGE,
  PLUGINS_PREFIX,
  DeployError,
)
from ct_platform import storage


@dataclasses.dataclass(frozen=True)
class Item:
  """One object to deploy; its bytes are read once, so what is hashed is what is sent."""
  name: str
  section: str
  data: bytes

  @functools.cached_property
  def md5(self) -> str:
    return storage.md5_b64(self.data)


KEPT_DOTFILES = {'.airflowignore'}  # the plugin package's: which files Airflow's loader skips


def skipped(rel: Path) -> bool:
  return any(p == '__pycache__' or (p.startswith('.') and p not in KEPT_DOTFILES)
             for p in rel.parts) or rel.suffix in ('.pyc', '.pyo')


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
                  if p.is_file() and not skipped(p.relative_to(pipeline_dir))),
                 key=lambda p: (p == settings_path, p))
  items = [Item(pipeline_prefix + p.relative_to(pipeline_dir).as_posix(), 'pipeline',
                p.read_bytes()) for p in files]

  package = source / 'plugins' / PLUGIN_PACKAGE
  if not (package / '__init__.py').is_file():
    raise DeployError(f'{package} is not the plugin package')
  items += [Item(PLUGINS_PREFIX + p.relative_to(package).as_posix(), 'plugins', p.read_bytes())
            for p in sorted(package.rglob('*')) if p.is_file()
            and not skipped(p.relative_to(package))]

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

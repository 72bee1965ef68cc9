"""Deploys our DAG files, the plugin package and the compiled pipeline into a Composer bucket.

  python scripts/deploy.py --bucket gs://NAME [--dry-run]      (what `make deploy` runs)
  python scripts/deploy.py --bucket /some/folder               (a folder stands in for it)

The bucket layout, the upload order and what is ever removed: scripts/ct_deploy/__init__.py.
It refuses to deploy when a DAG file fails to import in this (the orchestration) env.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'plugins'))
from ct_deploy import MANIFEST, PLUGIN_PACKAGE, DeployError  # noqa: E402,F401
from ct_deploy.bucket import open_bucket  # noqa: E402
from ct_deploy.collect import collect  # noqa: E402
from ct_deploy.dag_check import check_dags_import  # noqa: E402
from ct_deploy.plan import apply, make_plan, print_plan  # noqa: E402


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

"""The deploy of our DAG files, plugin package and compiled pipeline into a Composer bucket.

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

Modules: bucket (the bucket's objects, over ct_platform.storage), collect (what we deploy),
dag_check (the DAG import check), plan (what changes, and writing it in order). The CLI is
scripts/deploy.py.
"""

from ct_platform.config import DEPLOY_CONFIG_NAME

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

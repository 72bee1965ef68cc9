"""Settings: which backends run and where things live, read at run time, never at parse.

Resolution, later wins:
  1. the profile's defaults (CT_PROFILE: `local`, the embedded default, or `gcp`);
  2. the Airflow Variable `ct_settings` (a JSON object), when Airflow is there;
  3. environment variables CT_<FIELD> (upper case), e.g. CT_WAREHOUSE=bigquery.
Credentials never live here: Google Cloud access goes through the Airflow Connection
named by gcp_conn_id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VARIABLE_NAME = 'ct_settings'
# Written by scripts/deploy.py next to the DAG files: the git sha and where that
# version's compiled pipeline lives (<bucket>/data/ct/pipelines/<sha>/).
DEPLOY_CONFIG_NAME = 'ct_deploy.json'
# a size as DuckDB's memory_limit takes it: a number and a unit
MEMORY_SIZE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$',
                         re.IGNORECASE)
_MEMORY_UNITS = {'b': 1, 'kb': 10**3, 'mb': 10**6, 'gb': 10**9, 'tb': 10**12,
                 'kib': 2**10, 'mib': 2**20, 'gib': 2**30, 'tib': 2**40}
# below this DuckDB cannot run a profile's aggregates at all ("failed to allocate")
MIN_WAREHOUSE_MEMORY = 64 * 10**6


def check_memory_limit(value: str, name: str = 'setting warehouse_memory_limit') -> str:
  """value if it is '' (DuckDB's default) or a size DuckDB can work in; else ValueError."""
  if not value:
    return value
  match = MEMORY_SIZE.match(value)
  if not match:
    raise ValueError(f'{name}: {value!r} is not a memory size (a number and a unit: '
                     f"'256MB', '2GB'; '' for DuckDB's default)")
  if float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()] < MIN_WAREHOUSE_MEMORY:
    raise ValueError(f'{name}: {value!r} is below 64MB, too little for DuckDB to run the '
                     f"warehouse's queries; use at least '256MB' ('' for DuckDB's default)")
  return value


@dataclasses.dataclass(frozen=True)
class Settings:
  profile: str = 'local'
  model_name: str = 'chicago-taxi-tipper'
  # backends
  warehouse: str = 'duckdb'        # duckdb | bigquery
  runner: str = 'local'            # local | vertex | kfp
  registry: str = 'local'          # local | vertex
  endpoint: str = 'local'          # local (the model server's endpoint file) | vertex
  # how a promoted model reaches serving: none moves `champion` at promotion; canary
  # gives it the `challenger` alias and the model_rollout DAG canaries it (a first model,
  # with no champion to compare against, always becomes champion directly)
  rollout: str = 'none'            # none | canary
  # the source table, as BigQuery names it (the local warehouse attaches the same name)
  source_table: str = 'bigquery-public-data.chicago_taxi_trips.taxi_trips'
  # the local warehouse's DuckDB memory_limit per session (e.g. 512MB, 2GB): beyond it a
  # sort or grouping spills to the temp folder and cached table blocks are dropped, so tasks
  # running side by side on a worker each stay bounded ('' = DuckDB's default, 80% of RAM;
  # below about 256MB a 10M-row drift profile runs out: its grouping needs that much)
  warehouse_memory_limit: str = '2GB'
  # local state
  local_dir: str = ''              # default: <repo>/.local (CT_LOCAL_DIR)
  warehouse_path: str = ''         # default: <local_dir>/warehouse.duckdb
  bucket: str = ''                 # default: <local_dir>/bucket ; gs://... in production
  registry_dir: str = ''           # default: <local_dir>/registry
  pipeline_runs_dir: str = ''      # default: <local_dir>/pipeline_runs
  pipeline_python: str = ''        # default: <repo>/.venv-pipeline/bin/python
  pipeline_source: str = ''        # default: <repo>/pipeline
  # the deployed compiled pipeline (folder with settings.json and both variants)
  deploy_config: str = ''          # default: dags/ct_deploy.json beside plugins/ (as deployed)
  pipeline_spec_uri: str = ''      # default: the deploy config's pipeline_spec_uri
  # a stand-in for the pipeline command (tests); default: the TFX local runner
  local_pipeline_command: tuple = ()
  # run behaviour
  default_window_days: int = 30
  max_window_lead_days: int = 1    # a window may end at most this far after today (UTC)
  train_steps: int = 1000
  poll_interval_seconds: float = 10.0
  pipeline_timeout_minutes: int = 180
  # a retried pipeline run after a failed attempt: resume (reuse the failed attempt's
  # completed steps: TFX's cache locally, execution caching on Vertex AI / KFP) or rerun
  pipeline_retry: str = 'resume'
  heartbeat_stale_seconds: float = 60.0
  approval_timeout_hours: float = 24.0
  span_retention: int = 10         # spans kept per window by the prune step; 0 keeps all
  # notifications: log (always) + a file; slack/email/pubsub by connection id
  notification_file: str = ''      # default: <local_dir>/notifications.jsonl
  notify_email_to: str = ''        # comma-separated; sent through the SMTP connection
  notify_smtp_conn_id: str = 'smtp_default'
  # Google Cloud (the gcp profile)
  gcp_conn_id: str = 'google_cloud_default'
  impersonation_chain: str = ''
  project: str = ''
  region: str = 'us-central1'
  # Vertex AI: '' = {region}-aiplatform.googleapis.com; a private endpoint, or a local
  # server in tests (http://127.0.0.1:PORT)
  vertex_api_endpoint: str = ''
  kfp_host: str = ''               # open-source KFP API, e.g. https://kfp.example.com
  kfp_experiment: str = 'continuous-training'
  kfp_namespace: str = ''
  bigquery_location: str = 'US'    # where BigQuery runs the jobs (the source table's location)
  pipeline_root: str = ''          # default: <bucket>/pipeline_root (a run's is <root>/<run id>)
  pipeline_service_account: str = ''  # the service account Vertex AI runs the pipeline as
  serving_image: str = ''          # prediction container of uploaded model versions
  # Vertex AI Endpoint (endpoint: vertex): its id (default: the model name), the machines
  # of a deployed model, and the BigQuery table of its request-response log
  vertex_endpoint_id: str = ''
  serving_machine_type: str = 'n1-standard-2'
  prediction_log_table: str = ''   # default: bq://<project>.ct_monitoring.prediction_log
  # Cloud Monitoring (the canary's latency and errors on Vertex AI): '' = Google's; a
  # loopback host:port in tests
  cloud_monitoring_api_endpoint: str = ''
  # the local prediction service (serving/, its own env): the rollout starts it if down
  serving_python: str = ''         # default: <repo>/.venv-serving/bin/python
  serve_port: int = 8501           # TF Serving's REST port (make serve: SERVE_PORT)
  serving_dir: str = ''            # default: <local_dir>/serving (endpoint, prediction log)
  # the rollout's thresholds (its `serving:` section); default: contracts/promotion_policy.yaml
  serving_policy_file: str = ''
  # model_monitoring: no second monitoring-triggered retraining within this many hours
  # (unless its run is forced); a suppressed request is recorded with why
  retrain_cooldown_hours: float = 24.0

  def local(self, *parts) -> Path:
    base = Path(self.local_dir or os.environ.get('CT_LOCAL_DIR') or REPO_ROOT / '.local')
    return base.joinpath(*parts)

  @property
  def warehouse_file(self) -> Path:
    return Path(self.warehouse_path) if self.warehouse_path else self.local('warehouse.duckdb')

  @property
  def bucket_root(self) -> str:
    return self.bucket or str(self.local('bucket'))

  @property
  def registry_root(self) -> Path:
    return Path(self.registry_dir) if self.registry_dir else self.local('registry')

  @property
  def runs_root(self) -> Path:
    return Path(self.pipeline_runs_dir) if self.pipeline_runs_dir else self.local('pipeline_runs')

  @property
  def pipeline_python_path(self) -> str:
    return self.pipeline_python or str(REPO_ROOT / '.venv-pipeline' / 'bin' / 'python')

  @property
  def serving_python_path(self) -> str:
    return self.serving_python or str(REPO_ROOT / '.venv-serving' / 'bin' / 'python')

  @property
  def serving_root(self) -> Path:
    return Path(self.serving_dir) if self.serving_dir else self.local('serving')

  @property
  def endpoint_file(self) -> Path:
    return self.serving_root / 'endpoint.json'

  @property
  def prediction_log_dir(self) -> Path:
    return self.serving_root / 'prediction_log'

  @property
  def pipeline_source_dir(self) -> str:
    return self.pipeline_source or str(REPO_ROOT / 'pipeline')

  @property
  def deploy_config_path(self) -> Path:
    return Path(self.deploy_config) if self.deploy_config else (
        REPO_ROOT / 'dags' / DEPLOY_CONFIG_NAME)

  def deployment(self) -> dict:
    """What the last deploy wrote (git sha, pipeline_spec_uri, variants); {} if none."""
    path = self.deploy_config_path
    return json.loads(path.read_text()) if path.is_file() else {}

  @property
  def code_version(self) -> str:
    """The deployed code's version for registry metadata, labels and the pipeline run:
    the deploy config's git sha (Composer: nothing sets CT_PIPELINE_VERSION there), else
    CT_PIPELINE_VERSION (scripts/airflow-local sets it from git), else 'dev'."""
    return (self.deployment().get('git_sha') or os.environ.get('CT_PIPELINE_VERSION')
            or 'dev')

  @property
  def compiled_pipeline_uri(self) -> str:
    return self.pipeline_spec_uri or self.deployment().get('pipeline_spec_uri', '')

  @property
  def pipeline_root_uri(self) -> str:
    if self.pipeline_root:
      return self.pipeline_root
    from ct_platform import storage
    return storage.join(self.bucket_root, 'pipeline_root')

  @property
  def notification_path(self) -> Path:
    return Path(self.notification_file) if self.notification_file else self.local(
        'notifications.jsonl')


PROFILES = {
    # The embedded default: its window covers the whole shipped sample (2013-2016)
    # when the run's date is 2017-01-01 (make run).
    # A promoted model is canaried (model_rollout) before it becomes champion.
    'local': {'default_window_days': 1470, 'poll_interval_seconds': 2.0, 'rollout': 'canary'},
    'gcp': {'warehouse': 'bigquery', 'runner': 'vertex', 'registry': 'vertex'},
}

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, value):
  field_type = _FIELDS[name].type
  if field_type == 'int':
    return int(value)
  if field_type == 'float':
    return float(value)
  if field_type == 'tuple':
    if isinstance(value, str):
      value = json.loads(value) if value.strip().startswith('[') else value.split()
    return tuple(value)
  return str(value)


def _from_variable() -> dict:
  try:
    from airflow.sdk import Variable
  except ImportError:
    return {}
  try:
    raw = Variable.get(VARIABLE_NAME, default=None)
  except Exception:  # no Airflow context / metadata DB (plain scripts, unit tests)
    return {}
  if not raw:
    return {}
  value = json.loads(raw) if isinstance(raw, str) else raw
  if not isinstance(value, dict):
    raise ValueError(f'Variable {VARIABLE_NAME}: expected a JSON object, got {raw!r}')
  return value


def load_settings(overrides: dict | None = None, use_variable: bool = True) -> Settings:
  """Settings for this run; raises ValueError naming an unknown or malformed field."""
  env = os.environ
  profile = (overrides or {}).get('profile') or env.get('CT_PROFILE', 'local')
  if profile not in PROFILES:
    raise ValueError(f'CT_PROFILE: {profile!r} is not one of {sorted(PROFILES)}')
  values = dict(PROFILES[profile], profile=profile)
  layers = [_from_variable() if use_variable else {}]
  layers.append({name: env[f'CT_{name.upper()}'] for name in _FIELDS
                 if f'CT_{name.upper()}' in env and name != 'profile'})
  layers.append(overrides or {})
  for layer in layers:
    for name, value in layer.items():
      if name not in _FIELDS:
        raise ValueError(f'setting {name!r} is unknown; known: {sorted(_FIELDS)}')
      try:
        values[name] = _coerce(name, value)
      except (TypeError, ValueError) as e:
        raise ValueError(f'setting {name}: {value!r} is not a valid '
                         f'{_FIELDS[name].type} ({e})') from e
  check_memory_limit(values.get('warehouse_memory_limit', Settings.warehouse_memory_limit))
  for name, allowed in (('warehouse', ('duckdb', 'bigquery')),
                        ('runner', ('local', 'vertex', 'kfp')),
                        ('registry', ('local', 'vertex')),
                        ('endpoint', ('local', 'vertex')),
                        ('rollout', ('none', 'canary')),
                        ('pipeline_retry', ('resume', 'rerun'))):
    if values.get(name, getattr(Settings, name)) not in allowed:
      raise ValueError(f'setting {name}: {values[name]!r} is not one of {list(allowed)}')
  return Settings(**values)

"""Vertex AI Pipelines backend (submit / state / cancel), and the clients and credentials
the Model Registry backend (backends/vertex_registry.py) shares.

Not the provider's RunPipelineJobOperator (provider 22.8 makes a new job id on every
retry, fails on one transient poll error, leaves the job running when a deferred task
is killed and counts PAUSED as success) and not its gRPC hooks (fixed to
`{region}-aiplatform.googleapis.com`): we build google-cloud-aiplatform's v1 clients with
the REST transport and an `api_endpoint` setting (private endpoints; a local server in
tests), and take credentials from the provider's GoogleBaseHook (the Connection
`gcp_conn_id`, `impersonation_chain`). The job id is the run id, attempt included, so a
retried submit of the same attempt finds its job (409) instead of starting a second one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import ClassVar

from ct_platform import storage
from ct_platform.backends.runner import PipelineRunSpec, RunState, TaskFailure, classify_failure
from ct_platform.contracts import layout
from ct_platform.fsutil import split_chain
from ct_platform.labels import label_slug, validate_labels

STATES = {  # Vertex PipelineState -> ours (runner.ACTIVE / runner.TERMINAL)
    'PIPELINE_STATE_QUEUED': 'QUEUED', 'PIPELINE_STATE_PENDING': 'PENDING',
    'PIPELINE_STATE_RUNNING': 'RUNNING', 'PIPELINE_STATE_CANCELLING': 'CANCELLING',
    'PIPELINE_STATE_SUCCEEDED': 'SUCCEEDED', 'PIPELINE_STATE_FAILED': 'FAILED',
    'PIPELINE_STATE_CANCELLED': 'CANCELLED', 'PIPELINE_STATE_PAUSED': 'PAUSED',
    'PIPELINE_STATE_UNSPECIFIED': 'PENDING',
}
log = logging.getLogger(__name__)
TIMEOUT = 60.0  # seconds per API call: a hung connection must not block a worker or trigger
JOB_ID = re.compile(r'^[a-z][-a-z0-9]{0,127}$')


def _credentials(gcp_conn_id: str, impersonation_chain: str):
  from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

  return GoogleBaseHook(gcp_conn_id=gcp_conn_id,
                        impersonation_chain=split_chain(impersonation_chain)).get_credentials()


def _client(kind: str, region: str, api_endpoint: str, gcp_conn_id: str,
            impersonation_chain: str):
  from google.api_core.client_options import ClientOptions
  from google.cloud import aiplatform_v1

  cls = {'pipeline': aiplatform_v1.PipelineServiceClient,
         'model': aiplatform_v1.ModelServiceClient,
         'endpoint': aiplatform_v1.EndpointServiceClient,
         'prediction': aiplatform_v1.PredictionServiceClient}[kind]
  return cls(credentials=_credentials(gcp_conn_id, impersonation_chain), transport='rest',
             client_options=ClientOptions(
                 api_endpoint=api_endpoint or f'{region}-aiplatform.googleapis.com'))


def _transient_retry():
  """429 / 5xx retried with backoff for up to 2 minutes (the GAPIC methods have none)."""
  from google.api_core import retry

  return retry.Retry(predicate=retry.if_transient_error, initial=1.0, maximum=30.0,
                     timeout=120.0)


def set_caching(pipeline_spec: dict, enabled: bool) -> None:
  """Execution caching on every task of a compiled spec, as the aiplatform SDK's
  PipelineJob(enable_caching=...) sets it (the REST PipelineJob has no such field). On, a
  task whose component, inputs and parameters match an earlier succeeded execution reuses
  its outputs: a retried attempt resumes after the failed one's last completed step."""
  dags = [pipeline_spec.get('root', {}).get('dag', {})]
  dags += [c.get('dag', {}) for c in pipeline_spec.get('components', {}).values()]
  for dag in dags:
    for task in dag.get('tasks', {}).values():
      task.setdefault('cachingOptions', {})['enableCache'] = enabled


@dataclasses.dataclass(frozen=True)
class VertexPipelineRunner:
  """Its fields are its config(): what a trigger serializes, connection included."""
  kind: ClassVar[str] = 'vertex'

  project: str
  region: str
  pipeline_root: str
  compiled_pipeline_uri: str
  api_endpoint: str = ''
  gcp_conn_id: str = 'google_cloud_default'
  impersonation_chain: str = ''
  service_account: str = ''

  def __post_init__(self):
    for name in ('project', 'region', 'pipeline_root', 'compiled_pipeline_uri'):
      if not getattr(self, name):
        raise ValueError(f'setting {name} is empty: the Vertex AI runner needs it '
                         f'(Variable ct_settings or CT_{name.upper()})')

  @classmethod
  def from_settings(cls, settings):
    return cls(project=settings.project, region=settings.region,
               pipeline_root=settings.pipeline_root_uri,
               compiled_pipeline_uri=settings.compiled_pipeline_uri,
               api_endpoint=settings.vertex_api_endpoint, gcp_conn_id=settings.gcp_conn_id,
               impersonation_chain=settings.impersonation_chain,
               service_account=settings.pipeline_service_account)

  def config(self) -> dict:
    """What the trigger serializes: everything, connection and impersonation included."""
    return {'kind': self.kind, 'kwargs': dataclasses.asdict(self)}

  @property
  def parent(self) -> str:
    return f'projects/{self.project}/locations/{self.region}'

  def job_name(self, run_id: str) -> str:
    return f'{self.parent}/pipelineJobs/{run_id}'

  def summary_uri(self, run_id: str) -> str:
    return layout.run_summary_uri(storage.join(self.pipeline_root, run_id))

  def console_url(self, run_id: str) -> str:
    return (f'https://console.cloud.google.com/vertex-ai/locations/{self.region}/pipelines/'
            f'runs/{run_id}?project={self.project}')

  def _client(self):
    return _client('pipeline', self.region, self.api_endpoint, self.gcp_conn_id,
                   self.impersonation_chain)

  def job_body(self, spec: PipelineRunSpec) -> dict:
    """The PipelineJob for this run: the compiled variant + this run's parameters."""
    variant = layout.variant_for(spec.baseline_model_uri)
    path = storage.join(self.compiled_pipeline_uri, variant, 'pipeline.json')
    compiled = json.loads(storage.read_text(path, self))  # with the runner's connection
    declared = compiled['pipelineSpec']['root'].get('inputDefinitions', {}).get('parameters', {})
    values = {
        layout.SPAN_URI: spec.span_uri, layout.SUMMARY_URI: spec.summary_uri,
        layout.RUN_ID: spec.run_id, layout.TRAIN_ARGS: json.dumps(spec.train_args or {}),
        layout.PUSH_DESTINATION: layout.push_destination(layout.candidate_dir(
            storage.join(self.pipeline_root, spec.run_id))),
        layout.BASELINE_MODEL_URI: spec.baseline_model_uri}
    if spec.hparams and 'hparams' not in declared:
      raise ValueError(f'hparams {spec.hparams} given, but compiled pipeline {path} takes no '
                       f'hparams parameter: they would be silently ignored')
    missing = set(declared) - set(values)
    if missing:
      raise ValueError(f'compiled pipeline {path} declares runtime parameters {sorted(missing)} '
                       f'this runner does not set')
    values = {k: v for k, v in values.items() if k in declared}
    runtime = {'gcsOutputDirectory': storage.join(self.pipeline_root, spec.run_id)}
    schema = compiled['pipelineSpec'].get('schemaVersion', '2.0.0')
    if tuple(int(x) for x in schema.split('.')[:2]) >= (2, 1):
      runtime['parameterValues'] = values
    else:  # 2.0.0 specs take typed Values
      runtime['parameters'] = {k: {'stringValue': v} for k, v in values.items()}
    labels = dict(compiled.get('labels') or {})
    labels.update({label_slug(k)[:63] or 'label': label_slug(v)
                   for k, v in (spec.labels or {}).items()})
    labels.update({'ct_run': label_slug(spec.run_id), 'ct_version': label_slug(
        spec.pipeline_version)})
    set_caching(compiled['pipelineSpec'], spec.enable_cache)
    body = {'displayName': spec.run_id, 'pipelineSpec': compiled['pipelineSpec'],
            'labels': validate_labels(labels), 'runtimeConfig': runtime}
    if self.service_account:
      body['serviceAccount'] = self.service_account
    return body

  def submit(self, spec: PipelineRunSpec) -> str:
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1

    if not JOB_ID.match(spec.run_id):
      raise ValueError(f'run_id {spec.run_id!r} is not a Vertex AI pipeline job id '
                       f'([a-z][-a-z0-9]{{0,127}})')
    job = aiplatform_v1.PipelineJob.from_json(json.dumps(self.job_body(spec)))
    try:
      self._client().create_pipeline_job(parent=self.parent, pipeline_job=job,
                                         pipeline_job_id=spec.run_id, timeout=TIMEOUT)
    except exceptions.Conflict:
      pass  # this attempt's job exists (a crash right after create): reconnect to it
    return spec.run_id

  def get_state(self, run_id: str) -> RunState:
    from google.api_core import exceptions

    try:
      job = self._client().get_pipeline_job(name=self.job_name(run_id), timeout=TIMEOUT)
    except exceptions.NotFound:
      return RunState('NOT_FOUND', f'Vertex AI has no pipeline job {self.job_name(run_id)}')
    state = STATES.get(job.state.name, 'PENDING')
    message = job.error.message if job.error and job.error.message else ''
    if state == 'PAUSED':
      message = message or 'the pipeline job is paused (Vertex AI PAUSED)'
    if state == 'FAILED':
      failed = [TaskFailure(t.task_name, t.error.code if t.error else None,
                            t.error.message if t.error else '')
                for t in job.job_detail.task_details if t.state.name == 'FAILED']
      retryable, message = classify_failure(job.error.code if job.error else None,
                                            message, failed)
      return RunState(state, message, log_path=self.console_url(run_id),
                      retryable=retryable)
    return RunState(state, message, log_path=self.console_url(run_id))

  def mark_lost(self, run_id: str, message: str) -> bool:
    """Nothing to record: Vertex AI keeps the run's state itself (LOST is the local
    backend's state for a supervisor that died)."""
    return False

  def cancel(self, run_id: str, reason: str = 'cancel requested') -> None:
    from google.api_core import exceptions

    try:
      self._client().cancel_pipeline_job(name=self.job_name(run_id), timeout=TIMEOUT)
    except exceptions.NotFound:
      pass  # never created
    except (exceptions.FailedPrecondition, exceptions.BadRequest) as e:
      # Vertex answers 400 FAILED_PRECONDITION for a job that has already finished
      log.warning('cancel %s (%s): %s', run_id, reason, e)

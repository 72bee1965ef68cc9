"""Open-source Kubeflow Pipelines backend (experimental: not yet run against a real KFP).

kfp.Client creates the run from the compiled spec in YAML form (the client uploads
.yaml, .zip or .tar.gz only) and our own deferrable trigger polls it: kfp's wait helpers
hang after a terminate from the UI (kubeflow/pipelines#3576). KFP assigns run ids
itself, so our run id (attempt included) is the run's display name in one experiment:
a retry looks the run up by that name and re-attaches instead of creating a second one.

Known gap (see README): the KFP API server accepts pipeline spec schema 2.1.0 only, and
TFX 1.16 compiles 2.0.0 unless told otherwise; TFX specs on KFP v2 need more (the inner
pipelineSpec, driver patches). Hence experimental.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import ClassVar

from ct_platform import storage
from ct_platform.backends.runner import PipelineRunSpec, RunState, TaskFailure, classify_failure
from ct_platform.contracts import layout

STATES = {'PENDING': 'PENDING', 'RUNNING': 'RUNNING', 'SUCCEEDED': 'SUCCEEDED',
          'FAILED': 'FAILED', 'SKIPPED': 'FAILED', 'CANCELING': 'CANCELLING',
          'CANCELED': 'CANCELLED', 'PAUSED': 'PAUSED', 'RUNTIME_STATE_UNSPECIFIED': 'PENDING'}


REQUEST_TIMEOUT_SECONDS = 60  # each KFP API call


@dataclasses.dataclass(frozen=True)
class KfpPipelineRunner:
  """Its fields are its config()."""
  kind: ClassVar[str] = 'kfp'

  host: str
  compiled_pipeline_uri: str
  pipeline_root: str
  experiment: str = 'continuous-training'
  namespace: str = ''

  def __post_init__(self):
    for name, field in (('kfp_host', 'host'), ('compiled_pipeline_uri',) * 2,
                        ('pipeline_root',) * 2):
      if not getattr(self, field):
        raise ValueError(f'setting {name} is empty: the KFP runner needs it')

  @classmethod
  def from_settings(cls, settings):
    return cls(host=settings.kfp_host, compiled_pipeline_uri=settings.compiled_pipeline_uri,
               pipeline_root=settings.pipeline_root_uri, experiment=settings.kfp_experiment,
               namespace=settings.kfp_namespace)

  def config(self) -> dict:
    return {'kind': self.kind, 'kwargs': dataclasses.asdict(self)}

  def _client(self):
    import kfp

    client = kfp.Client(host=self.host, namespace=self.namespace or 'kubeflow')
    # kfp.Client's calls take no timeout; the generated API client under them does, per
    # request: every call through it gets REQUEST_TIMEOUT_SECONDS unless it sets its own
    api_client = client._run_api.api_client
    request = api_client.request

    def bounded_request(*args, _request_timeout=None, **kwargs):
      return request(*args, _request_timeout=_request_timeout or REQUEST_TIMEOUT_SECONDS,
                     **kwargs)
    api_client.request = bounded_request
    return client

  def summary_uri(self, run_id: str) -> str:
    return layout.run_summary_uri(storage.join(self.pipeline_root, run_id))

  def console_url(self, run_id: str) -> str:
    run = self._find(run_id)
    return f'{self.host}/#/runs/details/{run.run_id}' if run else self.host

  def _experiment_id(self, client) -> str | None:
    try:
      return client.get_experiment(experiment_name=self.experiment,
                                   namespace=self.namespace or None).experiment_id
    except ValueError:  # no such experiment yet
      return None

  def _find(self, run_id: str):
    client = self._client()
    experiment_id = self._experiment_id(client)
    if experiment_id is None:
      return None
    flt = json.dumps({'predicates': [{'operation': 'EQUALS', 'key': 'display_name',
                                      'stringValue': run_id}]})
    runs = client.list_runs(experiment_id=experiment_id, filter=flt).runs or []
    return runs[0] if runs else None

  def submit(self, spec: PipelineRunSpec) -> str:
    if self._find(spec.run_id):
      return spec.run_id  # created before a crash: re-attach
    variant = layout.variant_for(spec.baseline_model_uri)
    arguments = {
        layout.SPAN_URI: spec.span_uri, layout.SUMMARY_URI: spec.summary_uri,
        layout.RUN_ID: spec.run_id, layout.TRAIN_ARGS: json.dumps(spec.train_args or {}),
        layout.PUSH_DESTINATION: layout.push_destination(layout.candidate_dir(
            storage.join(self.pipeline_root, spec.run_id)))}
    if spec.baseline_model_uri:
      arguments[layout.BASELINE_MODEL_URI] = spec.baseline_model_uri
    with tempfile.TemporaryDirectory() as tmp:
      package = Path(tmp) / 'pipeline.yaml'
      package.write_text(storage.read_text(storage.join(self.compiled_pipeline_uri, variant,
                                                        'pipeline.yaml')))
      self._client().create_run_from_pipeline_package(
          pipeline_file=str(package), arguments=arguments, run_name=spec.run_id,
          experiment_name=self.experiment, namespace=self.namespace or None,
          pipeline_root=storage.join(self.pipeline_root, spec.run_id),
          # on (runner.PipelineRunSpec): a retry reuses the steps an earlier attempt on the
          # same span completed; every extract writes a new span URI
          enable_caching=spec.enable_cache)
    return spec.run_id

  def get_state(self, run_id: str) -> RunState:
    run = self._find(run_id)
    if run is None:
      return RunState('NOT_FOUND', f'KFP at {self.host} has no run named {run_id} in '
                      f'experiment {self.experiment}')
    state = STATES.get(str(run.state), 'PENDING')
    message = (run.error.message if getattr(run, 'error', None) and run.error.message
               else '')
    log_path = f'{self.host}/#/runs/details/{run.run_id}'
    if str(run.state) == 'SKIPPED':
      message = message or 'KFP skipped the run'
    if str(run.state) == 'FAILED':
      details = getattr(run, 'run_details', None)
      failed = [TaskFailure(t.display_name, getattr(t.error, 'code', None),
                            getattr(t.error, 'message', '') or '')
                for t in (getattr(details, 'task_details', None) or [])
                if str(t.state) == 'FAILED' and t.display_name]
      code = getattr(run.error, 'code', None) if getattr(run, 'error', None) else None
      retryable, message = classify_failure(code, message, failed)
      return RunState(state, message, log_path=log_path, retryable=retryable)
    return RunState(state, message, log_path=log_path)

  def mark_lost(self, run_id: str, message: str) -> bool:
    """Nothing to record: KFP keeps the run's state itself (LOST is the local
    backend's state for a supervisor that died)."""
    return False

  def cancel(self, run_id: str, reason: str = 'cancel requested') -> None:
    """Terminates a pending, running or paused run (a paused one could be resumed behind
    the next attempt's back); a finished one is left as it is."""
    run = self._find(run_id)
    if run is not None and STATES.get(str(run.state)) in ('PENDING', 'RUNNING', 'PAUSED',
                                                          'CANCELLING'):
      self._client().terminate_run(run.run_id)

"""The three backend interfaces, as a reader (and a type checker) can see them.

    Warehouse        DuckDBWarehouse (local)      BigQueryWarehouse
    PipelineRunner   LocalPipelineRunner (local)  VertexPipelineRunner, KfpPipelineRunner
    ModelRegistry    LocalModelRegistry (local)   VertexModelRegistry

Tasks call the factories in ct_platform.backends and use only what is declared here;
tests/plugins/backends/test_base.py checks every backend against its Protocol.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ct_platform.backends.runner import PipelineRunSpec, RunState


@runtime_checkable
class Warehouse(Protocol):
  """Where the training data lives: extracts a window into a span, profiles a window."""

  running_job: Any
  """The job of an extract in progress, with an `on_kill()` that cancels it; None when
  nothing runs (or the engine runs in-process and dies with the task, as DuckDB does)."""

  def source_columns(self) -> dict:
    """The source table's columns and their types.

    :returns: {column name: type name as the engine spells it}
    :raises ct_platform.sql.SourceTableError: the table does not exist
    """

  def extract_span(self, window, span_uri: str, run_info: dict, context=None) -> dict:
    """Writes the window's rows as CSV part files under span_uri, then the manifest last.

    :param window: the TrainingWindow (ct_platform.window)
    :param span_uri: a new folder (local path or gs://) that no other extract uses
    :param run_info: recorded in the manifest (Airflow run id, try number)
    :param context: the Airflow context (BigQuery: the job id is recorded in the task's
        state store before the job is submitted)
    :returns: the manifest: window, rows, columns, files, source_table, warehouse, ...
    """

  # What drift.profile_window needs (the recipe itself lives in drift/profile.py):

  def window_sql(self) -> str:
    """The training window's BigQuery text without ORDER BY: the relation to profile."""

  def column_types(self, bigquery_sql: str, window) -> dict:
    """{column: BigQuery type name} of a query's result over the window; reads no rows."""

  def query_rows(self, bigquery_sql: str, window) -> list:
    """The rows (tuples) of a BigQuery-dialect query over the window, bounded in time."""

  def profile_origin(self) -> dict:
    """{'warehouse', 'source_table'}: recorded with every profile."""


@runtime_checkable
class PipelineRunner(Protocol):
  """Runs the compiled TFX pipeline once per run id; only SUCCEEDED is success."""

  kind: str

  def submit(self, spec: PipelineRunSpec) -> str:
    """Starts the run; idempotent per run id (a second submit re-attaches).

    :returns: the run id
    """

  def get_state(self, run_id: str) -> RunState:
    """The run's state (NOT_FOUND when unknown), with `retryable` on FAILED."""

  def cancel(self, run_id: str, reason: str = 'cancel requested') -> None:
    """Cancels a pending, running or paused run; a finished one is left as it is."""

  def mark_lost(self, run_id: str, message: str) -> bool:
    """Records a run that died without a verdict.

    :returns: True if this call recorded it (the caller notifies once)
    """

  def summary_uri(self, run_id: str) -> str:
    """Where the run writes its run_summary.json (contracts/layout.py)."""

  def console_url(self, run_id: str) -> str:
    """A link for people: the backend's console, or the local run folder."""

  def config(self) -> dict:
    """{'kind', 'kwargs'}: what a Trigger serializes to rebuild the runner."""


@runtime_checkable
class ModelRegistry(Protocol):
  """Versions of one model and the aliases (champion) that point at them."""

  def register(self, candidate_model_uri: str, metadata: dict) -> dict:
    """A new version from the candidate's TFX Model folder (with Format-Serving/).

    :returns: the version record (version, model_uri, metadata)
    :raises RegistryError: the candidate is not servable or failed its smoke test
    """

  def get_version(self, version: int) -> dict:
    """:raises RegistryError: no such version"""

  def get_alias(self, alias: str = 'champion') -> dict | None:
    """The record the alias points to; None when the alias is not set."""

  def set_alias(self, version: int, alias: str = 'champion', reason: str = '',
                expected_version=...) -> dict:
    """Moves the alias to version, as a compare-and-swap.

    :param expected_version: the version the caller saw the alias on (None: unset);
        registry.ANY moves it whatever it points to (a rollback)
    :raises AliasMoved: the alias points elsewhere now; nothing was changed
    """

  def record_rollout(self, version: int, outcome: dict) -> None:
    """Appends a rollout's outcome (canary verdict, reasons, report) to the version's
    record: get_version(...)['rollouts'] lists them, oldest first."""


@runtime_checkable
class Endpoint(Protocol):
  """A prediction endpoint: deployed model versions and the traffic split between them
  (a Vertex AI Endpoint; locally the file the model server watches)."""

  def state(self):
    """The deployed models and the split (contracts.endpoint.EndpointState); None when
    nothing was ever deployed."""

  def deployed_id(self, version) -> str:
    """The id a registry version has on this endpoint (its key in the traffic split and
    the prediction log's deployed_model_id)."""

  def deploy(self, version, artifact_uri: str, traffic_percent: int):
    """Deploys a version beside the others at traffic_percent; the others keep their
    proportions in the rest.

    :raises EndpointError: a percent outside 0-100, or a first model below 100
    """

  def begin_deploy(self, version, artifact_uri: str, traffic_percent: int):
    """Starts what deploy does; returns the name of the long-running operation to wait for
    (None: done already: a local endpoint, or a deployed version whose share moved).

    :raises EndpointError: as deploy, before anything is started
    """

  def operation_status(self, name: str):
    """:returns: (done, error message or None) of an operation begin_deploy returned"""

  def config(self) -> dict:
    """{'kind', 'kwargs'}: what a trigger serializes to rebuild this endpoint
    (backends.endpoint_from_config)."""

  def set_traffic(self, split: dict):
    """:param split: deployed id -> whole percent, summing to 100 (others get 0)
    :raises EndpointError: the split names no deployed model or does not sum to 100;
        nothing is changed"""

  def undeploy(self, version):
    """:raises EndpointError: the version still takes traffic"""

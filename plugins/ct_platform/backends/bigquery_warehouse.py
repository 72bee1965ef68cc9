"""The production warehouse: BigQuery, with the same SQL files as the local one.

Extract: the training-window query wrapped in EXPORT DATA (one job: query and export to
the span folder on GCS as CSV parts with a header), run by the provider's
BigQueryInsertJobOperator on its non-deferrable path, which is crash-safe in provider
22.8 (ResumableJobMixin, durable: the job id goes to the task's task_state_store before
polling, and a retry re-attaches to it). The window dates are bound query parameters,
never text. GCS has no rename: the manifest, written create-only after the job, is what
makes the span complete. The span folder is recorded in task_state_store first, so a
retry that re-attaches to the job also finishes the folder that job writes.

Drift profile: the profile SQL (ct_platform.drift) as a query job with the same bound
parameters; only the aggregates come back. Column types from a dry run (free).
"""

from __future__ import annotations

import concurrent.futures
import json
import re

from ct_platform import sql, storage
from ct_platform.fsutil import split_chain
from ct_platform.spans import MANIFEST

SPAN_KEY = 'ct_extract_span_uri'
JOB_KEY = 'ct_extract_job_id'  # our export job's id, recorded before it is submitted
PROFILE_TIMEOUT_SECONDS = 1800  # the profile query of one window (aggregates only)
_TYPES = {'FLOAT': 'FLOAT64', 'INTEGER': 'INT64', 'BOOLEAN': 'BOOL'}


def _recording_insert_job_operator():
  """The provider's BigQueryInsertJobOperator, recording the job id it is about to submit
  (after the id is computed, before the insert): its own durable record is written only
  after submitting, so a crash in between would lose the job."""
  from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

  class RecordingInsertJobOperator(BigQueryInsertJobOperator):
    def __init__(self, *, record, **kwargs):
      super().__init__(**kwargs)
      self._record = record

    def _submit_job(self, hook, job_id):
      self._record(job_id)
      return super()._submit_job(hook, job_id)

  return RecordingInsertJobOperator


def query_parameter(name: str, value):
  """A named BigQuery query parameter, its type from the Python value."""
  import datetime as dt

  from google.cloud import bigquery

  if isinstance(value, dt.datetime):
    kind = 'TIMESTAMP'
  elif isinstance(value, bool):
    kind = 'BOOL'
  elif isinstance(value, int):
    kind = 'INT64'
  elif isinstance(value, float):
    kind = 'FLOAT64'
  elif isinstance(value, str) or value is None:
    kind = 'STRING'
  else:
    raise TypeError(f'query parameter {name}: {type(value).__name__} {value!r} has no '
                    f'BigQuery type here (datetime, bool, int, float, str)')
  return bigquery.ScalarQueryParameter(name, kind, value)


class BigQueryWarehouse:
  def __init__(self, source_table: str, project: str, location: str = 'US',
               gcp_conn_id: str = 'google_cloud_default', impersonation_chain: str = ''):
    self.source_table = source_table
    self.project = project
    self.location = location
    self.gcp_conn_id = gcp_conn_id
    self.impersonation_chain = impersonation_chain
    self.running_job = None  # the BigQuery operator of an extract in progress (on_kill)

  @classmethod
  def from_settings(cls, settings):
    return cls(settings.source_table, settings.project, settings.bigquery_location,
               settings.gcp_conn_id, settings.impersonation_chain)

  @property
  def _chain(self):
    return split_chain(self.impersonation_chain)

  def _hook(self):
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    return BigQueryHook(gcp_conn_id=self.gcp_conn_id, location=self.location,
                        impersonation_chain=self._chain, use_legacy_sql=False)

  @staticmethod
  def query_parameters(window) -> list[dict]:
    return [{'name': name, 'parameterType': {'type': 'STRING'},
             'parameterValue': {'value': value}}
            for name, value in (('window_start', window.start.isoformat()),
                                ('window_end', window.end.isoformat()))]

  def export_sql(self, span_uri: str) -> str:
    """EXPORT DATA around the training-window query (the span URI is ours, not input)."""
    if not storage.is_gcs(span_uri) or "'" in span_uri:
      raise ValueError(f'span_uri: {span_uri!r}: BigQuery exports to a gs:// folder only '
                       f'(setting bucket)')
    select = sql.without_order(sql.load('training_window', self.source_table))
    return (f"EXPORT DATA OPTIONS (uri = '{span_uri}/part-*.csv', format = 'CSV', "
            f"header = true, overwrite = true) AS\n{select}")

  def columns(self) -> list[str]:
    import sqlglot

    return sqlglot.parse_one(sql.load('training_window', self.source_table),
                             read='bigquery').named_selects

  def extract_span(self, window, span_uri: str, run_info: dict, context=None) -> dict:
    if context is None:
      raise ValueError('the BigQuery extract runs inside an Airflow task (context needed)')
    store = context['task_state_store']
    recorded = store.get(SPAN_KEY)
    job_id = None
    if recorded:  # a retry: finish the folder the recorded job writes, not a new one
      if storage.exists(storage.join(recorded, MANIFEST), self):
        return json.loads(storage.read_text(storage.join(recorded, MANIFEST), self))
      state, recorded_job = self._recorded_job_state(store.get(JOB_KEY))
      if state == 'FAILED':
        # a failed export may have left part files: never reuse its folder; this try's
        # new folder gets a new job (its id follows from the folder)
        self._forget(store)
        recorded = None
      else:
        span_uri = recorded
        job_id = recorded_job if state == 'SUCCEEDED' else None
    if not recorded and storage.list_names(span_uri, self):
      raise ValueError(f'span {span_uri} already exists: spans are immutable')
    params = self.query_parameters(window)
    configuration = {'query': {'query': self.export_sql(span_uri), 'useLegacySql': False,
                               'parameterMode': 'NAMED', 'queryParameters': params}}
    if job_id is None:  # run (or re-attach to) the job of this folder
      store.set(SPAN_KEY, span_uri)
      job_op = _recording_insert_job_operator()(
          record=lambda final_id: store.set(JOB_KEY, final_id),
          task_id=context['ti'].task_id, project_id=self.project, location=self.location,
          gcp_conn_id=self.gcp_conn_id, impersonation_chain=self._chain, deferrable=False,
          # our id (the provider appends a hash of the configuration; no random part):
          # a retry computes the same id and re-attaches, never starts a second job
          job_id=self.job_id_prefix(span_uri), force_rerun=False,
          reattach_states={'PENDING', 'RUNNING'}, configuration=configuration)
      self.running_job = job_op
      job_id = job_op.execute(context)
      self.running_job = None
    job = self._hook().get_job(job_id=job_id, project_id=self.project, location=self.location)
    stats = job._properties.get('statistics', {}).get('query', {}).get('exportDataStatistics')
    if stats is None or 'rowCount' not in stats:
      raise RuntimeError(f'BigQuery job {job_id} reports no exportDataStatistics.rowCount: '
                         f'refusing to call span {span_uri} complete')
    rows = int(stats['rowCount'])
    files = [n for n in storage.list_names(span_uri, self) if n.startswith('part-')]
    if rows and not files:
      raise RuntimeError(f'BigQuery job {job_id} exported {rows} rows but {span_uri} holds no '
                         f'part files: refusing to write its manifest')
    manifest = dict(
        window=window.as_dict(), rows=rows, columns=self.columns(), files=files,
        source_table=self.source_table, warehouse='bigquery', bigquery_job_id=job_id,
        query_parameters={p['name']: p['parameterValue']['value'] for p in params},
        uri=span_uri, complete=True, **run_info)
    import datetime as dt

    manifest['written_at'] = dt.datetime.now(dt.timezone.utc).isoformat(
        timespec='microseconds')
    storage.write_text(storage.join(span_uri, MANIFEST), json.dumps(
        manifest, indent=2, sort_keys=True), self, content_type='application/json',
        create_only=True)
    # the records go: a clear of this task must run a new job into a new span
    self._forget(store)
    return manifest

  @staticmethod
  def job_id_prefix(span_uri: str) -> str:
    """The export job's id, from its span folder (the provider appends a hash of the job's
    configuration): one folder, one job; BigQuery ids take [A-Za-z0-9_-], up to 1024."""
    window, name = str(span_uri).rstrip('/').split('/')[-2:]
    return 'ct_extract_' + re.sub(r'[^A-Za-z0-9_-]+', '_', f'{window}_{name}')[:900]

  @staticmethod
  def _forget(store) -> None:
    from airflow.providers.google.cloud.operators.bigquery import BigQueryInsertJobOperator

    for key in (SPAN_KEY, JOB_KEY, BigQueryInsertJobOperator.external_id_key):
      store.delete(key)

  def _recorded_job_state(self, job_id):
    """(RUNNING | SUCCEEDED | FAILED | MISSING, job id) of the recorded export job."""
    from google.api_core.exceptions import NotFound

    if not job_id:
      return 'MISSING', None
    try:
      job = self._hook().get_job(job_id=job_id, project_id=self.project,
                                 location=self.location)
    except NotFound:  # recorded, never submitted (a crash just before): submit it now
      return 'MISSING', job_id
    if job.state != 'DONE':
      return 'RUNNING', job_id
    return ('FAILED' if job.error_result else 'SUCCEEDED'), job_id

  def _run(self, text: str, window, dry_run: bool = False):
    from google.cloud import bigquery

    params = [bigquery.ScalarQueryParameter(p['name'], 'STRING', p['parameterValue']['value'])
              for p in self.query_parameters(window)]
    client = self._hook().get_client(project_id=self.project, location=self.location)
    job = client.query(text, job_config=bigquery.QueryJobConfig(
        query_parameters=params, dry_run=dry_run, use_legacy_sql=False),
        location=self.location)
    return job

  def query(self, bigquery_sql: str, params: dict, timeout: float = PROFILE_TIMEOUT_SECONDS,
            what: str = 'query') -> list[dict]:
    """The rows (dicts) of a query with named parameters, typed from their Python values
    (datetime: TIMESTAMP, bool, int, float, else STRING); bounded: a stuck job is cancelled
    at `timeout`, not left to hold the worker until execution_timeout."""
    from google.cloud import bigquery

    client = self._hook().get_client(project_id=self.project, location=self.location)
    job = client.query(bigquery_sql, job_config=bigquery.QueryJobConfig(
        query_parameters=[query_parameter(k, v) for k, v in sorted(params.items())],
        use_legacy_sql=False), location=self.location)
    try:
      return [dict(row.items()) for row in job.result(timeout=timeout)]
    except concurrent.futures.TimeoutError as e:
      job.cancel()
      raise TimeoutError(f'the {what} (BigQuery job {job.job_id}) did not finish within '
                         f'{timeout} s; it was cancelled') from e

  def source_columns(self) -> dict:
    """{column: type} of the source table, from a dry run of SELECT * (reads and bills
    nothing; a missing table is a NotFound, reported as no columns)."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    client = self._hook().get_client(project_id=self.project, location=self.location)
    try:
      job = client.query(f'SELECT * FROM `{self.source_table}`', job_config=(
          bigquery.QueryJobConfig(dry_run=True, use_legacy_sql=False)),
          location=self.location, timeout=60)
    except exceptions.NotFound:
      return {}
    fields = job._properties.get('statistics', {}).get('query', {}).get('schema', {}).get(
        'fields', [])
    return {f['name']: _TYPES.get(f['type'], f['type']) for f in fields}

  def window_sql(self) -> str:
    """The training window's BigQuery text, without its ORDER BY (a relation to profile)."""
    return sql.without_order(sql.load('training_window', self.source_table))

  def column_types(self, bigquery_sql: str, window) -> dict:
    """{column: type} of a query's result: a dry run (reads and bills nothing)."""
    job = self._run(bigquery_sql, window, dry_run=True)
    fields = job._properties.get('statistics', {}).get('query', {}).get('schema', {}).get(
        'fields', [])
    return {f['name']: _TYPES.get(f['type'], f['type']) for f in fields}

  def query_rows(self, bigquery_sql: str, window) -> list:
    """The rows of a query over the window; bounded: a stuck job must not hold the worker
    until execution_timeout (it is cancelled)."""
    job = self._run(bigquery_sql, window)
    try:
      return [tuple(r.values()) for r in job.result(timeout=PROFILE_TIMEOUT_SECONDS)]
    except concurrent.futures.TimeoutError as e:
      job.cancel()
      raise TimeoutError(f'the drift profile query (BigQuery job {job.job_id}) did not finish '
                         f'within {PROFILE_TIMEOUT_SECONDS} s; it was cancelled') from e

  def profile_origin(self) -> dict:
    return {'warehouse': 'bigquery', 'source_table': self.source_table}

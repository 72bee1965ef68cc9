"""ExtractSpanOperator: the training window into a new immutable span, on the configured
warehouse (DuckDB locally, BigQuery in production).

An operator rather than a @task for one reason: on_kill. On BigQuery the extract is a job
(run by the provider's BigQueryInsertJobOperator inside this task); a user's mark-failed
or the execution timeout must cancel that job, not leave it running and billed.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator


class ExtractSpanOperator(BaseOperator):
  template_fields = ('plan',)
  ui_color = '#e6f4ea'

  def __init__(self, *, plan, settings_overrides: dict | None = None, **kwargs):
    super().__init__(**kwargs)
    self.plan = plan
    self.settings_overrides = settings_overrides or {}
    self._warehouse = None
    # what the lineage needs, kept from execute: the OpenLineage listener calls
    # get_openlineage_facets_on_complete in a forked process, where reading the Variable
    # (load_settings) would talk over the parent's channel to the supervisor
    self._manifest = None
    self._settings = None

  def execute(self, context):
    from ct_platform import tasks
    from ct_platform.backends import warehouse_for
    from ct_platform.config import load_settings

    settings = self._settings = load_settings(self.settings_overrides)
    self._warehouse = warehouse_for(settings)
    from ct_platform.sql import SourceTableError

    ti = context['ti']
    try:
      self._manifest = tasks.extract_span(self.plan, ti.run_id, ti.try_number, settings,
                                          context, warehouse=self._warehouse)
      return self._manifest
    except SourceTableError as e:  # the table's shape: a retry would fail the same way
      from airflow.sdk.exceptions import AirflowFailException
      raise AirflowFailException(str(e)) from e

  def get_openlineage_facets_on_complete(self, task_instance):
    """OpenLineage: the source table's window -> the span (ct_platform.lineage)."""
    from ct_platform import lineage

    if not self._manifest:
      return lineage.nothing()
    return lineage.extract_span(self._manifest, self._settings)

  def on_kill(self):
    job = self._warehouse.running_job if self._warehouse is not None else None
    if job is not None:
      self.log.info('task killed: cancelling the warehouse job')
      job.on_kill()

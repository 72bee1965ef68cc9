"""RegisterModelOperator: the gated candidate becomes a registry version with an alias.

continuous_training has two of them: `promote` (alias champion) and `nominate_challenger`
(alias challenger, for model_rollout's canary); choose_path picks one. An operator
rather than a @task so that it reports its lineage (candidate -> model version) to
OpenLineage like the extract and the pipeline run before it.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator


class RegisterModelOperator(BaseOperator):
  ui_color = '#fef7e0'

  def __init__(self, *, alias: str, asset, event: str, says: str,
               settings_overrides: dict | None = None, **kwargs):
    """alias: champion | challenger; asset: the Asset this task emits (also its outlet);
    event / says: the notification's kind and wording."""
    super().__init__(outlets=[asset], **kwargs)
    self.alias, self.asset, self.event, self.says = alias, asset, event, says
    self.settings_overrides = settings_overrides or {}
    self._promoted = self._candidate = self._settings = None

  def execute(self, context):
    from ct_platform import tasks
    from ct_platform.config import load_settings
    from ct_platform.notify import notify

    ti = context['ti']
    # Both registering tasks are downstream of the approval too, and a branch does not
    # skip a task that also follows a chosen one: after an approval, only the one
    # choose_path chose runs.
    chosen = ti.xcom_pull(task_ids='choose_path', key='chosen')
    chosen = [chosen] if isinstance(chosen, str) else list(chosen or [])
    if self.task_id not in chosen:
      from airflow.sdk.exceptions import AirflowSkipException
      raise AirflowSkipException(f'choose_path chose {chosen}, not {self.task_id}')
    settings = load_settings(self.settings_overrides)
    plan = ti.xcom_pull(task_ids='plan_run')
    result = ti.xcom_pull(task_ids='run_pipeline')
    promoted = tasks.promote(
        ti.xcom_pull(task_ids='promotion_gate'), result,
        ti.xcom_pull(task_ids='extract_span'), plan, settings,
        ti.xcom_pull(task_ids='evaluate_drift'),
        gated_champion=ti.xcom_pull(task_ids='find_champion'), alias=self.alias,
        approval=ti.xcom_pull(task_ids='request_approval'))
    context['outlet_events'][self.asset].extra = promoted
    notify(self.event, f'{self.says} version {promoted["version"]} ({promoted["model_uri"]}); '
           f'{plan["trigger"]["reason"]}', settings, trigger=plan['trigger'], **promoted)
    # what the lineage needs (see ExtractSpanOperator: no Variable read in the listener)
    self._promoted = dict(promoted, run_id=result['run_id'])
    self._candidate = result['summary']['candidate_model_uri']
    self._settings = settings
    return promoted

  def get_openlineage_facets_on_complete(self, task_instance):
    """OpenLineage: the pipeline's candidate -> the registry version (ct_platform.lineage)."""
    from ct_platform import lineage

    if not self._promoted:
      return lineage.nothing()
    return lineage.registration(self._candidate, self._promoted, self._settings)

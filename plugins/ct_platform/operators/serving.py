"""The model_rollout steps that change what serves: the canary deploy and the full rollout.

Operators rather than @tasks so that they report their lineage (model version -> serving
deployment, with the traffic split) to OpenLineage; what they do is in
ct_platform.rollout.steps.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator


class _ServingChangeOperator(BaseOperator):
  stage = ''
  alias = ''  # the version's alias once the step is done

  def __init__(self, *, plan, settings_overrides: dict | None = None, **kwargs):
    super().__init__(**kwargs)
    self.plan = plan
    self.settings_overrides = settings_overrides or {}
    # what the lineage needs (see ExtractSpanOperator: no Variable read in the listener)
    self._split = self._settings = None

  def _load_settings(self):
    from ct_platform.config import load_settings
    self._settings = load_settings(self.settings_overrides)
    return self._settings

  def get_openlineage_facets_on_complete(self, task_instance):
    """OpenLineage: the challenger's registry version -> the endpoint serving it."""
    from ct_platform import lineage

    if self._split is None:
      return lineage.nothing()
    return lineage.deployment(dict(self.plan['challenger'], alias=self.alias), self._split,
                              self.stage, self._settings)


class DeployCanaryOperator(_ServingChangeOperator):
  """The challenger beside the champion at the plan's canary percent."""
  template_fields = ('plan',)
  ui_color = '#e6f4ea'
  stage = 'canary'
  alias = 'challenger'

  def execute(self, context):
    from ct_platform.rollout import steps

    deployment = steps.deploy_canary(self.plan, self._load_settings())
    self.log.info('canary: %s on %s%s', deployment['split'], deployment['endpoint'],
                  f' ({deployment["server"]["url"]})' if deployment['server'] else '')
    self._split = deployment['split']
    return deployment


class FullRolloutOperator(_ServingChangeOperator):
  """100% to the challenger, which becomes champion; emits the champion Asset."""
  template_fields = ('plan', 'verdict')
  ui_color = '#e6f4ea'
  stage = 'full_rollout'
  alias = 'champion'

  def __init__(self, *, verdict, asset, **kwargs):
    super().__init__(outlets=[asset], **kwargs)
    self.verdict, self.asset = verdict, asset

  def execute(self, context):
    from ct_platform.notify import notify
    from ct_platform.rollout import steps

    settings = self._load_settings()
    done = steps.full_rollout(self.plan, self.verdict, settings)
    context['outlet_events'][self.asset].extra = done
    notify('rollout_completed', f'rollout: version {done["version"]} is champion and takes '
           f'100% of the traffic', settings, **done)
    notify('champion_promoted', f'champion is now version {done["version"]} (canary passed)',
           settings, **done)
    self._split = done['traffic_split']
    return done

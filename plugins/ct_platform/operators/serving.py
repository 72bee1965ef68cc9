"""The model_rollout steps that change what serves: the canary deploy and the full rollout.

Operators rather than @tasks so that they report their lineage (model version -> serving
deployment, with the traffic split) to OpenLineage; what they do is in
ct_platform.rollout.steps.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import BaseOperator

OPERATION_KEY = 'ct_endpoint_operation'  # the deploy an earlier try started (a retry waits)
DEPLOY_TIMEOUT_SECONDS = 3600  # a first Vertex AI deploy provisions machines


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
  """The challenger beside the champion at the plan's canary percent.

  On Vertex AI a deploy is a long-running operation (machines are provisioned): the task
  defers to EndpointOperationTrigger for each one it starts (the champion's on a first
  rollout, then the challenger's) and frees its worker slot meanwhile. The operation is
  recorded in the task's task_state_store before deferring, so a retry waits for it
  instead of starting a second deploy. Locally a deploy is a file write: no deferral.
  """
  template_fields = ('plan',)
  ui_color = '#e6f4ea'
  stage = 'canary'
  alias = 'challenger'

  def execute(self, context):
    from ct_platform.backends import endpoint_for

    settings = self._load_settings()
    endpoint = endpoint_for(settings)
    store = context['task_state_store']
    recorded = store.get(OPERATION_KEY)
    if recorded:  # an earlier try started this deploy: wait for it, never start another
      done, error = endpoint.operation_status(recorded['operation'])
      if not done:
        self.log.info('reconnecting to %s (operation %s)', recorded['what'],
                      recorded['operation'])
        return self._defer(endpoint, recorded, settings)
      store.delete(OPERATION_KEY)
      if error:
        self.log.warning('%s of an earlier try failed: %s', recorded['what'], error)
    return self._advance(context, endpoint, settings)

  def _advance(self, context, endpoint, settings):
    from ct_platform.rollout import steps

    started = steps.next_canary_deploy(self.plan, endpoint)
    if started is not None:
      record = {'operation': started[0], 'what': started[1],
                'deadline': (dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                    seconds=DEPLOY_TIMEOUT_SECONDS)).isoformat()}
      context['task_state_store'].set(OPERATION_KEY, record)
      return self._defer(endpoint, record, settings)
    deployment = steps.finish_canary(self.plan, settings)
    self.log.info('canary: %s on %s%s', deployment['split'], deployment['endpoint'],
                  f' ({deployment["server"]["url"]})' if deployment['server'] else '')
    self._split = deployment['split']
    return deployment

  def _defer(self, endpoint, record, settings):
    from ct_platform.triggers.endpoint_operation import EndpointOperationTrigger

    self.log.info('waiting (deferred) for %s: operation %s', record['what'],
                  record['operation'])
    self.defer(trigger=EndpointOperationTrigger(
        endpoint_config=endpoint.config(), operation=record['operation'],
        what=record['what'], deadline=record['deadline'],
        poll_interval=settings.poll_interval_seconds), method_name='execute_complete')

  def execute_complete(self, context, event=None):
    from ct_platform.backends import endpoint_for
    from ct_platform.contracts.endpoint import EndpointError

    context['task_state_store'].delete(OPERATION_KEY)
    if (event or {}).get('status') != 'DONE':
      # the champion still serves 100%: Vertex AI applies a split only with a deploy
      raise EndpointError(f'{(event or {}).get("message", "no event")} '
                          f'({(event or {}).get("status")})')
    self.log.info('%s', event['message'])
    settings = self._load_settings()
    return self._advance(context, endpoint_for(settings), settings)


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

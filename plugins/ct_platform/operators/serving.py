"""The model_rollout steps that deploy: the infrastructure validation (on Vertex AI, a
deploy to the validation endpoint first), the canary deploy and the full rollout.

Operators rather than @tasks so that they defer on Vertex AI's long-running deploys and
report their lineage (model version -> serving deployment, with the traffic split) to
OpenLineage; what they do is in ct_platform.rollout.steps.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import BaseOperator

OPERATION_KEY = 'ct_endpoint_operation'  # the deploy an earlier try started (a retry waits)
DEPLOY_TIMEOUT_SECONDS = 3600  # a first Vertex AI deploy provisions machines


class _RolloutStepOperator(BaseOperator):
  """A model_rollout step on the rollout's plan (plan_rollout's XCom)."""

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


class _ServingChangeOperator(_RolloutStepOperator):
  stage = ''
  alias = ''  # the version's alias once the step is done

  def get_openlineage_facets_on_complete(self, task_instance):
    """OpenLineage: the challenger's registry version -> the endpoint serving it."""
    from ct_platform import lineage

    if self._split is None:
      return lineage.nothing()
    return lineage.deployment(dict(self.plan['challenger'], alias=self.alias), self._split,
                              self.stage, self._settings)


class _EndpointOperationsOperator(_RolloutStepOperator):
  """Starts endpoint operations one after another (`_next`) and waits for each deferrably,
  then finishes (`_finish`). On Vertex AI a deploy is a long-running operation (machines
  are provisioned, often 10-20 minutes): the task defers to EndpointOperationTrigger for
  each one and frees its worker slot meanwhile. The operation is recorded in the task's
  task_state_store before deferring, so a retry waits for it instead of starting a
  second one. Locally a deploy is a file write: `_next` starts nothing."""

  def _endpoint(self, settings):
    from ct_platform.backends import endpoint_for
    return endpoint_for(settings)

  def _next(self, endpoint, settings):
    """(operation name, what) of the next operation started, or None: all done."""
    raise NotImplementedError

  def _finish(self, endpoint, settings):
    raise NotImplementedError

  def _operation_failed(self, event, endpoint, settings):
    """An operation failed (or its deadline passed): raise, or return the task's result."""
    from ct_platform.contracts.endpoint import EndpointError

    raise EndpointError(f'{event.get("message", "no event")} ({event.get("status")})')

  def execute(self, context):
    settings = self._load_settings()
    endpoint = self._endpoint(settings)
    store = context['task_state_store']
    recorded = store.get(OPERATION_KEY)
    if recorded:  # an earlier try started this operation: wait for it, never start another
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
    started = self._next(endpoint, settings)
    if started is not None:
      record = {'operation': started[0], 'what': started[1],
                'deadline': (dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                    seconds=DEPLOY_TIMEOUT_SECONDS)).isoformat()}
      context['task_state_store'].set(OPERATION_KEY, record)
      return self._defer(endpoint, record, settings)
    return self._finish(endpoint, settings)

  def _defer(self, endpoint, record, settings):
    from ct_platform.triggers.endpoint_operation import EndpointOperationTrigger

    self.log.info('waiting (deferred) for %s: operation %s', record['what'],
                  record['operation'])
    self.defer(trigger=EndpointOperationTrigger(
        endpoint_config=endpoint.config(), operation=record['operation'],
        what=record['what'], deadline=record['deadline'],
        poll_interval=settings.poll_interval_seconds), method_name='execute_complete')

  def execute_complete(self, context, event=None):
    context['task_state_store'].delete(OPERATION_KEY)
    settings = self._load_settings()
    endpoint = self._endpoint(settings)
    if (event or {}).get('status') != 'DONE':
      return self._operation_failed(event or {}, endpoint, settings)
    self.log.info('%s', event['message'])
    return self._advance(context, endpoint, settings)


class DeployCanaryOperator(_EndpointOperationsOperator, _ServingChangeOperator):
  """The challenger beside the champion at the plan's canary percent: on a first rollout
  the champion's deploy, then the challenger's, each waited for deferrably. A deploy that
  fails fails the try with Vertex AI's message; the champion still serves 100% (Vertex AI
  applies a split only with a deploy)."""
  template_fields = ('plan',)
  ui_color = '#e6f4ea'
  stage = 'canary'
  alias = 'challenger'

  def _next(self, endpoint, settings):
    from ct_platform.rollout import steps
    return steps.next_canary_deploy(self.plan, endpoint)

  def _finish(self, endpoint, settings):
    from ct_platform.rollout import steps

    deployment = steps.finish_canary(self.plan, settings)
    self.log.info('canary: %s on %s%s', deployment['split'], deployment['endpoint'],
                  f' ({deployment["server"]["url"]})' if deployment['server'] else '')
    self._split = deployment['split']
    return deployment


class ValidateInfrastructureOperator(_EndpointOperationsOperator):
  """The challenger in the serving stack production uses, answering the rows the
  pipeline's smoke test recorded with the pipeline's predictions.

  Locally: the serving env's model server on a private port. On Vertex AI: the
  challenger is deployed alone to the private validation endpoint, in the serving
  container its registry version names (the deploy waited for deferrably), and predicts
  there; load_test then loads it there and it leaves the endpoint. A deploy that fails is
  the verdict (the container did not serve the model), not a task failure: the challenger
  is rejected before any traffic."""
  template_fields = ('plan',)
  ui_color = '#fef7e0'

  def _endpoint(self, settings):
    endpoint = super()._endpoint(settings)
    return endpoint.validation() if settings.endpoint == 'vertex' else endpoint

  def _next(self, endpoint, settings):
    if settings.endpoint != 'vertex':
      return None
    from ct_platform.rollout import steps
    return steps.begin_validation_deploy(self.plan, endpoint)

  def _finish(self, endpoint, settings, deploy_error=None):
    from ct_platform.rollout import steps

    if settings.endpoint == 'vertex':
      result = steps.validate_on_endpoint(self.plan, endpoint, settings, deploy_error)
    else:
      result = steps.validate_infrastructure(self.plan, settings)
    print(f'infrastructure validation: {"pass" if result["passed"] else "FAIL"}: '
          f'{result["message"]}')
    if result.get('released'):
      print(f'the challenger leaves the validation endpoint: operation {result["released"]}')
    return result

  def _operation_failed(self, event, endpoint, settings):
    return self._finish(endpoint, settings, deploy_error=(
        event.get('message') or f'the wait ended with {event.get("status")}'))


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

"""What each model_rollout task does; the DAG file only wires them.

    plan_rollout            which challenger, against which champion, with which numbers
    validate_infrastructure the challenger in the serving stack, on the pipeline's rows
    load_test               Locust against the challenger alone; judged by the policy
    after_checks            deploy_canary, or reject_challenger (it never took traffic)
    deploy_canary           the challenger beside the champion at canary_percent
    (wait_for_canary)       a deferrable wait on the prediction log (operators/canary.py)
    compare_canary          challenger vs champion on the live traffic since the deploy
    after_canary            full_rollout, or roll_back
    full_rollout            100% to the challenger, which becomes champion
    roll_back               100% back to the champion; the challenger's record says why
    write_report            the HTML report with charts, and rollout.json

Nothing here touches the champion alias or its traffic unless the verdict says so: a
rejected or rolled-back challenger leaves the champion serving 100%.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
from pathlib import Path

from ct_platform.config import Settings
from ct_platform.rollout.policy import judge_load_test
from ct_platform.rollout.policy import serving_policy as _serving_policy


def serving_policy(settings: Settings):
  from ct_platform.contracts import POLICY_PATH
  return _serving_policy(path=settings.serving_policy_file or POLICY_PATH)


def _now() -> dt.datetime:
  return dt.datetime.now(dt.timezone.utc)


def _model(record: dict) -> dict:
  smoke = record.get('smoke_test') or {}
  return {'version': int(record['version']), 'model_uri': record['model_uri'],
          'smoke_rows': smoke.get('rows_uri'), 'run_id': record.get('run_id')}


def plan_rollout(params: dict, run_id: str, settings: Settings) -> dict:
  """Checks the Params against the registry; raises ValueError naming the field."""
  from ct_platform.backends import registry_for
  from ct_platform.run_ids import slug

  registry = registry_for(settings)
  champion = registry.get_alias('champion')
  if champion is None:
    raise ValueError('no champion yet: a first model becomes champion when it is promoted; '
                     'a rollout needs one to canary against')
  if params.get('version') is not None:
    challenger = registry.get_version(int(params['version']))
  else:
    challenger = registry.get_alias('challenger')
    if challenger is None:
      raise ValueError('version: empty, and no version has the challenger alias: nothing to '
                       'roll out')
  if int(challenger['version']) == int(champion['version']):
    raise ValueError(f'version: {challenger["version"]} is the champion already')
  smoke = challenger.get('smoke_test') or {}
  if not smoke.get('passed'):
    raise ValueError(f'version: {challenger["version"]} did not pass its smoke test '
                     f'({smoke.get("message", "no result")})')
  policy = serving_policy(settings)
  percent = params.get('canary_percent') or policy.canary.percent
  if not 1 <= int(percent) <= 99:
    raise ValueError(f'canary_percent: {percent} is not within 1..99')
  report_dir = settings.serving_root / 'rollouts' / f'v{challenger["version"]}-{slug(run_id)}'
  return {
      'run_id': run_id, 'challenger': _model(challenger), 'champion': _model(champion),
      'canary_percent': int(percent),
      'observation_minutes': float(params.get('observation_minutes') or
                                   policy.canary.observation_minutes),
      'min_requests': int(params.get('min_requests') or policy.canary.min_requests),
      'reason': params.get('reason') or '', 'report_dir': str(report_dir),
  }


def _local_smoke_rows(plan: dict, out_dir: Path, settings: Settings) -> str:
  """The challenger's smoke_rows.json as a local path (downloaded when in the bucket)."""
  from ct_platform import storage

  challenger = plan['challenger']
  if not challenger['smoke_rows']:
    raise ValueError(f'version {challenger["version"]} has no recorded smoke rows '
                     f'(smoke_test.rows_uri): it was trained before the pipeline recorded '
                     f'them; retrain it to roll it out')
  if not storage.is_gcs(challenger['smoke_rows']):
    return challenger['smoke_rows']
  local = out_dir / 'smoke_rows.json'
  local.write_text(storage.read_text(challenger['smoke_rows'], settings))
  return str(local)


def _serving_check(command: str, plan: dict, settings: Settings, *extra,
                   env: dict | None = None) -> dict:
  """Runs `python -m ct_serving.checks` in the serving env; its JSON result."""
  challenger = plan['challenger']
  out_dir = Path(plan['report_dir'])
  out_dir.mkdir(parents=True, exist_ok=True)
  out = out_dir / f'{command}.json'
  smoke_rows = _local_smoke_rows(plan, out_dir, settings)
  from ct_platform.rollout.server import serving_env

  proc = subprocess.run(
      [settings.serving_python_path, '-m', 'ct_serving.checks', command, '--model-uri',
       challenger['model_uri'], '--version', str(challenger['version']), '--smoke-rows',
       smoke_rows, '--out', str(out), *extra],
      env=dict(serving_env(), **(env or {})), capture_output=True, text=True, timeout=1800)
  if proc.returncode:
    raise RuntimeError(f'ct_serving.checks {command} exited with {proc.returncode}:\n'
                       f'{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}')
  return json.loads(out.read_text())


def validate_infrastructure(plan: dict, settings: Settings) -> dict:
  """Locally: the serving env's model server on a private port (ct_serving.checks). On
  Vertex AI, ValidateInfrastructureOperator deploys to the validation endpoint first and
  calls validate_on_endpoint."""
  return _serving_check('validate', plan, settings)


def begin_validation_deploy(plan: dict, endpoint) -> tuple[str, str] | None:
  """Vertex AI: starts deploying the challenger alone (100%) on the private validation
  endpoint, in the serving container its registry version names. (operation, what) to
  wait for; None when it is there at 100% already (a retried task)."""
  challenger = plan['challenger']
  state = endpoint.state()
  if state is not None and state.traffic_split.get(
      endpoint.deployed_id(challenger['version'])) == 100:
    return None
  operation = endpoint.begin_deploy(challenger['version'], challenger['model_uri'], 100)
  return ((operation, f'deploy of challenger version {challenger["version"]} on the '
                      f'validation endpoint') if operation else None)


def validate_on_endpoint(plan: dict, endpoint, settings: Settings,
                         deploy_error: str | None = None) -> dict:
  """The challenger, deployed on the validation endpoint, answers the smoke rows the
  pipeline recorded with the pipeline's predictions (within SMOKE_TOLERANCE). Never raises for a
  bad model or container: the verdict says what went wrong (then it leaves the endpoint).
  Versions an earlier rollout left there (at 0%) are undeployed."""
  from google.api_core import exceptions

  from ct_platform import storage
  from ct_platform.contracts.endpoint import EndpointError, compare_smoke_predictions

  challenger = plan['challenger']
  mid = endpoint.deployed_id(challenger['version'])
  result = {'check': 'infrastructure_validation', 'passed': False,
            'version': str(challenger['version']), 'endpoint': endpoint.resource,
            'serving_image': settings.serving_image, 'rows': 0, 'max_abs_diff': None,
            'ready_seconds': None, 'message': ''}
  if deploy_error:
    image = settings.serving_image or "the registry version's"
    result['message'] = (f'the challenger did not deploy in the serving container '
                         f'({image}): {deploy_error}')
    return result
  state = endpoint.state()
  for other in [m.id for m in state.deployed_models if m.id != mid] if state else []:
    endpoint.begin_undeploy(other)  # a leftover at 0%: not waited for
  try:
    rows = json.loads(storage.read_text(challenger['smoke_rows'], settings))
    predictions, answered_by = endpoint.predict(rows['instances'])
    compared = compare_smoke_predictions(predictions, rows['predictions'])
    result.update(rows=compared['rows'], max_abs_diff=compared['max_abs_diff'])
    if answered_by != mid:
      result['message'] = f'deployed model {answered_by} answered, not {mid}'
    elif compared['problem']:
      result['message'] = compared['problem']
    else:
      result.update(passed=True, message=(
          f'{endpoint.resource} (the serving container, deployed model {mid}) answered '
          f'{compared["rows"]} smoke rows as the pipeline did (max diff '
          f'{compared["max_abs_diff"]:.2e})'))
  except (exceptions.GoogleAPICallError, EndpointError, KeyError, ValueError) as e:
    result['message'] = f'{type(e).__name__}: {e}'[:3000]
  if not result['passed']:
    result['released'] = release_validation(plan, endpoint)
  return result


def release_validation(plan: dict, endpoint) -> str | None:
  """Starts undeploying the challenger from the validation endpoint (machines cost by the
  hour); the operation's name, not waited for. None when it is not deployed there."""
  from ct_platform.contracts.endpoint import EndpointError

  try:
    return endpoint.begin_undeploy(plan['challenger']['version'])
  except EndpointError:
    return None


def load_test(plan: dict, settings: Settings) -> dict:
  """Locust against the challenger alone: locally a private model server; on Vertex AI
  the validation endpoint, which the challenger leaves afterwards."""
  policy = serving_policy(settings)
  extra, env, endpoint = [], None, None
  if settings.endpoint == 'vertex':
    from ct_platform.backends import endpoint_for

    endpoint = endpoint_for(settings).validation()
    extra = ['--url', endpoint.predict_url]
    authorization = endpoint.authorization()
    env = {'CT_LOADTEST_AUTHORIZATION': authorization} if authorization else None
  try:
    figures = _serving_check('loadtest', plan, settings, '--users',
                             str(policy.load_test_users), '--seconds',
                             str(policy.load_test_seconds), *extra, env=env)
  finally:
    released = release_validation(plan, endpoint) if endpoint is not None else None
  checks = judge_load_test(figures, policy)
  failed = [c['detail'] for c in checks if not c['passed']]
  return {'passed': not failed, 'checks': checks, 'reasons': failed, 'figures': figures,
          **({'released': released} if endpoint is not None else {})}


def after_checks(validation: dict, load: dict) -> str:
  return 'deploy_canary' if validation['passed'] and load['passed'] else 'reject_challenger'


def next_canary_deploy(plan: dict, endpoint) -> tuple[str, str] | None:
  """Starts the next deploy the canary needs, if one is still needed: the champion (at
  100%, when it is not on the endpoint: a first rollout), then the challenger (at the
  canary percent, against the champion alone). Returns (operation name, what) to wait
  for, or None when both are deployed (then finish_canary). Called again after each wait
  (DeployCanaryOperator defers on each operation): it reads the endpoint's state, so a
  retried task resumes where the last one stopped."""
  champion, challenger = plan['champion'], plan['challenger']
  champion_id = endpoint.deployed_id(champion['version'])
  state = endpoint.state()
  if state is None or champion_id not in state.traffic_split:
    operation = endpoint.begin_deploy(champion['version'], champion['model_uri'], 100)
    if operation:
      return operation, f'deploy of champion version {champion["version"]}'
    state = endpoint.state()
  if endpoint.deployed_id(challenger['version']) in state.traffic_split:
    return None
  # whatever served before, the canary is against the champion alone
  if state.traffic_split.get(champion_id) != 100:
    endpoint.set_traffic({champion_id: 100})
  operation = endpoint.begin_deploy(challenger['version'], challenger['model_uri'],
                                    plan['canary_percent'])
  return (operation, f'deploy of challenger version {challenger["version"]}') \
      if operation else None


def finish_canary(plan: dict, settings: Settings) -> dict:
  """Both deployed: the split set exactly (champion 100 - percent, challenger percent,
  any other deployed version 0); the local server applies it before the window starts."""
  from ct_platform.backends import endpoint_for
  from ct_platform.rollout import server

  endpoint = endpoint_for(settings)
  champion, challenger = plan['champion'], plan['challenger']
  champion_id = endpoint.deployed_id(champion['version'])
  challenger_id = endpoint.deployed_id(challenger['version'])
  state = endpoint.state()
  want = {**{k: 0 for k in state.traffic_split}, champion_id: 100 - plan['canary_percent'],
          challenger_id: plan['canary_percent']}
  if state.traffic_split != want:
    state = endpoint.set_traffic(want)
  running = None
  if settings.endpoint == 'local':  # the local server: started if down, then it applies it
    running = server.ensure_running(settings)
    server.wait_for_split(settings, state.traffic_split)
  since = _now()
  from ct_platform.monitoring.window import prediction_log_for

  log = prediction_log_for(settings)
  return {'endpoint': log.endpoint, 'log': log.config(),
          'challenger_id': challenger_id, 'champion_id': champion_id,
          'percent': plan['canary_percent'], 'split': state.traffic_split,
          'since': since.isoformat(),
          'until': (since + dt.timedelta(minutes=plan['observation_minutes'])).isoformat(),
          'min_requests': plan['min_requests'], 'server': running}


def compare_canary(plan: dict, deployment: dict, settings: Settings) -> dict:
  """Challenger against champion on the traffic since the canary started, from the
  prediction log, with the labels that have arrived (joined in the warehouse on the
  example key, as monitoring's decay check does); on Vertex AI (whose logging table has no
  status or latency) each model's latency and server errors come from Cloud Monitoring."""
  from ct_platform.monitoring.steps import EXAMPLE_KEY
  from ct_platform.monitoring.window import model_labelled_counts, prediction_log_for
  from ct_platform.rollout import canary
  from ct_platform.rollout.log import read_window

  since, now = dt.datetime.fromisoformat(deployment['since']), _now()
  log = prediction_log_for(settings)
  rows = read_window(log, since, now)
  labels_error = None
  try:
    labelled = {m: model_labelled_counts(log, deployment[m], EXAMPLE_KEY, since, now)
                for m in ('champion_id', 'challenger_id')}
  except Exception as e:  # noqa: BLE001  (no label join: the verdict says so, below)
    labelled, labels_error = {}, f'{type(e).__name__}: {str(e)[:300]}'
  champion = canary.model_figures(rows, deployment['champion_id'],
                                  labelled.get('champion_id'))
  challenger = canary.model_figures(rows, deployment['challenger_id'],
                                    labelled.get('challenger_id'))
  if not log.serving_columns:
    from ct_platform.backends.cloud_monitoring import EndpointMetrics
    metrics = EndpointMetrics.from_settings(settings)
    for figures in (champion, challenger):
      found = metrics.figures(figures['deployed_model_id'], since, now)
      answered = figures['requests']  # the logging table holds answered requests only
      figures.update(found, source='logging table + Cloud Monitoring',
                     requests=answered + found['errors'],
                     error_rate=(found['errors'] / (answered + found['errors'])
                                 if answered + found['errors'] else None))
  policy = dataclasses.replace(serving_policy(settings).canary,
                               min_requests=plan['min_requests'])
  verdict = canary.compare(champion, challenger, policy)
  if labels_error:
    for c in verdict['checks']:
      if c['name'] in ('online_accuracy_drop', 'online_auc_drop'):
        c['detail'] += f' (the label join failed: {labels_error})'
  rejected = sum(1 for r in rows if r['deployed_model_id'] is None)
  return dict(verdict, champion=champion, challenger=challenger, rejected_requests=rejected,
              traffic=canary.traffic_over_time(rows, [deployment['champion_id'],
                                                      deployment['challenger_id']]))


def after_canary(verdict: dict) -> str:
  return 'full_rollout' if verdict['passed'] else 'roll_back'


def full_rollout(plan: dict, verdict: dict, settings: Settings) -> dict:
  """100% to the challenger; the champion alias moves to it (compare-and-swap on the
  champion the canary ran against); the old champion stays deployed at 0% for a fast
  rollback, older versions leave the endpoint."""
  from ct_platform.backends import endpoint_for, registry_for

  endpoint = endpoint_for(settings)
  champion, challenger = plan['champion'], plan['challenger']
  new_id = endpoint.deployed_id(challenger['version'])
  state = endpoint.set_traffic({new_id: 100})
  keep = {new_id, endpoint.deployed_id(champion['version'])}
  for model in state.deployed_models:
    if model.id not in keep:
      state = endpoint.undeploy(int(model.model_version_id))
  registry = registry_for(settings)
  reason = (f'canary passed at {plan["canary_percent"]}% against version '
            f'{champion["version"]}')
  record = registry.set_alias(challenger['version'], 'champion', reason=reason,
                              expected_version=champion['version'])
  registry.record_rollout(challenger['version'], {
      'outcome': 'rolled_out', 'run_id': plan['run_id'], 'against': champion['version'],
      'reasons': [reason], 'report': _report_path(plan)})
  _wait_served(settings, state.traffic_split)
  return {'version': int(record['version']), 'model_uri': record['model_uri'],
          'model_name': settings.model_name, 'previous_version': champion['version'],
          'traffic_split': state.traffic_split}


def roll_back(plan: dict, stage: str, reasons: list, settings: Settings) -> dict:
  """The champion serves 100% again (if the canary got that far); the challenger leaves
  the endpoint, and its registry record says at which stage and why."""
  from ct_platform.backends import endpoint_for, registry_for

  endpoint = endpoint_for(settings)
  champion, challenger = plan['champion'], plan['challenger']
  state = endpoint.state()
  split = None
  if state is not None and endpoint.deployed_id(challenger['version']) in state.traffic_split:
    state = endpoint.set_traffic({endpoint.deployed_id(champion['version']): 100})
    state = endpoint.undeploy(challenger['version'])
    split = state.traffic_split
    _wait_served(settings, split)
  outcome = 'rolled_back' if stage == 'canary' else 'rejected_before_traffic'
  registry_for(settings).record_rollout(challenger['version'], {
      'outcome': outcome, 'stage': stage, 'run_id': plan['run_id'],
      'against': champion['version'], 'reasons': reasons, 'report': _report_path(plan)})
  return {'outcome': outcome, 'stage': stage, 'reasons': reasons, 'traffic_split': split,
          'champion_version': champion['version'], 'challenger_version': challenger['version']}


def _wait_served(settings: Settings, split: dict) -> None:
  from ct_platform.rollout import server
  # a running local server applies a new split within a second
  if settings.endpoint == 'local' and server.status(settings) is not None:
    server.wait_for_split(settings, split)


def _report_path(plan: dict) -> str:
  return str(Path(plan['report_dir']) / 'rollout.html')


def write_report(pulled: dict, settings: Settings) -> str:
  """rollout.html and rollout.json in the rollout's folder; returns the HTML's path."""
  from ct_platform.rollout.report import rollout_report_html

  plan = pulled['plan_rollout']
  path = Path(_report_path(plan))
  path.parent.mkdir(parents=True, exist_ok=True)
  (path.parent / 'rollout.json').write_text(json.dumps(pulled, indent=2, default=str))
  path.write_text(rollout_report_html(pulled))
  return str(path)

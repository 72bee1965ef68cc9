"""model_rollout: a challenger reaches serving through checks and a canary, or does not.

Thin and declarative: what each task does lives in ct_platform.rollout.steps.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, task

from ct_platform.assets import CHALLENGER, CHAMPION
from ct_platform.notify import TaskFailedNotifier
from ct_platform.operators.canary import WaitForCanaryOperator
from ct_platform.operators.serving import (
    DeployCanaryOperator,
    FullRolloutOperator,
    ValidateInfrastructureOperator,
)

DOC = """
### Roll a challenger out: validate, load-test, canary, then roll out or roll back

Runs when `continuous_training` nominates a challenger (setting `rollout: canary`; the
`chicago-taxi-tipper.challenger` Asset), or from the trigger form with a `version`.

1. **validate_infrastructure**: the challenger loads in the serving stack production
   uses (locally the serving env's model server; on Vertex AI its serving container, on a
   private validation endpoint, the deploy waited for without a worker slot) and answers
   the rows the pipeline's smoke test recorded with the predictions the pipeline got.
2. **load_test**: Locust, headless, at a fixed concurrency against the challenger alone
   (on Vertex AI: on the validation endpoint, which it leaves afterwards): p99 latency,
   QPS and error rate against `serving:` in `promotion_policy.yaml`.
3. **deploy_canary**: the challenger beside the champion at `canary_percent` (the model
   server starts if it is down); **wait_for_canary** defers (no worker slot) until the
   challenger has answered `min_requests` live requests or the observation window ends;
   **compare_canary**: error rate, p99 latency, PSI / JSD of the predicted scores and,
   where labels have arrived, accuracy, challenger against champion on the same traffic.
4. **full_rollout** (100%, the `champion` alias moves, the old champion stays deployed at
   0% for a fast rollback; emits the champion Asset) or **roll_back** (the champion
   serves 100% again) or, when a check before the canary fails, **reject_challenger**
   (it never took traffic). The challenger's registry record says which and why.

**write_report**: an HTML report with the figures against their thresholds and charts
(latency, score distributions of both models, traffic over time); its path is in the log.
"""

with DAG(
    dag_id='model_rollout',
    description='Validate, load-test and canary a challenger; roll it out or back',
    schedule=[CHALLENGER],
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={'owner': 'ml-platform', 'retries': 0,
                  'execution_timeout': dt.timedelta(minutes=30),
                  'on_failure_callback': TaskFailedNotifier()},
    tags=['ml', 'serving', 'rollout'],
    doc_md=DOC,
    params={
        'version': Param(None, type=['null', 'integer'], minimum=1,
                         description='Registry version to roll out. Empty: the version '
                                     'with the challenger alias.'),
        'canary_percent': Param(None, type=['null', 'integer'], minimum=1, maximum=99,
                                description='Share of live requests for the challenger. '
                                            'Empty: the policy\'s (10).'),
        'observation_minutes': Param(None, type=['null', 'number'], exclusiveMinimum=0,
                                     maximum=1440,
                                     description='Longest canary wait. Empty: the '
                                                 'policy\'s.'),
        'min_requests': Param(None, type=['null', 'integer'], minimum=1, maximum=1000000,
                              description='Challenger requests needed for a verdict. '
                                          'Empty: the policy\'s.'),
        'reason': Param(None, type=['null', 'string'], maxLength=500,
                        description='Why (recorded in the report and notifications).'),
    },
) as dag:

  def _settings():
    from ct_platform.config import load_settings
    return load_settings()

  @task
  def plan_rollout(params=None, dag_run=None):
    from ct_platform.notify import notify
    from ct_platform.rollout import steps
    settings = _settings()
    plan = steps.plan_rollout(dict(params), dag_run.run_id, settings)
    notify('rollout_started', f'rollout of version {plan["challenger"]["version"]} against '
           f'champion {plan["champion"]["version"]}', settings,
           version=plan['challenger']['version'], report_dir=plan['report_dir'])
    return plan

  @task
  def load_test(plan, validation):
    from ct_platform.rollout import steps
    if not validation['passed']:
      from airflow.sdk.exceptions import AirflowSkipException
      raise AirflowSkipException('infrastructure validation failed: no load test')
    result = steps.load_test(plan, _settings())
    for c in result['checks']:
      print(f'  {c["name"]}: {"pass" if c["passed"] else "FAIL"}: {c["detail"]}')
    return result

  @task.branch(trigger_rule='none_failed')
  def after_checks(ti=None):
    from ct_platform.rollout import steps
    validation = ti.xcom_pull(task_ids='validate_infrastructure')
    load = ti.xcom_pull(task_ids='load_test') or {'passed': False}
    return steps.after_checks(validation, load)

  @task
  def compare_canary(plan, deployment, waited):
    from ct_platform.rollout import steps
    verdict = steps.compare_canary(plan, deployment, _settings())
    for c in verdict['checks']:
      print(f'  {c["name"]}: {"pass" if c["passed"] else "FAIL"}: {c["detail"]}')
    return verdict

  @task.branch
  def after_canary(verdict):
    from ct_platform.rollout import steps
    return steps.after_canary(verdict)

  def _roll_back(ti, stage, verdict_task):
    from ct_platform.notify import notify
    from ct_platform.rollout import steps
    settings = _settings()
    verdicts = [ti.xcom_pull(task_ids=t) for t in verdict_task]
    reasons = []
    for v in verdicts:
      if v and not v['passed']:
        reasons += v.get('reasons') or [v.get('message', 'failed')]
    result = steps.roll_back(ti.xcom_pull(task_ids='plan_rollout'), stage, reasons, settings)
    notify('rollout_rolled_back', f'rollout of version {result["challenger_version"]} '
           f'stopped at the {stage}: ' + '; '.join(reasons), settings, **result)
    return result

  @task
  def reject_challenger(ti=None):
    """A check before the canary failed: the challenger never took traffic."""
    return _roll_back(ti, 'checks before traffic', ['validate_infrastructure', 'load_test'])

  @task
  def roll_back(ti=None):
    return _roll_back(ti, 'canary', ['compare_canary'])

  @task(trigger_rule='one_failed')
  def restore_champion_traffic(ti=None):
    """A task failed once the canary was deployed: the champion takes 100% again."""
    from ct_platform.rollout import steps
    return steps.roll_back(ti.xcom_pull(task_ids='plan_rollout'), 'a failed task',
                           ['a rollout task failed after the canary was deployed'],
                           _settings())

  @task(trigger_rule='all_done')
  def write_report(ti=None):
    from ct_platform.rollout import steps
    pulled = {t: ti.xcom_pull(task_ids=t) for t in (
        'plan_rollout', 'validate_infrastructure', 'load_test', 'deploy_canary',
        'wait_for_canary', 'compare_canary', 'full_rollout', 'roll_back', 'reject_challenger',
        'restore_champion_traffic')}
    if not pulled['plan_rollout']:
      print('no plan: the rollout stopped at plan_rollout (see its log)')
      return None
    path = steps.write_report(pulled, _settings())
    print(f'rollout report: {path}')
    return path

  plan = plan_rollout()
  validation = ValidateInfrastructureOperator(task_id='validate_infrastructure',
                                              plan=plan).output
  load = load_test(plan, validation)
  branch = after_checks()
  [validation, load] >> branch
  deployment = DeployCanaryOperator(task_id='deploy_canary', plan=plan).output
  rejected = reject_challenger()
  branch >> [deployment, rejected]
  waited = WaitForCanaryOperator(task_id='wait_for_canary', deployment=deployment,
                                 poll_interval=2.0)
  verdict = compare_canary(plan, deployment, waited.output)
  outcome = after_canary(verdict)
  done = FullRolloutOperator(task_id='full_rollout', plan=plan, verdict=verdict,
                             asset=CHAMPION)
  back = roll_back()
  outcome >> [done, back]
  restore = restore_champion_traffic()
  [deployment, waited, verdict, outcome] >> restore
  [done, back, rejected, restore] >> write_report()

"""continuous_training: extract a window, decide, train with TFX, gate, promote.

Thin and declarative: what each task does lives in ct_platform.tasks; which backend
runs (DuckDB or BigQuery, local runner or Vertex AI, folder or Vertex registry) comes
from configuration (ct_platform.config), never from this file.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import (
  DAG,
  AssetOrTimeSchedule,
  CronTriggerTimetable,
  Param,
  get_current_context,
  task,
)

from ct_platform.assets import CHALLENGER, CHAMPION, RETRAIN_REQUEST, SOURCE_TABLE
from ct_platform.notify import PipelineFailedNotifier, TaskFailedNotifier
from ct_platform.operators.approval import PromotionApprovalOperator
from ct_platform.operators.extract_span import ExtractSpanOperator
from ct_platform.operators.pipeline_run import RunTfxPipelineOperator
from ct_platform.operators.register_model import RegisterModelOperator

DOC = """
### Continuous training of the Chicago taxi "big tipper" model

Runs nightly, when the source table's Asset is updated, and when monitoring asks for a
retraining (the `chicago-taxi-tipper.retrain_request` Asset: such a run retrains whatever
its own drift verdict says, and records the request's reasons in its summary, its
notifications and the registry metadata of the version it promotes).

`plan_run` records what started the run, checks the Params and fixes the **training window**:
`end` = the `window_end` Param, else the run's logical date, else its `run_after`
(Asset-triggered runs); `days` = `window_days`, else the configured default; the
window is `[end - days, end)`. Then: **extract** the window into a new immutable span
(manifest last) → **drift**: histograms and value frequencies computed in the
warehouse, compared with the champion's training data by TFDV's distances (thresholds
in `drift_thresholds.yaml`; HTML report next to the span); no significant drift and a
young enough champion end the run here → **TFX run** on the configured backend
(deferred while it runs) → **promotion gate** (policy file shared with the pipeline's
Evaluator; HTML report) → in `manual` mode a **human approval** (rejects after the
configured timeout) → **promote**: register the candidate and move the `champion`
alias; emits the `chicago-taxi-tipper.champion` Asset. With the setting `rollout: canary`
and a champion in place, **nominate_challenger** registers it with the `challenger`
alias instead and emits `chicago-taxi-tipper.challenger`: the `model_rollout` DAG
canaries it before it becomes champion.

Overrides: `force_reject` always holds; `force_promote` overrides metric checks only
(never anomalies, a failed smoke test or missing blessing) and is recorded.
"""

DEFAULT_ARGS = {
    'owner': 'ml-platform',
    'retries': 2,
    'retry_delay': dt.timedelta(minutes=1),
    'retry_exponential_backoff': True,
    'max_retry_delay': dt.timedelta(minutes=20),
    'execution_timeout': dt.timedelta(minutes=30),
    # every task that fails for good says so (run_pipeline's own notifier adds its log)
    'on_failure_callback': TaskFailedNotifier(),
}


def _settings():
  from ct_platform.config import load_settings
  return load_settings()


with DAG(
    dag_id='continuous_training',
    description='Retrain, validate and promote the big-tipper model',
    # nightly, when the source table is refreshed, and when monitoring asks (retrain_request)
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable('0 6 * * *', timezone='UTC'),
        assets=(SOURCE_TABLE | RETRAIN_REQUEST)),
    # Early enough for replaying history: `make run` runs on the 2013-2016 sample as of
    # 2017-01-01 (a task whose start_date is after the run's logical date never runs).
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=['ml', 'tfx', 'continuous-training'],
    doc_md=DOC,
    params={
        'window_end': Param(None, type=['null', 'string'], format='date',
                            description='Window end (exclusive), YYYY-MM-DD. Empty: the '
                                        'run\'s logical date, else its run_after.'),
        'window_days': Param(None, type=['null', 'integer'], minimum=1, maximum=3660,
                             description='Window length in days. Empty: configured default.'),
        'force_retrain': Param(False, type='boolean',
                               description='Retrain whatever the drift evaluation says.'),
        'promotion_mode': Param('auto', type='string', enum=['auto', 'manual'],
                                description='manual: a person approves in the Airflow UI.'),
        'dry_run': Param(False, type='boolean',
                         description='Train and gate, but stop before promotion.'),
        'force_promote': Param(False, type='boolean',
                               description='Override failed metric checks (needs a reason).'),
        'force_promote_reason': Param(None, type=['null', 'string'], maxLength=500,
                                      description='Why force_promote is set (required '
                                                  'with it).'),
        'force_reject': Param(False, type='boolean',
                              description='Never promote this run (needs a reason).'),
        'force_reject_reason': Param(None, type=['null', 'string'], maxLength=500,
                                     description='Why force_reject is set (required with '
                                                 'it).'),
        'train_steps': Param(None, type=['null', 'integer'], minimum=1, maximum=100000,
                             description='Trainer steps. Empty: configured default.'),
        'retrain_request_id': Param(None, type=['null', 'string'], maxLength=200,
                                    pattern='^[a-z0-9_-]+$',
                                    description='Answer a recorded monitoring retrain '
                                                'request (e.g. one the cooldown '
                                                'suppressed): its reasons are recorded '
                                                'and the run retrains.'),
    },
) as dag:

  @task(retries=0)
  def plan_run(params=None, dag_run=None):
    from ct_platform import run_trigger, tasks
    context = get_current_context()
    settings = _settings()
    events = run_trigger.asset_events(context.get('triggering_asset_events'))
    if params.get('retrain_request_id'):  # answering a recorded request by hand
      from ct_platform.monitoring import steps
      events.append(steps.request_event(params['retrain_request_id'], settings))
    trigger = run_trigger.describe(
        dag_run.run_type, getattr(dag_run, 'triggering_user_name', None), events)
    print(trigger['reason'])
    return tasks.plan_run(dict(params), context.get('logical_date'), dag_run.run_after,
                          dag_run.run_id, settings, trigger=trigger)

  @task
  def find_champion():
    from ct_platform import tasks
    return tasks.find_champion(_settings()) or {}  # {}: no champion yet

  @task.short_circuit(retries=0, ignore_downstream_trigger_rules=False)
  def window_has_rows(span):
    from ct_platform import tasks
    return tasks.window_has_rows(span, _settings())

  @task
  def evaluate_drift(span, champion, plan):
    from ct_platform import tasks
    from ct_platform.drift import DataQualityError
    try:
      verdict = tasks.evaluate_drift(span, champion, plan, _settings())
    except DataQualityError as e:
      from airflow.sdk.exceptions import AirflowFailException
      raise AirflowFailException(str(e)) from e  # the same data fails the same way
    print(verdict['data_quality']['message'])
    print(f'drift verdict: retrain={verdict["retrain"]}: {verdict["reason"]}')
    print(f'drift report: {verdict["report"]}')
    return verdict

  @task.short_circuit(retries=0, ignore_downstream_trigger_rules=False)
  def retrain_needed(verdict, plan):
    """No significant drift and a fresh champion: the run ends here, successfully
    (a monitoring request retrains whatever the drift verdict says)."""
    from ct_platform import tasks
    return tasks.retrain_needed(verdict, _settings(), plan)

  @task(retries=0)
  def promotion_gate(result, champion, plan):
    from ct_platform import tasks
    decision = tasks.gate(result, champion, plan, _settings())
    print(f'gate: {decision["outcome"]}; report: {decision["report"]}')
    for reason in decision['reasons']:
      print(f'  - {reason}')
    return decision

  @task.branch(retries=0)
  def choose_path(decision, plan, champion, ti=None):
    from ct_platform import tasks
    chosen = tasks.choose_path(decision, plan, _settings(), champion)
    ti.xcom_push(key='chosen', value=chosen)  # a branch's return value is not an XCom
    return chosen

  request_approval = PromotionApprovalOperator(
      task_id='request_approval',
      subject='Promote run {{ run_id }} of continuous_training?',
      body=('The candidate passed the promotion gate.\n\n'
            '{% set d = ti.xcom_pull(task_ids="promotion_gate") %}'
            '{% for c in d["checks"] %}- {{ c["name"] }}: '
            '{{ "pass" if c["passed"] else "FAIL" }}: {{ c["detail"] }}\n{% endfor %}\n'
            'Report: {{ d["report"] }}'),
      # an unanswered request rejects after the approval_timeout_hours setting
      defaults=['Reject'],
      retries=0)

  @task(trigger_rule='none_failed_min_one_success', retries=0)
  def end():
    """Where a run that does not promote ends (rejected, or a dry run); skipped with the
    branch when the run ended earlier (empty window, no retraining needed)."""

  @task(trigger_rule='all_done')
  def prune_old_spans():
    """Retention: keeps the newest spans per window; never the champion's span."""
    from ct_platform import tasks
    deleted = tasks.prune_spans(_settings())
    print(f'pruned {len(deleted)} old spans')
    return deleted

  @task(trigger_rule='all_done', retries=0)
  def summarize(ti=None):
    from ct_platform import run_report
    pulled = {k: ti.xcom_pull(task_ids=k) for k in (
        'plan_run', 'extract_span', 'evaluate_drift', 'run_pipeline', 'promotion_gate',
        'promote', 'nominate_challenger', 'find_champion')}
    drift = pulled['evaluate_drift'] if isinstance(pulled['evaluate_drift'], dict) else None
    text = run_report.run_report(pulled['plan_run'], pulled['extract_span'], drift,
                            pulled['run_pipeline'], pulled['promotion_gate'],
                            pulled['promote'] or pulled['nominate_challenger'],
                            pulled['find_champion'])
    print(text)
    run_report.save_run_summary_text(text, _settings())
    return text

  plan = plan_run()
  champion = find_champion()
  plan >> champion
  span = ExtractSpanOperator(task_id='extract_span', plan=plan).output
  drift = evaluate_drift(span, champion, plan)
  window_has_rows(span) >> drift
  run_pipeline = RunTfxPipelineOperator(
      task_id='run_pipeline', span=span, champion=champion, plan=plan,
      execution_timeout=dt.timedelta(hours=4),
      on_failure_callback=PipelineFailedNotifier())
  retrain_needed(drift, plan) >> run_pipeline
  decision = promotion_gate(run_pipeline.output, champion, plan)
  path = choose_path(decision, plan, champion)
  # Their inputs come from XCom, not arguments: an argument makes its producer an upstream,
  # and with the producers upstream `none_failed_min_one_success` ran promote after an
  # empty window or a no-drift verdict. Upstream are only the branch and the approval.
  promoted = RegisterModelOperator(
      task_id='promote', alias='champion', asset=CHAMPION, event='champion_promoted',
      says='champion is now', trigger_rule='none_failed_min_one_success', retries=0)
  # rollout: canary: the challenger alias moves; model_rollout decides the rest
  nominated = RegisterModelOperator(
      task_id='nominate_challenger', alias='challenger', asset=CHALLENGER,
      event='challenger_nominated', says='challenger (canary next) is',
      trigger_rule='none_failed_min_one_success', retries=0)
  path >> [request_approval, promoted, nominated, end()]
  request_approval >> [promoted, nominated]
  [promoted, nominated, decision] >> prune_old_spans() >> summarize()

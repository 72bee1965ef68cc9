"""model_monitoring: what the champion is asked and how well it answers; a retrain request
with the reasons when a check crosses its threshold.

Thin and declarative: what each task does lives in ct_platform.monitoring.steps.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DAG, Param, task

from ct_platform.assets import RETRAIN_REQUEST
from ct_platform.notify import TaskFailedNotifier

DOC = """
### Monitor the champion on live traffic; ask for a retraining with the reasons

Each run reads the champion's requests of the window (`window_hours`, default the
`monitoring:` section of `promotion_policy.yaml`) from the prediction log (the Vertex AI
request-response logging table on GCP, its local twin here), with BigQuery SQL run where
the data lives, and checks:

- **skew**: each served feature against the champion's training data (the drift step's
  distances; the per-feature `skew` thresholds of `drift_thresholds.yaml`);
- **prediction drift**: the live score distribution against the champion's offline eval
  scores and the previous window's (PSI, JSD);
- **decay**: online AUC and accuracy where the ground truth has arrived (joined on the
  example key the caller sent) against the champion's offline metrics; no verdict on
  fewer than `min_labels` labels;
- **data quality**: missing rates, categorical values never seen in training, refused
  requests.

`evaluate` writes `monitoring.json` and an HTML report (paths in its log). When a check the
policy retrains on crosses its threshold, **request_retrain** emits the
`chicago-taxi-tipper.retrain_request` Asset with the reasons (continuous_training is
scheduled on it), unless a request with the same reasons is already being answered
(dedup) or one was sent within `retrain_cooldown_hours` (cooldown; `force` overrides it).
Suppressed requests are recorded with why. **update_dashboard** redraws the page over time.
"""

# The schedule is read when the file is parsed: an environment variable, not a Variable
# (a parse must not reach the metadata DB). Default hourly.
SCHEDULE = os.environ.get('CT_MONITORING_SCHEDULE', '@hourly')

with DAG(
    dag_id='model_monitoring',
    description='Skew, prediction drift, decay and data quality of the served champion',
    schedule=None if SCHEDULE in ('', 'none', 'None') else SCHEDULE,
    # early enough for replayed history (make demo serves 2016 trips)
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={'owner': 'ml-platform', 'retries': 1,
                  'retry_delay': dt.timedelta(minutes=1),
                  'execution_timeout': dt.timedelta(minutes=30),
                  'on_failure_callback': TaskFailedNotifier()},
    tags=['ml', 'serving', 'monitoring'],
    doc_md=DOC,
    params={
        'window_hours': Param(None, type=['null', 'number'], exclusiveMinimum=0,
                              maximum=24 * 90,
                              description='Window length in hours. Empty: the policy\'s.'),
        'window_end': Param(None, type=['null', 'string'],
                            description='Window end (exclusive), ISO date-time. Empty: the '
                                        'run\'s run_after.'),
        'force': Param(False, type='boolean',
                       description='Send a retrain request even within the cooldown.'),
    },
) as dag:

  def _settings():
    from ct_platform.config import load_settings
    return load_settings()

  @task(retries=0)
  def plan_window(params=None, dag_run=None):
    from ct_platform.monitoring import steps
    plan = steps.plan_window(dict(params), dag_run.run_after, dag_run.run_id, _settings())
    print(f'window {plan["since"]} .. {plan["until"]} ({plan["window_hours"]:g} h)')
    return plan

  @task
  def read_window(plan):
    from ct_platform.monitoring import steps
    read = steps.read_window(plan, _settings())
    if read['champion']:
      print(f'champion v{read["champion"]["version"]}: {read["instances"]} served instances, '
            f'{sum(r["positives"] + r["negatives"] for r in read["labelled"])} labelled')
    else:
      print('no champion: nothing to monitor yet')
    return read

  @task
  def evaluate(plan, read):
    from ct_platform.monitoring import steps
    result = steps.evaluate(plan, read, _settings())
    for name, status in result['statuses'].items():
      print(f'  {name}: {status}')
    print(result['verdict']['summary'])
    print(f'monitoring report: {result["report"]}')
    return result

  @task(outlets=[RETRAIN_REQUEST], retries=0)
  def request_retrain(result, ti=None, outlet_events=None):
    from ct_platform.monitoring import steps
    active = ti.get_dr_count(dag_id='continuous_training', states=['queued', 'running'])
    request = steps.request_retrain(result, _settings(), active_runs=active)
    if not request['send']:
      from airflow.sdk.exceptions import AirflowSkipException
      print(f'no retrain request sent: {request["why"]}')
      ti.xcom_push(key='request', value=request)
      raise AirflowSkipException(request['why'])  # skipped: no Asset event
    outlet_events[RETRAIN_REQUEST].extra = steps.request_extra(request)
    print(f'retrain request {request["request_id"]} sent: ' + '; '.join(request['reasons']))
    return request

  @task(trigger_rule='all_done')
  def update_dashboard(ti=None):
    """Redrawn whatever request_retrain did (sent, suppressed, failed)."""
    from ct_platform.monitoring import steps
    result = ti.xcom_pull(task_ids='evaluate')
    if not result:
      from airflow.sdk.exceptions import AirflowSkipException
      raise AirflowSkipException('evaluate recorded nothing: no run to add')
    request = (ti.xcom_pull(task_ids='request_retrain') or
               ti.xcom_pull(task_ids='request_retrain', key='request'))
    uri = steps.update_dashboard(result, request, _settings())
    print(f'monitoring dashboard: {uri}')
    return uri

  plan = plan_window()
  result = evaluate(plan, read_window(plan))
  request_retrain(result) >> update_dashboard()

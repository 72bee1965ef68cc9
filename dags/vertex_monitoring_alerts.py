"""vertex_monitoring_alerts: a Vertex AI Model Monitoring alert (Pub/Sub) becomes the same
retrain request model_monitoring sends, once per incident.

Thin and declarative: what the task does lives in ct_platform.monitoring.steps.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DAG, Asset, task

from ct_platform.assets import MODEL_NAME, RETRAIN_REQUEST
from ct_platform.notify import TaskFailedNotifier

DOC = """
### Vertex AI Model Monitoring alerts → a retrain request

Model Monitoring v2 sends its alerts to a Cloud Monitoring notification channel of type
Pub/Sub. With the environment variable `CT_ALERT_SUBSCRIPTION` set (the subscription's
id; `CT_PROJECT` its project, `CT_GCP_CONN_ID` the connection), the
`chicago-taxi-tipper.vertex_monitoring_alert` Asset has an **AssetWatcher**: the
triggerer pulls the subscription (`MessageQueueTrigger`, scheme `google+pubsub`) and each
pull with messages becomes an Asset event that runs this DAG.

**request_retrain** reads the incidents from the events (several merged into one run are
all read), keeps the open ones not seen before (the trigger acknowledges a message before
Airflow stores the event, so Pub/Sub may deliver it again: the incident id is recorded
create-only, and a second delivery is a duplicate), and sends a retrain request with their
reasons under the same rules as model_monitoring's (cooldown, dedup).
Without the variable the Asset has no watcher; events can still come from the REST API.
"""

ALERT_ASSET_NAME = f'{MODEL_NAME}.vertex_monitoring_alert'


def _watchers() -> list:
  """The Pub/Sub watcher, when a subscription is configured. Its trigger is built at parse
  time (Airflow stores it with the Asset), which imports the Pub/Sub client (about 1 s):
  only deployments that use it pay for it."""
  subscription = os.environ.get('CT_ALERT_SUBSCRIPTION', '')
  if not subscription:
    return []
  from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
  from airflow.sdk import AssetWatcher

  return [AssetWatcher(name='vertex-model-monitoring-pubsub', trigger=MessageQueueTrigger(
      scheme='google+pubsub', project_id=os.environ.get('CT_PROJECT', ''),
      subscription=subscription, max_messages=20, ack_messages=True,
      gcp_conn_id=os.environ.get('CT_GCP_CONN_ID', 'google_cloud_default'),
      poke_interval=float(os.environ.get('CT_ALERT_POLL_SECONDS', '30')),
      return_immediately=False))]


VERTEX_MONITORING_ALERT = Asset(name=ALERT_ASSET_NAME,
                                uri=f'x-ct-model://{MODEL_NAME}/vertex_monitoring_alert',
                                watchers=_watchers())

with DAG(
    dag_id='vertex_monitoring_alerts',
    description='Vertex AI Model Monitoring alerts (Pub/Sub) to retrain requests',
    schedule=[VERTEX_MONITORING_ALERT],
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={'owner': 'ml-platform', 'retries': 2,
                  'retry_delay': dt.timedelta(seconds=30),
                  'execution_timeout': dt.timedelta(minutes=10),
                  'on_failure_callback': TaskFailedNotifier()},
    tags=['ml', 'serving', 'monitoring'],
    doc_md=DOC,
) as dag:

  @task(outlets=[RETRAIN_REQUEST])
  def request_retrain(ti=None, dag_run=None, outlet_events=None, triggering_asset_events=None):
    from ct_platform import run_trigger
    from ct_platform.config import load_settings
    from ct_platform.monitoring import steps

    events = run_trigger.asset_events(triggering_asset_events)
    active = ti.get_dr_count(dag_id='continuous_training', states=['queued', 'running'])
    request = steps.alert_request(events, dag_run.run_id, load_settings(), active_runs=active)
    for problem in request['problems']:
      print(f'not an alert: {problem}')
    if not request['send']:
      from airflow.sdk.exceptions import AirflowSkipException
      raise AirflowSkipException(request['why'])
    outlet_events[RETRAIN_REQUEST].extra = steps.request_extra(request)
    print(f'retrain request {request["request_id"]} sent: ' + '; '.join(request['reasons']))
    return request

  request_retrain()

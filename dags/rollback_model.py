"""rollback_model: point the champion alias back at an earlier registered version."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Param, task

from ct_platform.assets import CHAMPION, MODEL_NAME

with DAG(
    dag_id='rollback_model',
    description='Move the champion alias to an earlier model version',
    schedule=None,
    start_date=dt.datetime(2013, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={'owner': 'ml-platform', 'retries': 1,
                  'retry_delay': dt.timedelta(minutes=1),
                  'execution_timeout': dt.timedelta(minutes=10)},
    tags=['ml', 'registry', 'rollback'],
    doc_md="""
### Roll the champion back

Trigger with `model` and `version`. The version must exist in the registry and must
have passed its smoke test; then the `champion` alias moves to it (atomically), the
champion Asset is updated and, when the prediction service serves from the local
endpoint (`make serve`), all its traffic moves to that version too (the others stay
deployed at 0% for a fast roll-forward). Nothing is deleted.
""",
    params={
        'model': Param(MODEL_NAME, type='string', pattern='^[a-z0-9][a-z0-9-]{0,62}$',
                       description='Registered model name'),
        'version': Param(1, type='integer', minimum=1, description='Version to make champion'),
        'reason': Param(None, type=['null', 'string'], maxLength=500,
                        description='Why (recorded in the notification).'),
    },
) as dag:

  @task(outlets=[CHAMPION], retries=0)
  def rollback(params=None, outlet_events=None):
    from ct_platform import tasks
    from ct_platform.config import load_settings
    from ct_platform.notify import notify

    settings = load_settings()
    if params['model'] != settings.model_name:
      raise ValueError(f'model: {params["model"]!r} is not the model this deployment '
                       f'manages ({settings.model_name!r})')
    result = tasks.rollback(params['version'], settings)
    outlet_events[CHAMPION].extra = result
    notify('champion_promoted', f'rollback: champion is now version {result["version"]}'
           + (f' ({params["reason"]})' if params['reason'] else ''), settings, **result)
    return result

  rollback()

"""Answers a human-in-the-loop task the way the Airflow UI does, from outside the run.

    python tests/dags/hitl_respond.py DAG_ID TASK_ID Approve|Reject [timeout_s]

Waits for the task to park in AWAITING_INPUT (under `airflow dags test`, sharing its
metadata DB), then calls the function behind the REST endpoint
PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails, as the UI does.
"""

import sys
import time

from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
from airflow.models.taskinstance import TaskInstance as TI
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select


class Reviewer:
  def get_id(self):
    return 'reviewer-1'

  def get_name(self):
    return 'Model Reviewer'


def main(dag_id, task_id, choice, timeout=300.0):
  deadline = time.monotonic() + float(timeout)
  while time.monotonic() < deadline:
    with create_session() as session:
      ti = session.scalar(select(TI).where(TI.dag_id == dag_id, TI.task_id == task_id,
                                           TI.state == TaskInstanceState.AWAITING_INPUT))
      if ti is not None:
        update_hitl_detail(dag_id=dag_id, dag_run_id=ti.run_id, task_id=task_id,
                           update_hitl_detail_payload=UpdateHITLDetailPayload(
                               chosen_options=[choice]),
                           user=Reviewer(), session=session, map_index=-1)
        print(f'RESPONDED {ti.run_id} {choice}', flush=True)
        return 0
    time.sleep(1)
  print('TIMEOUT: no task awaiting input', flush=True)
  return 1


if __name__ == '__main__':
  sys.exit(main(*sys.argv[1:]))

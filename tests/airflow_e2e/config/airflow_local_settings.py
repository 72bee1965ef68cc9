"""Cluster policy for the real-Airflow tests (Airflow loads AIRFLOW_HOME/config/
airflow_local_settings.py in every component, as Composer does with its own).

Retries keep their number and meaning; only their delay shrinks from the DAG's
minutes (with exponential backoff) to 2 s, so a retry test does not wait a minute.
"""

import datetime as dt


def task_policy(task):
  if task.retries:
    task.retry_delay = dt.timedelta(seconds=2)
    task.retry_exponential_backoff = False

"""A consumer of the champion Asset (a serving deploy or a report in another team's
workflow): runs after each promotion and reads the promoted version from the event.

It schedules on the Asset itself, imported from the deployed ct_platform package: in
Airflow 3.3.1 a schedule on `Asset.ref(name=...)` starts the runs but hands them no
triggering events (their extra would be lost)."""

import datetime as dt

from airflow.sdk import DAG, task

from ct_platform.assets import CHAMPION

with DAG(dag_id='ct_e2e_champion_consumer', schedule=[CHAMPION], catchup=False,
         start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), tags=['e2e']):

  @task(inlets=[CHAMPION])
  def read_promoted(triggering_asset_events=None):
    return [dict(e.extra) for e in triggering_asset_events[CHAMPION]]

  read_promoted()

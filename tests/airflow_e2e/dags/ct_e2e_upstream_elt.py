"""An upstream ELT DAG, as an enterprise data workflow has one: it refreshes the taxi
trips table and says so through the table's Asset, referred to by name only (it needs
no knowledge of our URI). continuous_training is scheduled on that Asset."""

import datetime as dt

from airflow.sdk import DAG, Asset, task

with DAG(dag_id='ct_e2e_upstream_elt', schedule=None, catchup=False,
         start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), tags=['e2e']):

  @task(outlets=[Asset.ref(name='chicago_taxi_trips.taxi_trips')])
  def load_taxi_trips(outlet_events=None):
    outlet_events[Asset.ref(name='chicago_taxi_trips.taxi_trips')].extra = {
        'loaded_by': 'ct_e2e_upstream_elt'}
    return 'loaded'

  load_taxi_trips()

"""The Assets the DAGs produce and consume, defined once (DAG files import them).

URIs use `x-` schemes on purpose: Airflow normalizes an Asset URI whose scheme is
registered by a provider (`bigquery://`, `gs://`) through the providers manager, and
that first lookup imports every provider's asset handlers (the Google provider's pull
in google.cloud.storage, aiohttp and grpc: about 1.7 s) in every parse of the DAG file
by the dag-processor. `x-` schemes are user-defined and skip the lookup. Producers
elsewhere refer to these by name: `Asset.ref(name=SOURCE_TABLE_NAME)`.

Standard library, airflow.sdk and ct_platform.config (itself standard library only):
DAG files import this at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset

from ct_platform.config import Settings

# the model the DAGs serve by default (a Settings field; `model_name` in ct_settings)
MODEL_NAME = Settings.model_name
SOURCE_TABLE_NAME = 'chicago_taxi_trips.taxi_trips'
CHAMPION_NAME = f'{MODEL_NAME}.champion'
CHALLENGER_NAME = f'{MODEL_NAME}.challenger'
RETRAIN_REQUEST_NAME = f'{MODEL_NAME}.retrain_request'

# An upstream ELT DAG that refreshes the source table emits this; continuous_training
# is scheduled on it (besides its cron).
SOURCE_TABLE = Asset(name=SOURCE_TABLE_NAME,
                     uri='x-bigquery://bigquery-public-data/chicago_taxi_trips/taxi_trips')
# Updated when the champion alias moves (promotion or rollback); the event's extra is
# the registry record of the new champion (model, version, model_uri, ...).
CHAMPION = Asset(name=CHAMPION_NAME, uri=f'x-ct-model://{MODEL_NAME}/champion')
# Updated when a promoted version gets the challenger alias (setting rollout: canary); the
# model_rollout DAG is scheduled on it. The extra is the challenger's registry record.
CHALLENGER = Asset(name=CHALLENGER_NAME, uri=f'x-ct-model://{MODEL_NAME}/challenger')
# Updated when monitoring asks for a retraining (model_monitoring's checks, or a Vertex AI
# Model Monitoring alert); continuous_training is scheduled on it. The extra carries the
# request: request_id, reasons (in words), the checks' statuses, the report, the window.
RETRAIN_REQUEST = Asset(name=RETRAIN_REQUEST_NAME,
                        uri=f'x-ct-model://{MODEL_NAME}/retrain_request')

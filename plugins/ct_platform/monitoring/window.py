"""What one monitoring run reads: the champion's served instances in a window of the
prediction log, profiled, scored and joined to their labels where the data lives.

Every query is BigQuery Standard SQL (sql/served_instances.sql, labelled_predictions.sql,
prediction_log_traffic.sql, prediction_log_latency.sql, and drift's profile SQL over the
served instances); the local log runs them in DuckDB over its Parquet parts, with the
local warehouse attached for the label join. Only aggregates come back: a profile, score
histograms, per-score label counts, traffic per day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ct_platform import sql
from ct_platform.drift.config import IDENTIFIER
from ct_platform.drift.profile import profile_relation

# The label, as the pipeline defines it (ct_pipeline.models.features: tips > 20% of the
# fare); a CI test holds the two equal.
LABEL_COLUMN = 'tips'
BIG_TIP_FRACTION = 0.2
SCORE_BINS = 10
_CASTS = {'FLOAT64': 'FLOAT64', 'INT64': 'INT64', 'NUMERIC': 'FLOAT64', 'BIGNUMERIC': 'FLOAT64',
          'BOOL': 'BOOL'}


def feature_types(training_profile: dict, config) -> dict:
  """{feature: BigQuery type} of the features to compare with training: the configured
  ones the champion's training profile has, except the label (callers never send it)."""
  columns = training_profile.get('columns') or {}
  return {name: sql.canonical_type(columns.get(name) or f['type'])
          for name, f in sorted(training_profile.get('features', {}).items())
          if name in config.features and name != LABEL_COLUMN}


def _column(name: str, bigquery_type: str) -> str:
  if not IDENTIFIER.match(name):
    raise ValueError(f'feature {name!r} is not a column name')
  value = f"JSON_VALUE(instance, '$.{name}')"
  cast = _CASTS.get(bigquery_type)
  return f'SAFE_CAST({value} AS {cast}) AS `{name}`' if cast else f'{value} AS `{name}`'


def served_sql(types: dict, key_field: str, table: str) -> str:
  """served_instances.sql with the feature columns cast to their training types."""
  if not IDENTIFIER.match(key_field):
    raise ValueError(f'example key field {key_field!r} is not a column name')
  columns = ',\n  '.join(_column(n, t) for n, t in sorted(types.items())) or 'NULL AS none'
  return (_text('served_instances').replace('{feature_columns}', columns)
          .replace('{key_field}', key_field).replace('{table}', table))


def _text(name: str) -> str:
  lines = (sql.SQL_DIR / f'{name}.sql').read_text().splitlines()
  return '\n'.join(line for line in lines if not line.lstrip().startswith('--'))


def score_histogram_sql(served: str) -> str:
  return (f'SELECT LEAST({SCORE_BINS - 1}, GREATEST(0, CAST(FLOOR(score * {SCORE_BINS}) AS '
          f'INT64))) AS bucket, COUNT(*) AS n FROM ({served}) AS served WHERE score IS NOT '
          f'NULL GROUP BY bucket')


def labelled_sql(served: str, source_table: str) -> str:
  return (_text('labelled_predictions').replace('{served}', served)
          .replace('{source_table}', source_table))


def labelled_counts(log, served: str, params: dict) -> list[dict]:
  """labelled_predictions.sql's rows (score, positives, negatives, latest_trip) for the
  served-instances query `served` with its params: the label join, in the engine."""
  return log.rows(labelled_sql(served, log.source_table),
                  dict(params, big_tip_fraction=BIG_TIP_FRACTION))


def model_labelled_counts(log, deployed_id: str, key_field: str, since: dt.datetime,
                          until: dt.datetime) -> list[dict]:
  """The label counts of one deployed model's answered instances in [since, until) (no
  feature columns: the canary needs scores and keys only)."""
  return labelled_counts(log, served_sql({}, key_field, log.table), {
      'endpoint': log.endpoint, 'deployed_model_id': deployed_id, 'since': since,
      'until': until})


@dataclasses.dataclass
class LocalPredictionLog:
  """The local log folder (Parquet parts), queried with the local warehouse attached."""
  folder: object
  warehouse: object = None   # DuckDBWarehouse: attaches the source table (the label join)
  table: str = 'prediction_log'
  endpoint: str = ''         # the endpoint column's value: the local endpoint's name
  serving_columns = True     # status_code and latency_ms are logged too

  @property
  def source_table(self) -> str:
    return self.warehouse.source_table

  def rows(self, bigquery_sql: str, params: dict) -> list[dict]:
    from ct_platform.rollout import log
    connect = (self.warehouse.connect if self.warehouse is not None
               and self.warehouse.path.exists() else None)
    return log._query(self.folder, bigquery_sql, params, connect=connect)

  def config(self) -> dict:
    """What a trigger serializes to read this log (log_from_config); no label join."""
    return {'kind': 'local', 'folder': str(self.folder), 'endpoint': self.endpoint}


@dataclasses.dataclass
class BigQueryPredictionLog:
  """A Vertex AI Endpoint's request-response logging table in BigQuery: the same SQL, run
  as query jobs in the warehouse's project (the label join reads the source table there)."""
  table: str                 # project.dataset.table
  warehouse: object          # BigQueryWarehouse: its hook, project and location
  endpoint: str = ''         # the Endpoint's id (the table logs .../endpoints/<id>)

  @property
  def source_table(self) -> str:
    return self.warehouse.source_table

  serving_columns = False    # Vertex AI logs neither status nor latency (Cloud Monitoring)

  def rows(self, bigquery_sql: str, params: dict) -> list[dict]:
    return self.warehouse.query(bigquery_sql, params, what='prediction log query')

  def config(self) -> dict:
    w = self.warehouse
    return {'kind': 'bigquery', 'table': self.table, 'endpoint': self.endpoint,
            'warehouse': {'source_table': w.source_table, 'project': w.project,
                          'location': w.location, 'gcp_conn_id': w.gcp_conn_id,
                          'impersonation_chain': w.impersonation_chain}}


def log_from_config(config: dict):
  """A prediction log rebuilt from its config() (in a trigger)."""
  if config.get('kind') == 'local':
    return LocalPredictionLog(config['folder'], endpoint=config['endpoint'])
  if config.get('kind') == 'bigquery':
    from ct_platform.backends.bigquery_warehouse import BigQueryWarehouse
    return BigQueryPredictionLog(config['table'], BigQueryWarehouse(**config['warehouse']),
                                 endpoint=config['endpoint'])
  raise ValueError(f'prediction log config kind {config.get("kind")!r} is unknown')


def bigquery_table(uri: str) -> str:
  """project.dataset.table of a `bq://project.dataset.table` (or bare) table name."""
  table = uri[len('bq://'):] if uri.startswith('bq://') else uri
  if not sql.TABLE_ID.match(table):
    raise ValueError(f'prediction_log_table: {uri!r} is not a BigQuery table '
                     f'(bq://project.dataset.table)')
  return table


def prediction_log_for(settings):
  """Where the endpoint logs: the local server's Parquet parts, or the Vertex AI
  Endpoint's logging table in BigQuery (the endpoint and warehouse settings must agree)."""
  from ct_platform.backends import endpoint_for, warehouse_for
  pair = (settings.endpoint, settings.warehouse)
  if pair == ('local', 'duckdb'):
    return LocalPredictionLog(settings.prediction_log_dir, warehouse_for(settings),
                              endpoint=settings.model_name)
  if pair == ('vertex', 'bigquery'):
    endpoint = endpoint_for(settings)
    return BigQueryPredictionLog(bigquery_table(endpoint.log_table), warehouse_for(settings),
                                 endpoint=endpoint.endpoint_id)
  raise ValueError(f'endpoint {settings.endpoint!r} with warehouse {settings.warehouse!r}: '
                   f'the prediction log is read where the endpoint writes it: endpoint local '
                   f'with warehouse duckdb, or endpoint vertex with warehouse bigquery')


def _histogram(rows) -> list:
  counts = {int(r['bucket']): float(r['n']) for r in rows}
  return [[i / SCORE_BINS, (i + 1) / SCORE_BINS, counts.get(i, 0.0)] for i in range(SCORE_BINS)]


def read_window(log, *, endpoint: str, deployed_id: str, types: dict, key_field: str,
                since: dt.datetime, until: dt.datetime, config, previous_since=None) -> dict:
  """The window's aggregates: profile, score histograms (this window and the one before),
  per-score label counts, traffic and latency per day and deployed model."""
  params = {'endpoint': endpoint, 'deployed_model_id': deployed_id, 'since': since,
            'until': until}
  served = served_sql(types, key_field, log.table)
  names = ', '.join(f'`{n}`' for n in sorted(types))

  def run(text):
    return [tuple(r.values()) for r in log.rows(text, params)]

  profile = profile_relation(f'SELECT {names} FROM ({served}) AS served', types, run, config)
  previous = None
  if previous_since is not None:
    previous = _histogram(log.rows(score_histogram_sql(served), dict(
        params, since=previous_since, until=since)))
  window = {'endpoint': endpoint, 'since': since, 'until': until}
  traffic = log.rows(_text('prediction_log_traffic').replace('{table}', log.table), window)
  try:
    latency = log.rows(_text('prediction_log_latency').replace('{table}', log.table), window)
  except Exception as e:  # noqa: BLE001  (a log without latency_ms: Vertex AI's table)
    latency = [{'error': str(e)[:300]}]
  labelled = labelled_counts(log, served, params)
  keyed = log.rows(f'SELECT COUNT(*) AS n, COUNTIF(example_key IS NOT NULL) AS keyed FROM '
                   f'({served}) AS served', params)
  return {'profile': profile, 'scores': _histogram(log.rows(score_histogram_sql(served),
                                                             params)),
          'previous_scores': previous, 'labelled': labelled, 'traffic': traffic,
          'latency': latency, 'instances': int(keyed[0]['n']) if keyed else 0,
          'keyed': int(keyed[0]['keyed'] or 0) if keyed else 0}

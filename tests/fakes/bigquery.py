"""A small BigQuery REST server on loopback (jobs.insert / get / cancel, getQueryResults).

The real google-cloud-bigquery client (and the provider's operator and hook above it)
reach it through BIGQUERY_EMULATOR_HOST, the library's own setting. It records every
request. A job finishes when `mode` says DONE (tests flip it), fails when FAILED. An
EXPORT DATA job, once done, writes its CSV part into the GCS emulator at the job's uri
(`export_rows` data rows), as BigQuery would, and reports exportDataStatistics. Query
jobs answer `query_rows` (list of value lists) with `query_schema`; dry runs answer
`dry_run_schema`. With `engine` set (a callable returning a DuckDB connection that holds
the tables under their BigQuery names), a query job is run for real instead: its text
transpiled by sqlglot as the local warehouse does, its named parameters bound, and the
result sent back in BigQuery's REST encoding (INTEGER / TIMESTAMP as strings, arrays as
REPEATED fields), which the real client decodes.
"""

from __future__ import annotations

import re
import time

from fakes.http import RecordingJsonServer

# bigquery-public-data.chicago_taxi_trips.taxi_trips, as tables.get describes it
TAXI_TRIPS_SCHEMA = [
    ('unique_key', 'STRING'), ('taxi_id', 'STRING'), ('trip_start_timestamp', 'TIMESTAMP'),
    ('trip_end_timestamp', 'TIMESTAMP'), ('trip_seconds', 'INTEGER'), ('trip_miles', 'FLOAT'),
    ('pickup_census_tract', 'INTEGER'), ('dropoff_census_tract', 'INTEGER'),
    ('pickup_community_area', 'INTEGER'), ('dropoff_community_area', 'INTEGER'),
    ('fare', 'FLOAT'), ('tips', 'FLOAT'), ('tolls', 'FLOAT'), ('extras', 'FLOAT'),
    ('trip_total', 'FLOAT'), ('payment_type', 'STRING'), ('company', 'STRING'),
    ('pickup_latitude', 'FLOAT'), ('pickup_longitude', 'FLOAT'), ('pickup_location', 'STRING'),
    ('dropoff_latitude', 'FLOAT'), ('dropoff_longitude', 'FLOAT'),
    ('dropoff_location', 'STRING')]


class FakeBigQuery(RecordingJsonServer):
  route_under_lock = False  # getQueryResults long-polls

  def __init__(self):
    super().__init__()
    self.jobs = {}
    self.mode = 'DONE'           # RUNNING | DONE | FAILED
    self.export_rows = [['1', '5.25', 'Cash'], ['2', '8.0', 'Credit Card']]
    self.export_header = ['trip', 'fare', 'payment_type']
    self.query_schema = []
    self.query_rows = []
    self.dry_run_schema = []
    # what a dry run of `SELECT * FROM <table>` answers: the source table's columns
    self.table_schema = [{'name': n, 'type': t} for n, t in TAXI_TRIPS_SCHEMA]
    self.fail_gets = 0           # the next N jobs.get answer 400 (a task dying mid-poll)
    self.engine = None           # () -> DuckDB connection: run query jobs for real
    self._results = {}
    self._exported = set()
    self.cancelled = set()
    self.failed = set()

  def inserts(self, probes=False):
    """jobs.insert calls; the source-table schema probes (a dry run of SELECT *) only
    with probes=True."""
    return [e for e in self.log if e[0] == 'POST' and re.fullmatch(
        r'/bigquery/v2/projects/[^/]+/jobs', e[1]) and (probes or not self._is_probe(e[3]))]

  @staticmethod
  def _is_probe(body) -> bool:
    config = (body or {}).get('configuration', {})
    return bool(config.get('dryRun')) and re.match(
        r'\s*SELECT \* FROM `[^`]+`\s*$', config.get('query', {}).get('query', '')) is not None

  def _export(self, job):
    from google.cloud import storage

    query = job['configuration']['query']['query']
    m = re.search(r"uri\s*=\s*'gs://([^/]+)/([^']*)'", query)
    bucket, name = m.group(1), m.group(2).replace('*', '000000000000')
    lines = [','.join(self.export_header)] + [','.join(r) for r in self.export_rows]
    storage.Client().bucket(bucket).blob(name).upload_from_string('\n'.join(lines) + '\n')

  def _resource(self, jid):
    job = self.jobs[jid]
    dry = bool(job['configuration'].get('dryRun'))  # BigQuery answers a dry run at once
    status = {'state': 'RUNNING' if self.mode == 'RUNNING' and not dry else 'DONE'}
    if jid in self.cancelled:  # BigQuery ends a cancelled job as DONE with an error
      status = {'state': 'DONE', 'errorResult': {
          'reason': 'stopped', 'message': 'Job execution was cancelled: User requested'}}
      status['errors'] = [status['errorResult']]
    elif jid in self.failed or (self.mode == 'FAILED' and status['state'] == 'DONE'):
      self.failed.add(jid)  # a job that failed stays failed whatever `mode` says later
      status['errorResult'] = {'reason': 'invalidQuery', 'message': 'Syntax error'}
      status['errors'] = [status['errorResult']]
    resource = {'kind': 'bigquery#job', 'id': f'p1:US.{jid}',
                'jobReference': job['jobReference'], 'configuration': job['configuration'],
                'status': status, 'statistics': {'creationTime': '1767225600000',
                                                 'startTime': '1767225601000'}}
    if status['state'] == 'DONE':
      resource['statistics']['endTime'] = '1767225602000'
      query = job['configuration'].get('query', {})
      stats = {}
      if query.get('query', '').lstrip().upper().startswith('EXPORT DATA'):
        if self.mode == 'DONE' and jid not in self._exported:
          self._export(job)
          self._exported.add(jid)
        stats['exportDataStatistics'] = {'fileCount': '1',
                                         'rowCount': str(len(self.export_rows))}
      if job['configuration'].get('dryRun'):
        select_all = re.match(r'\s*SELECT \* FROM `[^`]+`\s*$', query.get('query', ''))
        stats['schema'] = {'fields': self.table_schema if select_all else self.dry_run_schema}
      resource['statistics']['query'] = stats
    return resource

  def _execute(self, jid):
    """(schema fields, REST rows) of a query job, run once on the engine."""
    if jid in self._results:
      return self._results[jid]
    from ct_platform import sql

    query = self.jobs[jid]['configuration']['query']
    params = {p['name']: _parameter(p) for p in query.get('queryParameters', [])}
    con = self.engine()
    try:
      text = sql.to_duckdb(query['query'])
      cursor = con.execute(text, {k: v for k, v in params.items() if f'${k}' in text})
      kinds = [(d[0], *_bigquery_type(d[1])) for d in cursor.description]
      rows = cursor.fetchall()
    finally:
      con.close()
    schema = [{'name': n, 'type': t, 'mode': m} for n, t, m in kinds]
    encoded = [{'f': [{'v': [{'v': _encode(x, t)} for x in (v or [])] if m == 'REPEATED'
                       else _encode(v, t)} for v, (_, t, m) in zip(row, kinds)]} for row in rows]
    self._results[jid] = (schema, encoded)
    return self._results[jid]

  def route(self, method, path, query, body):
    m = re.fullmatch(r'/bigquery/v2/projects/([^/]+)/jobs', path)
    if m and method == 'POST':
      jid = body['jobReference']['jobId']
      if jid in self.jobs:
        return 409, {'error': {'code': 409, 'message': f'Already Exists: Job {jid}',
                               'status': 'ALREADY_EXISTS',
                               'errors': [{'reason': 'duplicate', 'message': 'dup'}]}}
      body['jobReference'].setdefault('location', 'US')
      self.jobs[jid] = body
      return 200, self._resource(jid)
    m = re.fullmatch(r'/bigquery/v2/projects/([^/]+)/jobs/([^/]+)(/cancel)?', path)
    if m:
      jid = m.group(2)
      if jid not in self.jobs:
        return 404, {'error': {'code': 404, 'message': f'Not found: Job {jid}',
                               'status': 'NOT_FOUND',
                               'errors': [{'reason': 'notFound', 'message': 'nf'}]}}
      if m.group(3):
        self.cancelled.add(jid)
        return 200, {'kind': 'bigquery#jobCancelResponse', 'job': self._resource(jid)}
      if self.fail_gets:
        self.fail_gets -= 1
        return 400, {'error': {'code': 400, 'message': 'the worker died here',
                               'status': 'INVALID_ARGUMENT',
                               'errors': [{'reason': 'invalid', 'message': 'died'}]}}
      return 200, self._resource(jid)
    m = re.fullmatch(r'/bigquery/v2/projects/([^/]+)/queries/([^/]+)', path)
    if m:
      jid = m.group(2)
      done = self.mode != 'RUNNING' or jid in self.cancelled
      if not done:
        time.sleep(0.3)  # the real server long-polls
      result = {'kind': 'bigquery#getQueryResultsResponse',
                'jobReference': self.jobs[jid]['jobReference'], 'jobComplete': done}
      if done and self.engine is not None and jid not in self.failed:
        try:
          schema, rows = self._execute(jid)
        except Exception as e:  # noqa: BLE001  (BigQuery answers a bad query with a 400)
          return 400, {'error': {'code': 400, 'message': f'Query error: {e}',
                                 'status': 'INVALID_ARGUMENT',
                                 'errors': [{'reason': 'invalidQuery', 'message': str(e)}]}}
        result.update({'schema': {'fields': schema}, 'totalRows': str(len(rows)),
                       'rows': rows})
      elif done:
        rows = [] if 'EXPORT DATA' in self.jobs[jid]['configuration']['query']['query'] \
            else self.query_rows
        result.update({'schema': {'fields': self.query_schema}, 'totalRows': str(len(rows)),
                       'rows': [{'f': [{'v': v} for v in r]} for r in rows]})
      return 200, result
    return 404, {'error': {'code': 404, 'message': f'no route {path}', 'status': 'NOT_FOUND'}}


# DuckDB result types -> BigQuery's (REST names)
_TYPES = {'BIGINT': 'INTEGER', 'INTEGER': 'INTEGER', 'HUGEINT': 'INTEGER', 'SMALLINT': 'INTEGER',
          'DOUBLE': 'FLOAT', 'FLOAT': 'FLOAT', 'VARCHAR': 'STRING', 'BOOLEAN': 'BOOLEAN',
          'DATE': 'DATE', 'TIMESTAMP': 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP'}


def _bigquery_type(duckdb_type: str) -> tuple[str, str]:
  """(type, mode) of a DuckDB result column."""
  name = str(duckdb_type).upper()
  mode = 'NULLABLE'
  if name.endswith('[]'):
    name, mode = name[:-2], 'REPEATED'
  if name.startswith('DECIMAL'):
    return 'NUMERIC', mode
  return _TYPES.get(name, 'STRING'), mode


def _encode(value, kind: str):
  """One cell as BigQuery's REST API sends it (scalars as strings)."""
  import datetime as dt

  if value is None:
    return None
  if kind == 'TIMESTAMP':  # microseconds since the epoch (formatOptions.useInt64Timestamp)
    if value.tzinfo is None:
      value = value.replace(tzinfo=dt.timezone.utc)
    return str(int(round(value.timestamp() * 1_000_000)))
  if kind == 'BOOLEAN':
    return 'true' if value else 'false'
  if kind == 'DATE':
    return value.isoformat()
  return str(value)


def _parameter(p: dict):
  import datetime as dt

  kind, value = p['parameterType']['type'], p['parameterValue'].get('value')
  if value is None:
    return None
  if kind == 'TIMESTAMP':
    t = dt.datetime.fromisoformat(value)
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(
        dt.timezone.utc).replace(tzinfo=None)  # naive UTC, as the local log reads times
  return {'INT64': int, 'FLOAT64': float, 'BOOL': lambda v: v == 'true'}.get(
      kind, str)(value)

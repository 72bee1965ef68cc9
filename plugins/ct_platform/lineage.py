"""OpenLineage for the chain our operators make, one run after another:

  source table (window) -> span -> pipeline run -> candidate model -> model version
    -> serving deployment

Each operator's `get_openlineage_facets_on_complete` returns one of the OperatorLineage
values built here; apache-airflow-providers-openlineage sends them (locally a file
transport under <local_dir>/lineage/, set by scripts/airflow-local; on Composer the
`gcplineage` transport to Dataplex). Only the provider's listener imports this module,
after a task ran: never at parse.

Dataset names follow the OpenLineage naming spec where it has one: BigQuery `bigquery` +
`project.dataset.table`, GCS `gs://bucket` + path, local files `file` + absolute path.
The local warehouse's table keeps its BigQuery name under a `duckdb://<file>` namespace;
a registry version is its model folder (local) or Vertex AI Model resource; a serving
deployment is the endpoint (the model server's URL locally, the Vertex AI Endpoint
resource on GCP). The facets below carry what the spec has no field for (the window, the
pipeline run's id and version, the model version and alias, the traffic split).
"""

from __future__ import annotations

import attrs
from openlineage.client.event_v2 import Dataset, InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
  DatasetFacet,
  RunFacet,
  external_query_run,
  output_statistics_output_dataset,
  sql_job,
)

SCHEMA_BASE = 'https://github.com/ml-platform/ct-platform/blob/main/docs/lineage.md'


@attrs.define
class TrainingWindowRunFacet(RunFacet):
  """The window of the source table a span holds: trips that started in [start, end)."""
  start: str
  end: str
  days: int
  rows: int
  warehouse: str

  @staticmethod
  def _get_schema() -> str:
    return f'{SCHEMA_BASE}#trainingwindowrunfacet'


@attrs.define
class PipelineRunRunFacet(RunFacet):
  """The TFX pipeline run this task submitted and awaited."""
  runId: str  # noqa: N815  (OpenLineage facets are camelCase)
  pipelineVersion: str  # noqa: N815
  runner: str
  variant: str
  status: str
  blessed: bool
  summaryUri: str  # noqa: N815

  @staticmethod
  def _get_schema() -> str:
    return f'{SCHEMA_BASE}#pipelinerunrunfacet'


@attrs.define
class ModelVersionDatasetFacet(DatasetFacet):
  """A registry version: which model, which number, which alias it got and from which run."""
  modelName: str  # noqa: N815
  version: int
  alias: str
  registry: str
  pipelineRunId: str  # noqa: N815

  @staticmethod
  def _get_schema() -> str:
    return f'{SCHEMA_BASE}#modelversiondatasetfacet'


@attrs.define
class ServingDeploymentDatasetFacet(DatasetFacet):
  """An endpoint after a change: the deployed models and the share of traffic each takes."""
  endpoint: str
  deployedModelId: str  # noqa: N815
  version: int
  trafficSplit: dict  # noqa: N815
  stage: str

  @staticmethod
  def _get_schema() -> str:
    return f'{SCHEMA_BASE}#servingdeploymentdatasetfacet'


def _operator_lineage(**kwargs):
  from airflow.providers.openlineage.extractors import OperatorLineage
  return OperatorLineage(**kwargs)


def nothing():
  """What a task that produced nothing (it failed before its result) reports."""
  return _operator_lineage()


def location(uri: str) -> tuple[str, str]:
  """(namespace, name) of a storage location: gs://bucket/path or a local path."""
  uri = str(uri).rstrip('/')
  if uri.startswith('gs://'):
    bucket, _, path = uri[len('gs://'):].partition('/')
    return f'gs://{bucket}', path or '/'
  if uri.startswith('file://'):
    uri = uri[len('file://'):]
  return 'file', uri


def storage_dataset(uri: str, facets: dict | None = None, kind=Dataset):
  namespace, name = location(uri)
  return kind(namespace=namespace, name=name, facets=facets or {})


def source_table(settings) -> tuple[str, str]:
  """(namespace, name) of the source table on the configured warehouse."""
  if settings.warehouse == 'bigquery':
    return 'bigquery', settings.source_table
  return f'duckdb://{settings.warehouse_file}', settings.source_table


def model_version(record: dict, alias: str, settings, kind=Dataset):
  """A registry version as a dataset: its model_uri, with the version facet."""
  facet = ModelVersionDatasetFacet(
      modelName=record.get('model_name') or settings.model_name,
      version=int(record['version']), alias=alias or '', registry=settings.registry,
      pipelineRunId=str(record.get('run_id') or ''))
  return storage_dataset(record['model_uri'], {'ctModelVersion': facet}, kind=kind)


def endpoint(settings) -> tuple[str, str]:
  """(namespace, name) of the prediction service."""
  if settings.endpoint == 'vertex':
    from ct_platform.backends import endpoint_for
    region = settings.region
    return f'https://{region}-aiplatform.googleapis.com', endpoint_for(settings).resource
  return f'http://127.0.0.1:{settings.serve_port}', f'/v1/models/{settings.model_name}'


# -- one per operator -------------------------------------------------------------------

def extract_span(manifest: dict, settings):
  """Source table (the window) -> the span it was extracted into."""
  from ct_platform import sql

  window = manifest.get('window') or {}
  namespace, name = source_table(settings)
  span = storage_dataset(manifest['uri'], kind=OutputDataset)
  span.outputFacets = {'outputStatistics': output_statistics_output_dataset.
                       OutputStatisticsOutputDatasetFacet(rowCount=int(manifest['rows']))}
  run_facets = {'ctTrainingWindow': TrainingWindowRunFacet(
      start=str(window.get('start', '')), end=str(window.get('end', '')),
      days=int(window.get('days') or 0), rows=int(manifest['rows']),
      warehouse=manifest.get('warehouse') or settings.warehouse)}
  if manifest.get('bigquery_job_id'):
    run_facets['externalQuery'] = external_query_run.ExternalQueryRunFacet(
        externalQueryId=manifest['bigquery_job_id'], source='bigquery')
  return _operator_lineage(
      inputs=[InputDataset(namespace=namespace, name=name)], outputs=[span],
      run_facets=run_facets,
      job_facets={'sql': sql_job.SQLJobFacet(
          query=sql.load('training_window', settings.source_table))})


def pipeline_run(result: dict, span: dict, champion: dict | None, runner: str, settings):
  """The span (and the champion it was judged against) -> the candidate model."""
  from ct_platform.contracts import layout

  summary = result['summary']
  baseline = (champion or {}).get('model_uri') or ''
  inputs = [storage_dataset(span['uri'], kind=InputDataset)]
  if baseline:
    inputs.append(storage_dataset(baseline, kind=InputDataset))
  outputs = []
  if summary.get('candidate_model_uri'):
    outputs.append(storage_dataset(summary['candidate_model_uri'], kind=OutputDataset))
  facet = PipelineRunRunFacet(
      runId=result['run_id'],
      pipelineVersion=str((summary.get('pipeline') or {}).get('version')
                          or settings.code_version),
      runner=runner,
      variant=(summary.get('pipeline') or {}).get('variant') or layout.variant_for(baseline),
      status=str(summary['status']),
      blessed=bool((summary.get('blessing') or {}).get('blessed')),
      summaryUri=str(result['summary_uri']))
  return _operator_lineage(
      inputs=inputs, outputs=outputs,
      run_facets={'ctPipelineRun': facet, 'externalQuery': external_query_run.
                  ExternalQueryRunFacet(externalQueryId=result['run_id'], source=runner)})


def registration(candidate_model_uri: str, promoted: dict, settings):
  """The pipeline's candidate -> the registry version it became (with its alias)."""
  return _operator_lineage(
      inputs=[storage_dataset(candidate_model_uri, kind=InputDataset)],
      outputs=[model_version(promoted, promoted.get('alias', ''), settings,
                             kind=OutputDataset)])


def deployment(version_record: dict, split: dict, stage: str, settings):
  """A registry version -> the endpoint that now serves it at its share of the traffic."""
  from ct_platform.backends import endpoint_for

  namespace, name = endpoint(settings)
  deployed_id = endpoint_for(settings).deployed_id(version_record['version'])
  facet = ServingDeploymentDatasetFacet(
      endpoint=name, deployedModelId=deployed_id, version=int(version_record['version']),
      trafficSplit={str(k): int(v) for k, v in (split or {}).items()}, stage=stage)
  return _operator_lineage(
      inputs=[model_version(version_record, version_record.get('alias', ''), settings,
                            kind=InputDataset)],
      outputs=[OutputDataset(namespace=namespace, name=name,
                             facets={'ctServingDeployment': facet})])

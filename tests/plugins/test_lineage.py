"""ct_platform.lineage: the OpenLineage datasets and facets of each link of the chain, as
the provider's listener serializes them (the DAG tests follow the chain itself)."""

import pytest
from openlineage.client.serde import Serde

from ct_platform import lineage
from ct_platform.config import Settings

GCP = Settings(profile='gcp', warehouse='bigquery', registry='vertex', endpoint='vertex',
               project='p1', region='europe-west4', bucket='gs://ct-data')


def as_dict(value):
  return Serde.to_dict(value)


@pytest.mark.parametrize('uri, expected', [
    ('gs://ct-data/spans/2016-01-01/s1/', ('gs://ct-data', 'spans/2016-01-01/s1')),
    ('gs://ct-data', ('gs://ct-data', '/')),
    ('/srv/ct/bucket/spans/s1', ('file', '/srv/ct/bucket/spans/s1')),
    ('file:///srv/ct/model', ('file', '/srv/ct/model')),
])
def test_a_location_is_named_as_the_openlineage_spec_names_gcs_and_local_files(uri, expected):
  assert lineage.location(uri) == expected


def test_the_source_table_is_bigquerys_own_name_on_both_warehouses(tmp_path):
  assert lineage.source_table(GCP) == ('bigquery', GCP.source_table)
  local = Settings(warehouse_path=str(tmp_path / 'w.duckdb'))
  assert lineage.source_table(local) == (f'duckdb://{tmp_path / "w.duckdb"}',
                                         local.source_table)


def test_a_bigquery_extract_carries_its_window_row_count_job_id_and_sql():
  manifest = {'uri': 'gs://ct-data/spans/w/s1', 'rows': 1234, 'warehouse': 'bigquery',
              'bigquery_job_id': 'ct_extract_w_s1_abc',
              'window': {'start': '2016-01-01T00:00:00+00:00',
                         'end': '2016-02-01T00:00:00+00:00', 'days': 31}}
  found = lineage.extract_span(manifest, GCP)
  (source,) = found.inputs
  assert (source.namespace, source.name) == ('bigquery', GCP.source_table)
  (span,) = [as_dict(o) for o in found.outputs]
  assert (span['namespace'], span['name']) == ('gs://ct-data', 'spans/w/s1')
  assert span['outputFacets']['outputStatistics']['rowCount'] == 1234
  facets = {k: as_dict(v) for k, v in found.run_facets.items()}
  window = facets['ctTrainingWindow']
  assert (window['start'], window['end'], window['days'], window['rows']) == (
      '2016-01-01T00:00:00+00:00', '2016-02-01T00:00:00+00:00', 31, 1234)
  assert window['_schemaURL'].endswith('#trainingwindowrunfacet')
  assert facets['externalQuery'] == dict(facets['externalQuery'],
                                         externalQueryId='ct_extract_w_s1_abc', source='bigquery')
  assert f'FROM `{GCP.source_table}`' in found.job_facets['sql'].query


def _result(status='completed', candidate='gs://ct-data/pipeline_root/r1/Trainer/model/7'):
  return {'run_id': 'r1', 'summary_uri': 'gs://ct-data/pipeline_root/r1/run_summary.json',
          'summary': {'status': status, 'candidate_model_uri': candidate,
                      'blessing': {'blessed': status == 'completed'},
                      'pipeline': {'name': 'p', 'version': 'abc123', 'variant': 'with_baseline'}}}


def test_a_pipeline_run_reads_the_span_and_the_champion_and_writes_the_candidate():
  champion = {'model_uri': 'gs://ct-data/models/v3'}
  found = lineage.pipeline_run(_result(), {'uri': 'gs://ct-data/spans/w/s1'}, champion,
                               'vertex', GCP)
  assert [(d.namespace, d.name) for d in found.inputs] == [
      ('gs://ct-data', 'spans/w/s1'), ('gs://ct-data', 'models/v3')]
  assert [(d.namespace, d.name) for d in found.outputs] == [
      ('gs://ct-data', 'pipeline_root/r1/Trainer/model/7')]
  run = as_dict(found.run_facets['ctPipelineRun'])
  assert (run['runId'], run['pipelineVersion'], run['runner'], run['variant'],
          run['blessed']) == ('r1', 'abc123', 'vertex', 'with_baseline', True)


def test_a_run_stopped_by_its_data_has_no_candidate_to_report():
  found = lineage.pipeline_run(_result('stopped_by_anomalies', ''), {'uri': '/s/1'}, None,
                               'local', Settings())
  assert found.outputs == [] and found.run_facets['ctPipelineRun'].blessed is False


def test_a_registration_names_the_version_and_its_alias():
  promoted = {'version': 4, 'model_uri': 'gs://ct-data/registry/v4', 'alias': 'challenger',
              'model_name': 'chicago-taxi-tipper', 'run_id': 'r1'}
  found = lineage.registration('gs://ct-data/pipeline_root/r1/model', promoted, GCP)
  (out,) = [as_dict(o) for o in found.outputs]
  assert out['facets']['ctModelVersion'] == dict(
      out['facets']['ctModelVersion'], modelName='chicago-taxi-tipper', version=4,
      alias='challenger', registry='vertex', pipelineRunId='r1')


def test_a_deployment_on_vertex_is_the_endpoint_resource_with_its_split():
  record = {'version': 5, 'model_uri': 'gs://ct-data/registry/v5', 'alias': 'champion'}
  found = lineage.deployment(record, {'4': 0, '5': 100}, 'full_rollout', GCP)
  (out,) = [as_dict(o) for o in found.outputs]
  assert out['namespace'] == 'https://europe-west4-aiplatform.googleapis.com'
  assert out['name'] == 'projects/p1/locations/europe-west4/endpoints/chicago-taxi-tipper'
  facet = out['facets']['ctServingDeployment']
  assert (facet['deployedModelId'], facet['trafficSplit'], facet['stage']) == (
      '5', {'4': 0, '5': 100}, 'full_rollout')


def test_a_task_that_produced_nothing_reports_no_datasets():
  found = lineage.nothing()
  assert found.inputs == [] and found.outputs == [] and found.run_facets == {}

"""Bootstraps pipeline/schema/schema.pbtxt with SchemaGen, then applies our curation.

Run once (make schema) when the feature set changes; review the diff and commit it.
The pipeline itself only imports the curated file (ImportSchemaGen).

Curation, on top of what SchemaGen infers from the sample:
  - the label and the fields every trip has (fare, trip_start_*) must be present;
  - `company` keeps no closed domain: new companies appear all the time;
  - the census tracts, mostly empty in the public table, may be absent from a window;
  - `payment_type` keeps its closed domain: a new value is an anomaly that stops
    the run before Transform.
"""

import argparse
import glob
import os
import shutil
import sys
import tempfile

from ct_pipeline import config

REQUIRED = ['tips', 'fare', 'trip_start_timestamp', 'trip_start_hour', 'trip_start_day',
            'trip_start_month', 'payment_type']
OPEN_DOMAIN = ['company']
# Mostly empty in the public table: a window may have no value at all, which must
# not read as "column dropped".
OPTIONAL = ['pickup_census_tract', 'dropoff_census_tract']


def curate(schema):
  from tensorflow_data_validation import get_feature  # pylint: disable=g-import-not-at-top

  for name in REQUIRED:
    feature = get_feature(schema, name)
    feature.presence.min_fraction = 1.0
    feature.presence.min_count = 1
  for name in OPTIONAL:
    feature = get_feature(schema, name)
    feature.presence.min_fraction = 0.0
    feature.presence.min_count = 0
  for name in OPEN_DOMAIN:
    feature = get_feature(schema, name)
    if feature.HasField('domain'):
      domain = feature.domain
      feature.ClearField('domain')
      kept = [d for d in schema.string_domain if d.name != domain]
      del schema.string_domain[:]
      schema.string_domain.extend(kept)
  return schema


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m ct_pipeline.runners.bootstrap_schema',
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--span-uri', required=True, help='folder of span CSV files')
  p.add_argument('--out', default=config.SCHEMA_PATH)
  args = p.parse_args(argv)

  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top

  work = tempfile.mkdtemp(prefix='schema-bootstrap-')
  try:
    example_gen = tfx.components.CsvExampleGen(
        input_base=os.path.abspath(args.span_uri),
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name='span', pattern='*.csv')]))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs['examples'])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs['statistics'],
                                          infer_feature_shape=False)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name='schema-bootstrap', pipeline_root=os.path.join(work, 'root'),
        components=[example_gen, statistics_gen, schema_gen],
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(os.path.join(work, 'mlmd.sqlite'))))
    inferred = glob.glob(os.path.join(work, 'root', 'SchemaGen', 'schema', '*',
                                      'schema.pbtxt'))[0]
    schema = curate(tfdv.load_schema_text(inferred))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tfdv.write_schema_text(schema, args.out)
    print(f'wrote {args.out}')
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())

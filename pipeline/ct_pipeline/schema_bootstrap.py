"""Bootstraps pipeline/schema/schema.pbtxt with SchemaGen, then applies our curation.

Run once (make schema) when the feature set changes; review the diff and commit it.
`make schema-curate` (--curate-only) re-applies the curation to the committed schema
without a SchemaGen run, after an edit of pipeline/schema/curation.yaml.
The pipeline itself only imports the curated file (ImportSchemaGen).

The curation (pipeline/schema/curation.yaml, what a sample cannot teach SchemaGen):
  - the label and the fields every trip has must be present; the census tracts,
    mostly empty in the public table, may be absent from a window;
  - `company` keeps no closed domain; `payment_type` keeps one, taken from the
    public table's documented values, so a new value stops the run before Transform;
  - every numeric feature has a value range, and the floats refuse NaN and infinity:
    a unit error (fare 4.1e7) or a non-finite value stops the run at validation,
    naming the feature, instead of failing in Transform or training on it.
"""

import argparse
import glob
import os
import shutil
import sys
import tempfile

from ct_pipeline import config

CURATION_PATH = os.path.join(os.path.dirname(config.SCHEMA_PATH), 'curation.yaml')


def load_curation(path: str = CURATION_PATH) -> dict:
  import yaml  # pylint: disable=g-import-not-at-top

  with open(path) as f:
    return yaml.safe_load(f)


def curate(schema, curation=None):
  """Applies the curation to a TFDV schema proto, in place; returns it."""
  from tensorflow_data_validation import get_feature  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top

  curation = curation or load_curation()
  for name in curation['required']:
    feature = get_feature(schema, name)
    feature.presence.min_fraction = 1.0
    feature.presence.min_count = 1
  for name in curation['optional']:
    feature = get_feature(schema, name)
    feature.presence.min_fraction = 0.0
    feature.presence.min_count = 0
  for name in curation['open_domain']:
    feature = get_feature(schema, name)
    if feature.HasField('domain'):
      _drop_string_domain(schema, feature.domain)
      feature.ClearField('domain')
  for name, spec in curation['domains'].items():
    feature = get_feature(schema, name)
    if feature.HasField('domain'):
      _drop_string_domain(schema, feature.domain)
    feature.ClearField('string_domain')
    schema.string_domain.add(name=name, value=list(spec['values']))
    feature.domain = name
  for name in curation['optional']:
    if name in curation['ranges']:
      raise ValueError(f'curation.yaml: ranges.{name}: {name} is optional, so a split may hold '
                       f'no value of it, and TFDV reads such a split as min = max = 0: out of '
                       f'any range that excludes 0. Give optional features no range')
    feature = get_feature(schema, name)
    feature.ClearField('int_domain')
    feature.ClearField('float_domain')
  for name, bounds in curation['ranges'].items():
    feature = get_feature(schema, name)
    if feature.type == schema_pb2.FLOAT:
      domain = feature.float_domain
      domain.disallow_nan = True
      domain.disallow_inf = True
    elif feature.type == schema_pb2.INT:
      domain = feature.int_domain
    else:
      raise ValueError(f'curation.yaml: ranges.{name}: the schema types {name} as '
                       f'{schema_pb2.FeatureType.Name(feature.type)}, expected INT or FLOAT')
    domain.ClearField('min')
    domain.ClearField('max')
    if 'min' in bounds:
      domain.min = bounds['min']
    if 'max' in bounds:
      domain.max = bounds['max']
  return schema


def _drop_string_domain(schema, domain_name):
  kept = [d for d in schema.string_domain if d.name != domain_name]
  del schema.string_domain[:]
  schema.string_domain.extend(kept)


def infer_schema(span_uri: str):
  """SchemaGen's schema for a folder of span CSV files (a small TFX run)."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top

  from ct_pipeline import tfx_api as tfx  # pylint: disable=g-import-not-at-top

  work = tempfile.mkdtemp(prefix='schema-bootstrap-')
  try:
    example_gen = tfx.components.CsvExampleGen(
        input_base=os.path.abspath(span_uri),
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
    return tfdv.load_schema_text(inferred)
  finally:
    shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m ct_pipeline.schema_bootstrap',
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument('--span-uri', help='folder of span CSV files: infer with SchemaGen')
  source.add_argument('--curate-only', action='store_true',
                      help='re-apply curation.yaml to the schema at --out')
  p.add_argument('--out', default=config.SCHEMA_PATH)
  p.add_argument('--curation', default=CURATION_PATH)
  args = p.parse_args(argv)

  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top

  schema = (tfdv.load_schema_text(args.out) if args.curate_only
            else infer_schema(args.span_uri))
  schema = curate(schema, load_curation(args.curation))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  tfdv.write_schema_text(schema, args.out)
  print(f'wrote {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

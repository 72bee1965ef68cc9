"""The committed schema is the curation applied (pipeline/schema/curation.yaml), and the
curation says what the public table really holds."""

import copy

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from ct_pipeline import config, schema_bootstrap


def _schema():
  return tfdv.load_schema_text(config.SCHEMA_PATH)


def test_committed_schema_has_the_curation_applied():
  """Editing curation.yaml without `make schema-curate` (or the reverse) fails here."""
  committed = _schema()
  recurated = schema_bootstrap.curate(copy.deepcopy(committed))
  assert recurated == committed


def test_payment_type_domain_is_the_public_tables_documented_values():
  curation = schema_bootstrap.load_curation()
  domain = {d.name: list(d.value) for d in _schema().string_domain}['payment_type']
  assert domain == curation['domains']['payment_type']['values']
  # from 2017 on: absent from the shipped sample, present in production windows
  assert {'Mobile', 'Prepaid', 'Split', 'Way2ride'} <= set(domain)
  assert 'source' in curation['domains']['payment_type']


def test_every_required_numeric_feature_has_a_range_and_floats_refuse_non_finite_values():
  schema = _schema()
  optional = set(schema_bootstrap.load_curation()['optional'])
  numeric = [f for f in schema.feature if f.type in (schema_pb2.INT, schema_pb2.FLOAT)]
  assert len(numeric) == 16
  for f in (f for f in numeric if f.name in optional):
    assert not f.HasField('int_domain') and not f.HasField('float_domain'), f
  for f in (f for f in numeric if f.name not in optional):
    if f.type == schema_pb2.FLOAT:
      d = f.float_domain
      assert d.disallow_nan and d.disallow_inf and d.HasField('min') and d.HasField('max'), f
    else:
      assert f.int_domain.HasField('min'), f
  fare = tfdv.get_feature(schema, 'fare').float_domain
  assert (fare.min, fare.max) == (0, 100000)


def _refused(feature: str, bounds: dict) -> str:
  """The error curate() raises for a range the curation must not hold."""
  curation = schema_bootstrap.load_curation()
  curation['ranges'][feature] = bounds
  with pytest.raises(ValueError) as raised:
    schema_bootstrap.curate(_schema(), curation)
  return str(raised.value)


def test_a_range_on_an_optional_feature_is_refused_saying_why():
  message = _refused('pickup_census_tract', {'min': 17000000000})
  assert 'ranges.pickup_census_tract' in message and 'min = max = 0' in message


def test_a_range_on_a_string_feature_is_refused_naming_it():
  message = _refused('company', {'min': 0})
  assert 'ranges.company' in message and 'BYTES' in message


def test_the_shipped_sample_passes_the_curated_schema():
  """The 15,002 rows of the TFX sample: no value outside a range or a domain."""
  from conftest import sample_csv_path
  stats = tfdv.generate_statistics_from_csv(str(sample_csv_path()))
  anomalies = tfdv.validate_statistics(stats, _schema())
  out_of_range = {name: info.description for name, info in anomalies.anomaly_info.items()
                  if 'Column dropped' not in info.short_description}
  # presence reads differently from a raw CSV than from CsvExampleGen's examples (an
  # empty cell is an empty list there); the ranges and domains read the same
  assert out_of_range == {}

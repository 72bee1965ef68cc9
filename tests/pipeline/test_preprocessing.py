"""preprocessing_fn on a handful of rows gives the expected transformed values."""

import pytest
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from ct_pipeline import config
from ct_pipeline.models import features
from ct_pipeline.models.preprocessing import preprocessing_fn


def _row(**values):
  """A raw example as the curated schema describes it (every feature a list)."""
  row = {k: [] for k in features.ALL_COLUMNS}
  defaults = dict(trip_start_hour=[10], trip_start_day=[3], trip_start_month=[5],
                  trip_start_timestamp=[1400000000], company=[b'Flash Cab'],
                  trip_seconds=[600], pickup_latitude=[41.9], pickup_longitude=[-87.6],
                  dropoff_latitude=[41.8], dropoff_longitude=[-87.7])
  row.update(defaults)
  row.update(values)
  return row


@pytest.fixture(scope='module')
def transformed(tmp_path_factory):
  schema = tfdv.load_schema_text(config.SCHEMA_PATH)
  metadata = dataset_metadata.DatasetMetadata(schema)
  rows = [
      _row(trip_miles=[1.0], fare=[10.0], tips=[3.0], payment_type=[b'Credit Card'],
           trip_start_hour=[25]),
      _row(trip_miles=[3.0], fare=[20.0], tips=[0.0], payment_type=[b'Cash']),
      # missing trip_miles, fare and pickup coordinates
      _row(trip_miles=[], fare=[], tips=[1.0], payment_type=[b'Cash'],
           pickup_latitude=[], pickup_longitude=[]),
  ]
  assert set(schema_utils.schema_as_feature_spec(schema).feature_spec) == set(rows[0])
  # TF1 graph mode, as the pipeline's Transform runs it (force_tf_compat_v1)
  with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp('tft')), force_tf_compat_v1=True):
    (out, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
        preprocessing_fn, output_record_batches=False)
  return out


def test_numeric_features_are_z_scored_with_missing_values_at_the_mean(transformed):
  miles = [r['trip_miles_xf'] for r in transformed]
  # Present values 1 and 3: mean 2, std 1 (statistics of the known values only);
  # the missing one sits at the mean, z = 0.
  assert miles == pytest.approx([-1.0, 1.0, 0.0], abs=1e-5)
  fares = [r['fare_xf'] for r in transformed]  # 10 and 20: mean 15, std 5
  assert fares == pytest.approx([-1.0, 1.0, 0.0], abs=1e-5)


def test_label_is_big_tipper_and_zero_without_fare(transformed):
  assert [r['tips_xf'] for r in transformed] == [1, 0, 0]


def test_vocabulary_orders_by_frequency(transformed):
  # Cash (twice) gets id 0, Credit Card id 1.
  assert [r['payment_type_xf'] for r in transformed] == [1, 0, 0]


def test_missing_coordinates_get_their_own_bucket(transformed):
  buckets = [r['pickup_latitude_xf'] for r in transformed]
  assert buckets[2] == features.BUCKET_FEATURE_BUCKET_COUNT
  assert all(0 <= b < features.BUCKET_FEATURE_BUCKET_COUNT for b in buckets[:2])


def test_categorical_ids_are_clipped_to_their_range(transformed):
  assert [r['trip_start_hour_xf'] for r in transformed] == [23, 10, 10]


def test_every_model_input_is_produced(transformed):
  expected = set(features.transformed_names(
      features.DENSE_FLOAT_FEATURE_KEYS + features.BUCKET_FEATURE_KEYS +
      features.CATEGORICAL_FEATURE_KEYS + features.VOCAB_FEATURE_KEYS + [features.LABEL_KEY]))
  assert set(transformed[0]) == expected

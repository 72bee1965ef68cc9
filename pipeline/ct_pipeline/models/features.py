"""Feature definitions, named as in bigquery-public-data.chicago_taxi_trips.taxi_trips.

The span CSV the DAG exports has these columns (trip_start_hour/day/month are
derived from trip_start_timestamp in the extract query, as in the TFX taxi example).
"""

# Numeric features: z-scored, missing values filled with the mean.
DENSE_FLOAT_FEATURE_KEYS = ['trip_miles', 'fare', 'trip_seconds']

# Coordinates: bucketized into quantiles; missing coordinates get their own bucket.
BUCKET_FEATURE_KEYS = ['pickup_latitude', 'pickup_longitude',
                       'dropoff_latitude', 'dropoff_longitude']
BUCKET_FEATURE_BUCKET_COUNT = 10

# Small integer categories used as ids (clipped to [0, max) ; missing -> 0).
CATEGORICAL_FEATURE_KEYS = ['trip_start_hour', 'trip_start_day', 'trip_start_month',
                            'pickup_community_area', 'dropoff_community_area']
CATEGORICAL_FEATURE_MAX_VALUES = [24, 8, 13, 78, 78]

# Strings and large-cardinality ids: vocabulary (top_k + OOV buckets).
VOCAB_FEATURE_KEYS = ['payment_type', 'company',
                      'pickup_census_tract', 'dropoff_census_tract']
VOCAB_SIZE = 1000
OOV_SIZE = 10

# Raw columns that are not model inputs but travel with the span.
PASSTHROUGH_KEYS = ['trip_start_timestamp']

LABEL_KEY = 'tips'
FARE_KEY = 'fare'
# "Big tipper": tips > 20% of the fare.
BIG_TIP_FRACTION = 0.2

RAW_FEATURE_KEYS = (DENSE_FLOAT_FEATURE_KEYS + BUCKET_FEATURE_KEYS + CATEGORICAL_FEATURE_KEYS
                    + VOCAB_FEATURE_KEYS + PASSTHROUGH_KEYS)
ALL_COLUMNS = RAW_FEATURE_KEYS + [LABEL_KEY]


def transformed_name(key: str) -> str:
  return key + '_xf'


def transformed_names(keys):
  return [transformed_name(k) for k in keys]

-- The training window: trips that started in [@window_start, @window_end).
-- BigQuery Standard SQL with query parameters (user input never enters the text).
-- The table id comes from configuration (checked against a strict pattern).
-- The local warehouse runs this same text, transpiled to DuckDB by sqlglot.
SELECT
  pickup_community_area,
  fare,
  EXTRACT(MONTH FROM trip_start_timestamp) AS trip_start_month,
  EXTRACT(HOUR FROM trip_start_timestamp) AS trip_start_hour,
  EXTRACT(DAYOFWEEK FROM trip_start_timestamp) AS trip_start_day,
  UNIX_SECONDS(trip_start_timestamp) AS trip_start_timestamp,
  pickup_latitude,
  pickup_longitude,
  dropoff_latitude,
  dropoff_longitude,
  trip_miles,
  pickup_census_tract,
  dropoff_census_tract,
  payment_type,
  company,
  trip_seconds,
  dropoff_community_area,
  tips
FROM `{source_table}`
WHERE trip_start_timestamp >= TIMESTAMP(@window_start)
  AND trip_start_timestamp < TIMESTAMP(@window_end)
ORDER BY trip_start_timestamp

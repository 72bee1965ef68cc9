-- The served instances that have their ground truth by now, per score (rounded to 1e-4):
-- how many were positives and how many negatives. The label is the pipeline's, a big tip
-- (tips > fare * @big_tip_fraction), from the source table, where a trip's tip lands after
-- the trip; joined on the example key the caller sent (the trip's unique_key). AUC and
-- accuracy follow from these counts (ct_platform.monitoring.checks), so no row leaves the
-- warehouse. latest_trip: the newest labelled trip's start (Unix seconds), where a
-- retraining's window should end. The inner query is served_instances.sql.
SELECT
  ROUND(served.score, 4) AS score,
  COUNTIF(trips.tips > trips.fare * @big_tip_fraction) AS positives,
  COUNTIF(NOT (trips.tips > trips.fare * @big_tip_fraction)) AS negatives,
  MAX(UNIX_SECONDS(trips.trip_start_timestamp)) AS latest_trip
FROM ({served}) AS served
JOIN `{source_table}` AS trips ON trips.unique_key = served.example_key
WHERE trips.tips IS NOT NULL AND trips.fare IS NOT NULL AND served.score IS NOT NULL
GROUP BY 1

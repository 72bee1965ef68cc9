-- Latency per day and deployed model in [@since, @until), from the local log's latency_ms
-- column. Vertex AI's logging table has no latency: on GCP it comes from Cloud Monitoring's
-- aiplatform.googleapis.com/prediction/online/prediction_latencies (not read yet).
SELECT
  DATE(logging_time) AS day,
  deployed_model_id,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(50)] AS p50_ms,
  APPROX_QUANTILES(latency_ms, 100)[OFFSET(99)] AS p99_ms
FROM `{table}`
WHERE (endpoint = @endpoint OR ENDS_WITH(endpoint, CONCAT('/endpoints/', @endpoint)))
  AND logging_time >= @since
  AND logging_time < @until
  AND deployed_model_id IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2

-- The prediction log's rows of one endpoint since a time: the columns of Vertex AI's
-- request-response logging table, plus (locally) the status code and latency.
SELECT
  deployed_model_id,
  logging_time,
  request_payload,
  response_payload,
  status_code,
  latency_ms
FROM `{table}`
WHERE endpoint = @endpoint
  AND logging_time >= @since
  AND logging_time < @until
ORDER BY logging_time

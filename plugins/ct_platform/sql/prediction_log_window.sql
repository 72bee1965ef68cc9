-- The prediction log's rows of one endpoint since a time: the columns of Vertex AI's
-- request-response logging table, plus (locally) the status code and latency.
-- @endpoint: the local endpoint's name, or a Vertex AI Endpoint's id (its table logs the
-- resource name, .../endpoints/<id>).
SELECT
  deployed_model_id,
  logging_time,
  request_payload,
  response_payload,
  status_code,
  latency_ms
FROM `{table}`
WHERE (endpoint = @endpoint OR ENDS_WITH(endpoint, CONCAT('/endpoints/', @endpoint)))
  AND logging_time >= @since
  AND logging_time < @until
ORDER BY logging_time

-- One endpoint's traffic in [@since, @until) per day and deployed model: requests, the
-- instances in them, and how many were answered. Refused requests have no deployed model
-- (the server refused them before routing; Vertex AI does not log those).
SELECT
  DATE(logging_time) AS day,
  deployed_model_id,
  COUNT(*) AS requests,
  SUM(ARRAY_LENGTH(request_payload)) AS instances,
  COUNTIF(ARRAY_LENGTH(response_payload) > 0) AS answered
FROM `{table}`
WHERE (endpoint = @endpoint OR ENDS_WITH(endpoint, CONCAT('/endpoints/', @endpoint)))
  AND logging_time >= @since
  AND logging_time < @until
GROUP BY 1, 2
ORDER BY 1, 2

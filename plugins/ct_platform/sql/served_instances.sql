-- The instances one deployed model answered in [@since, @until): one row per instance of
-- each answered request (request_payload holds one JSON string per instance and
-- response_payload one per prediction, in the same order; a refused request has no
-- response), with the caller's example key, the predicted score and the features, cast
-- to the types they had in training (the feature columns, built by
-- ct_platform.monitoring.window from the champion's training profile).
-- The columns are those of Vertex AI's request-response logging table in BigQuery; the
-- local log has the same ones (ct_platform.rollout.log) and DuckDB runs this through sqlglot.
SELECT
  log.logging_time,
  JSON_VALUE(instance, '$.{key_field}') AS example_key,
  SAFE_CAST(COALESCE(JSON_VALUE(log.response_payload[SAFE_OFFSET(position)], '$[0]'),
                     JSON_VALUE(log.response_payload[SAFE_OFFSET(position)], '$'))
            AS FLOAT64) AS score,
  {feature_columns}
FROM `{table}` AS log, UNNEST(log.request_payload) AS instance WITH OFFSET AS position
WHERE (log.endpoint = @endpoint OR ENDS_WITH(log.endpoint, CONCAT('/endpoints/', @endpoint)))
  AND log.deployed_model_id = @deployed_model_id
  AND log.logging_time >= @since
  AND log.logging_time < @until
  AND ARRAY_LENGTH(log.response_payload) > 0

"""Model delivery: a challenger reaches serving through checks, a canary and a verdict.

    policy.py   the `serving:` section of contracts/promotion_policy.yaml, and the judges
                of the load test and the canary (pure functions)
    canary.py   per-model figures from prediction-log rows; challenger vs champion (pure)
    log.py      the prediction log's rows since a time (BigQuery SQL, DuckDB locally)
    server.py   the local model server: started by the rollout when it is not running
    report.py   the rollout's HTML report, with charts
    steps.py    what each model_rollout task does (the DAG file only wires them)
"""

"""Monitoring: what the model is asked and how well it answers, from the prediction log.

    policy.py     the `monitoring:` section of promotion_policy.yaml
    window.py     the queries (BigQuery SQL, DuckDB locally) and what they return
    checks.py     skew, prediction drift, performance decay, serving data quality; verdict
    request_rules.py   the retrain-request rules (cooldown, dedup)
    report.py     one run's HTML report
    dashboard.py  the page over time
    steps.py      what the model_monitoring DAG's tasks do
Nothing here imports Airflow.
"""

"""Drift evaluation: does the new window differ enough from the champion's data?

    config.py    drift_thresholds.yaml (shared with the pipeline env)
    profile.py   the profile SQL (BigQuery dialect; runs in the warehouse) and its result
    metrics.py   TFDV's distances: Jensen-Shannon (numeric), L-infinity (categorical)
    compare.py   per-feature comparison and the retrain policy
    report.py    the HTML page
Pure and light: nothing here imports Airflow, and only the warehouse backends run SQL.
"""

from ct_platform.drift.compare import evaluate
from ct_platform.drift.config import DriftConfig, load_drift_config
from ct_platform.drift.profile import (
    DataQualityError,
    build_profile_sql,
    check_data_quality,
    columns_to_profile,
    parse_profile,
    profile_kind,
    profile_window,
)

__all__ = ['DataQualityError', 'DriftConfig', 'build_profile_sql', 'check_data_quality',
           'columns_to_profile', 'evaluate', 'load_drift_config', 'parse_profile',
           'profile_kind', 'profile_window']

"""What a field of drift_thresholds.yaml means when the file leaves it out, for both of
its readers (the DAG's ct_platform.drift.config, the pipeline's drift_comparators).
Standard library only: the pipeline env loads this file by path."""

HISTOGRAM_BUCKETS = 10
NUMERIC_HISTOGRAM = 'quantiles'
TOP_K_VALUES = 1000
MAX_CHAMPION_AGE_DAYS = 30
MAX_DUPLICATE_RATE = 0.05
JENSEN_SHANNON_DIVERGENCE = 0.1
L_INFINITY = 0.1
MISSING_RATE_DELTA = 0.05

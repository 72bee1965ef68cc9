"""The DAG's drift thresholds as TFDV sees them: drift_comparators in a schema.

drift_thresholds.yaml (in the shared contracts folder) is read by the DAG's
evaluate_drift and here, so a TFDV validation of the same two datasets flags the same
features: a numeric feature gets a jensen_shannon_divergence comparator, a
categorical one an infinity_norm (L-infinity) comparator, with the same numbers, and
the statistics are generated with the same histogram sizes.
"""

from pathlib import Path

import yaml

from ct_pipeline.contracts import contracts_dir, drift_defaults


def load_thresholds(path=None) -> dict:
  return yaml.safe_load(Path(path or contracts_dir() / 'drift_thresholds.yaml').read_text())


def stats_options(thresholds: dict, **kwargs):
  """StatsOptions whose histograms match the warehouse profile's."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  d = drift_defaults()
  buckets = thresholds.get('histogram_buckets', d.HISTOGRAM_BUCKETS)
  return tfdv.StatsOptions(
      num_histogram_buckets=buckets, num_quantiles_histogram_buckets=buckets,
      num_rank_histogram_buckets=thresholds.get('top_k_values', d.TOP_K_VALUES), **kwargs)


def apply_drift_comparators(schema, thresholds: dict, features=None):
  """Sets each configured feature's drift comparator on `schema` (in place)."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  d = drift_defaults()
  quantiles = thresholds.get('numeric_histogram', d.NUMERIC_HISTOGRAM) == 'quantiles'
  defaults = thresholds.get('defaults') or {}
  jsd = (defaults.get('numeric') or {}).get('jensen_shannon_divergence',
                                             d.JENSEN_SHANNON_DIVERGENCE)
  linf = (defaults.get('categorical') or {}).get('l_infinity', d.L_INFINITY)
  present = {f.name for f in schema.feature}
  for name, spec in (thresholds.get('features') or {}).items():
    if name not in present or (features is not None and name not in features):
      continue
    comparator = tfdv.get_feature(schema, name).drift_comparator
    if spec['kind'] == 'numeric':
      comparator.jensen_shannon_divergence.threshold = spec.get(
          'jensen_shannon_divergence', jsd)
      if quantiles:
        comparator.jensen_shannon_divergence.source.type = (
            schema_pb2.HistogramSelection.QUANTILES)
    else:
      comparator.infinity_norm.threshold = spec.get('l_infinity', linf)
  return schema

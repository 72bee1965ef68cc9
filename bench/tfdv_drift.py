"""The TFDV route of `make bench-drift` (runs in .venv-pipeline).

    tfdv_drift.py --baseline-csv a.csv --new-csv b.csv --out result.json [--workers 0]
GenerateStatistics of both CSVs on Beam's DirectRunner (multi_processing, all cores by
default), then validate_statistics with the drift comparators drift_thresholds.yaml
sets. Writes seconds, peak RSS (this process and its workers) and the flagged features.
"""

import argparse
import json
import resource
import sys
import time

from ct_pipeline import drift_comparators


def main() -> int:
  p = argparse.ArgumentParser()
  p.add_argument('--baseline-csv', required=True)
  p.add_argument('--new-csv', required=True)
  p.add_argument('--out', required=True)
  p.add_argument('--workers', type=int, default=0, help='0: one per core')
  args = p.parse_args()
  import tensorflow_data_validation as tfdv
  from apache_beam.options.pipeline_options import PipelineOptions
  from tensorflow_metadata.proto.v0 import anomalies_pb2

  thresholds = drift_comparators.load_thresholds()
  options = drift_comparators.stats_options(thresholds)
  beam = PipelineOptions(['--direct_running_mode=multi_processing',
                          f'--direct_num_workers={args.workers}'])
  started = time.perf_counter()
  base = tfdv.generate_statistics_from_csv(args.baseline_csv, stats_options=options,
                                           pipeline_options=beam)
  stats_base = time.perf_counter() - started
  new = tfdv.generate_statistics_from_csv(args.new_csv, stats_options=options,
                                          pipeline_options=beam)
  schema = drift_comparators.apply_drift_comparators(tfdv.infer_schema(base), thresholds)
  anomalies = tfdv.validate_statistics(new, schema, previous_statistics=base)
  seconds = time.perf_counter() - started
  drift_types = {anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
                 anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH}
  flagged = sorted(name for name, a in anomalies.anomaly_info.items()
                   if any(r.type in drift_types for r in a.reason))
  distances = {info.path.step[0]: m.value for info in anomalies.drift_skew_info
               for m in info.drift_measurements}
  rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
  with open(args.out, 'w') as f:
    json.dump({'seconds': seconds, 'stats_seconds_baseline': stats_base, 'peak_rss_mb': rss,
               'flagged': flagged, 'distances': distances}, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())

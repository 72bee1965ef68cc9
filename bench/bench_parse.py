"""DAG parse time: each file in dags/ parsed by Airflow's DagBag, Airflow already imported.

    make bench-parse
Prints per-file parse time (median of several parses, each in a fresh module), and for
reference the time to import the Google provider's BigQuery operators, which a DAG
file that imported them at the top would pay at every parse.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
  os.environ.setdefault('AIRFLOW_HOME', tempfile.mkdtemp(prefix='bench-parse-'))
  sys.path.insert(0, str(REPO / 'plugins'))
  import airflow.sdk  # noqa: F401  (already imported in a DAG processor)
  from airflow.dag_processing.dagbag import DagBag

  DagBag(str(REPO / 'dags'))  # warm: plugins package and airflow internals
  for path in sorted((REPO / 'dags').glob('*.py')):
    times = []
    for _ in range(5):
      started = time.perf_counter()
      bag = DagBag(str(path))
      times.append(time.perf_counter() - started)
      assert not bag.import_errors, bag.import_errors
    print(f'parse {path.name:<28} {statistics.median(times) * 1000:7.1f} ms '
          f'(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, 5 parses)')
  started = time.perf_counter()
  import airflow.providers.google.cloud.operators.bigquery  # noqa: F401
  print(f'reference: importing the provider\'s BigQuery operators once: '
        f'{(time.perf_counter() - started) * 1000:.0f} ms')
  return 0


if __name__ == '__main__':
  sys.exit(main())

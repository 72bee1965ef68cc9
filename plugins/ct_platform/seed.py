"""Seeds the local DuckDB warehouse from the taxi sample (TFX's, copied into the repo).

    python -m ct_platform.seed [--csv pipeline/data/taxi_sample/data.csv]

The table gets the public BigQuery table's columns and types, under its BigQuery
name, so the production query runs unchanged. Seeding twice is a no-op.
"""

import argparse
import sys

from ct_platform.config import REPO_ROOT, load_settings

SAMPLE_CSV = REPO_ROOT / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv'


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m ct_platform.seed', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--csv', default=str(SAMPLE_CSV),
                 help='a CSV in the TFX taxi sample\'s columns (default: %(default)s)')
  args = p.parse_args(argv)
  from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse

  settings = load_settings(use_variable=False)
  warehouse = DuckDBWarehouse(settings.warehouse_file, settings.source_table)
  before = warehouse.row_count()
  rows = warehouse.seed_from_tfx_csv(args.csv)
  verb = 'already seeded' if before else 'seeded'
  print(f'warehouse {settings.warehouse_file}: {verb}, {rows} rows in '
        f'{settings.source_table}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

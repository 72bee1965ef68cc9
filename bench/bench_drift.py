"""Drift evaluation in the warehouse vs the TFDV route, same tables, same invocation.

    make bench-drift [SIZES=1000000,10000000] [TFDV_SIZES=1000000]
The shipped taxi sample is scaled up in DuckDB (resampled with noise; the new window's
fares shifted (x1.5 + $3) so there is drift to agree on). For each size:
  ours  python -m ct_platform.drift.cli profile (baseline, new) + compare, on the DuckDB table
  tfdv  export both tables to CSV, GenerateStatistics (DirectRunner multi_processing, all
        cores), validate_statistics with the same thresholds (bench/tfdv_drift.py)
Both sides run as their own processes; seconds exclude interpreter start-up and imports.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ['fare', 'trip_miles', 'trip_seconds', 'pickup_latitude', 'pickup_longitude',
           'dropoff_latitude', 'dropoff_longitude', 'payment_type', 'company', 'tips']


def build_tables(db: Path, sample_csv: str, sizes: list[int]) -> None:
  import duckdb

  con = duckdb.connect(str(db))
  con.execute(f"CREATE OR REPLACE TABLE sample AS SELECT {', '.join(COLUMNS)} "
              f"FROM read_csv('{sample_csv}', header=true)")
  n_sample = con.execute('SELECT count(*) FROM sample').fetchone()[0]
  for size in sizes:
    copies = -(-size // n_sample)
    for name, seed, fare_factor, fare_offset in (('base', 0.1, 1.0, 0), ('new', 0.2, 1.5, 3)):
      table = f'{name}_{size}'
      if con.execute('SELECT count(*) FROM duckdb_tables() WHERE table_name = ?',
                     [table]).fetchone()[0]:
        continue
      con.execute(f'SELECT setseed({seed})')
      # every column resampled with a little noise, so rows are not plain copies
      con.execute(f"""
        CREATE TABLE {table} AS SELECT
          round((fare * {fare_factor} + {fare_offset}) * (0.95 + 0.1 * random()), 2) AS fare,
          round(trip_miles * (0.95 + 0.1 * random()), 2) AS trip_miles,
          CAST(trip_seconds * (0.95 + 0.1 * random()) AS BIGINT) AS trip_seconds,
          pickup_latitude + 0.001 * (random() - 0.5) AS pickup_latitude,
          pickup_longitude + 0.001 * (random() - 0.5) AS pickup_longitude,
          dropoff_latitude + 0.001 * (random() - 0.5) AS dropoff_latitude,
          dropoff_longitude + 0.001 * (random() - 0.5) AS dropoff_longitude,
          payment_type, company,
          round(tips * (0.95 + 0.1 * random()), 2) AS tips
        FROM sample, range({copies}) ORDER BY random() LIMIT {size}""")
  con.close()


def run_ours(db: Path, size: int, out: Path, memory_limit: str | None = None) -> dict:
  """The DAG's drift step on two tables; memory_limit None: the setting's default."""
  env = dict(os.environ, PYTHONPATH=str(REPO / 'plugins'))
  cli = [sys.executable, '-m', 'ct_platform.drift.cli']
  limit = [] if memory_limit is None else ['--memory-limit', memory_limit]
  if memory_limit is not None:  # its own files: the default run's stay as they were
    out = out / f'memory-limit-{memory_limit}'
    out.mkdir(parents=True, exist_ok=True)
  results = []
  for name in ('base', 'new'):
    subprocess.run(cli + ['profile', '--duckdb', str(db), '--table', f'{name}_{size}',
                          '--out', str(out / f'ours-{name}-{size}.json')] + limit,
                   check=True, env=env)
    results.append(json.loads((out / f'ours-{name}-{size}.json').read_text())['timing'])
  subprocess.run(cli + ['compare', '--baseline', str(out / f'ours-base-{size}.json'), '--new',
                        str(out / f'ours-new-{size}.json'), '--out',
                        str(out / f'ours-verdict-{size}.json')],
                 check=True, env=env, capture_output=True)
  verdict = json.loads((out / f'ours-verdict-{size}.json').read_text())
  flagged = sorted(f['feature'] for f in verdict['features']
                   if f['feature'] in COLUMNS and f['distance'] is not None
                   and f['distance'] > f['threshold'])
  return {'seconds': sum(r['seconds'] for r in results) + verdict['timing']['seconds'],
          'peak_rss_mb': max(r['peak_rss_mb'] for r in results), 'flagged': flagged,
          'distances': {f['feature']: f['distance'] for f in verdict['features']
                        if f['feature'] in COLUMNS}}


def print_ours(size: int, r: dict, note: str = '') -> None:
  print(f'ours  {size:>10,} rows x 2: {r["seconds"]:7.2f} s  '
        f'{2 * size / r["seconds"]:>12,.0f} rows/s  peak RSS {r["peak_rss_mb"]:6.0f} MB  '
        f'flagged {r["flagged"]}{note}', flush=True)


def run_tfdv(db: Path, size: int, out: Path) -> dict:
  import duckdb

  started = time.perf_counter()
  con = duckdb.connect(str(db), read_only=True)
  for name in ('base', 'new'):
    con.execute(f"COPY {name}_{size} TO '{out / f'{name}-{size}.csv'}' (HEADER)")
  con.close()
  export = time.perf_counter() - started
  subprocess.run([str(REPO / '.venv-pipeline' / 'bin' / 'python'),
                  str(REPO / 'bench' / 'tfdv_drift.py'),
                  '--baseline-csv', str(out / f'base-{size}.csv'),
                  '--new-csv', str(out / f'new-{size}.csv'),
                  '--out', str(out / f'tfdv-{size}.json')],
                 check=True, env=dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'),
                                      TF_CPP_MIN_LOG_LEVEL='2'),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  result = json.loads((out / f'tfdv-{size}.json').read_text())
  for name in ('base', 'new'):
    (out / f'{name}-{size}.csv').unlink()
  return dict(result, export_seconds=export, seconds=result['seconds'] + export)


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--sample', required=True, help='the tfx wheel\'s taxi data.csv')
  p.add_argument('--sizes', default='1000000,10000000')
  p.add_argument('--tfdv-sizes', default='1000000')
  p.add_argument('--out', type=Path, default=REPO / 'build' / 'bench-drift')
  p.add_argument('--bounded-memory', default='256MB',
                 help='the largest size again with this warehouse_memory_limit (\'\' skips)')
  p.add_argument('--build-only', action='store_true', help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.build_only:
    build_tables(args.out / 'bench.duckdb', args.sample,
                 [int(s) for s in args.sizes.split(',')])
    return 0
  sizes = [int(s) for s in args.sizes.split(',')]
  tfdv_sizes = [int(s) for s in args.tfdv_sizes.split(',') if s]
  args.out.mkdir(parents=True, exist_ok=True)
  db = args.out / 'bench.duckdb'
  print(f'building tables {sizes} in {db} ...', flush=True)
  # in a child process: Linux carries a parent's peak RSS into the children it starts,
  # and the tables' DuckDB session would then be counted as each side's peak
  subprocess.run([sys.executable, __file__, '--build-only', '--sample', args.sample,
                  '--sizes', ','.join(map(str, sorted(set(sizes) | set(tfdv_sizes)))),
                  '--out', str(args.out)], check=True)
  ours, tfdv = {}, {}
  for size in sizes:
    ours[size] = run_ours(db, size, args.out)
    print_ours(size, ours[size])
  bounded = {}
  if args.bounded_memory:
    size = max(sizes)
    bounded[size] = run_ours(db, size, args.out, args.bounded_memory)
    print_ours(size, bounded[size], f'  (warehouse_memory_limit={args.bounded_memory})')
  for size in tfdv_sizes:
    print(f'tfdv  {size:>10,} rows x 2: running (export to CSV + GenerateStatistics) ...',
          flush=True)
    tfdv[size] = run_tfdv(db, size, args.out)
    r = tfdv[size]
    print(f'tfdv  {size:>10,} rows x 2: {r["seconds"]:7.2f} s  '
          f'{2 * size / r["seconds"]:>12,.0f} rows/s  peak RSS {r["peak_rss_mb"]:6.0f} MB  '
          f'flagged {r["flagged"]}  (CSV export {r["export_seconds"]:.1f} s)', flush=True)
  for size in tfdv_sizes:
    if size in ours:
      worst = max(abs(ours[size]['distances'][f] - tfdv[size]['distances'][f])
                  for f in tfdv[size]['distances'] if ours[size]['distances'].get(f) is not None)
      print(f'{size:,} rows: max |ours - tfdv| distance {worst:.4f}')
  (args.out / 'results.json').write_text(json.dumps(
      {'ours': ours, 'ours_bounded_memory': {'limit': args.bounded_memory, **bounded},
       'tfdv': tfdv}, indent=1))
  key = 1_000_000
  if key in ours and key in tfdv:
    speedup = tfdv[key]['seconds'] / ours[key]['seconds']
    identical = ours[key]['flagged'] == tfdv[key]['flagged']
    print(f'drift_speedup_vs_tfdv_1M={speedup:.1f} verdicts_identical={str(identical).lower()}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

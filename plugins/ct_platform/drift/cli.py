"""Drift from the command line, on files: the same profile SQL and comparison as the DAG.

    python -m ct_platform.drift.cli profile --csv span.csv --out profile.json
    python -m ct_platform.drift.cli profile --duckdb db.duckdb --table trips --out profile.json
    python -m ct_platform.drift.cli compare --baseline a.json --new b.json --out verdict.json \\
        [--html report.html] [--thresholds drift_thresholds.yaml]

Used by the TFDV agreement test (which runs in the pipeline env and calls this one)
and by `make bench-drift`.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from ct_platform import drift
from ct_platform.config import check_memory_limit, load_settings


def profile_duckdb_table(con, table: str, config) -> dict:
  """Profiles a DuckDB table or view with the BigQuery-dialect profile SQL."""
  from ct_platform import sql
  from ct_platform.drift.profile import profile_relation

  con.execute('SET enable_progress_bar = false')
  cursor = con.execute(f'SELECT * FROM "{table}" LIMIT 0')
  types = {d[0]: sql.canonical_type(str(d[1])) for d in cursor.description}
  return profile_relation(f'SELECT * FROM `{table}`', types,
                          lambda text: con.execute(sql.to_duckdb(text)).fetchall(), config)


def _profile(args, config) -> dict:
  import duckdb

  from ct_platform.backends.duckdb_warehouse import limit_memory

  if args.memory_limit is None:  # read here: `compare` needs no settings
    args.memory_limit = load_settings(use_variable=False).warehouse_memory_limit
  if args.csv:
    con = duckdb.connect()
    limit_memory(con, args.memory_limit)  # before a table can use the temp folder
    literal = str(args.csv).replace("'", "''")  # DDL takes no prepared parameters
    con.execute(f"CREATE TABLE span_data AS SELECT * FROM read_csv('{literal}', header=true)")
    return profile_duckdb_table(con, 'span_data', config)
  con = duckdb.connect(str(args.duckdb), read_only=True)
  limit_memory(con, args.memory_limit)
  try:
    return profile_duckdb_table(con, args.table, config)
  finally:
    con.close()


def _memory_limit(value: str) -> str:
  try:
    return check_memory_limit(value, '--memory-limit')
  except ValueError as e:
    raise argparse.ArgumentTypeError(str(e)) from e


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog='python -m ct_platform.drift.cli', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--thresholds', default=str(drift.config.THRESHOLDS_PATH))
  sub = p.add_subparsers(dest='command', required=True)
  pr = sub.add_parser('profile', help='profile a CSV file or a DuckDB table')
  src = pr.add_mutually_exclusive_group(required=True)
  src.add_argument('--csv', type=Path)
  src.add_argument('--duckdb', type=Path)
  pr.add_argument('--table', default='span_data')
  pr.add_argument('--memory-limit', type=_memory_limit,
                  help="DuckDB's memory_limit (default: the setting warehouse_memory_limit, "
                       'CT_WAREHOUSE_MEMORY_LIMIT)')
  pr.add_argument('--out', type=Path, required=True)
  cp = sub.add_parser('compare', help='compare two profiles and decide')
  cp.add_argument('--baseline', type=Path, required=True)
  cp.add_argument('--new', type=Path, required=True)
  cp.add_argument('--out', type=Path, required=True)
  cp.add_argument('--html', type=Path)
  args = p.parse_args(argv)
  config = drift.load_drift_config(args.thresholds)
  import duckdb  # noqa: F401  (imports are not part of the timed work)
  import sqlglot  # noqa: F401
  start = time.perf_counter()
  if args.command == 'profile':
    result = _profile(args, config)
  else:
    from ct_platform.drift.report import drift_report_html

    baseline = json.loads(args.baseline.read_text())
    new = json.loads(args.new.read_text())
    result = drift.evaluate(baseline, new, config, window_end='1970-01-01',
                            champion_window_end=None)
    if args.html:
      args.html.write_text(drift_report_html(result, baseline, new,
                                             f'Drift: {args.new} vs {args.baseline}'))
  result['timing'] = {'seconds': time.perf_counter() - start,
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
  args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
  if args.command == 'compare':
    print(result['reason'])
  return 0


if __name__ == '__main__':
  sys.exit(main())

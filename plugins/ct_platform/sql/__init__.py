"""SQL: one BigQuery-dialect source per query, and its DuckDB translation.

The SQL files are BigQuery Standard SQL with named query parameters (@name). For the
local warehouse, sqlglot transpiles the same text to DuckDB, plus the few fixes where
the two engines disagree on meaning and sqlglot keeps the syntax only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

NUMERIC_TYPES = {'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC'}
# DuckDB (and BigQuery legacy) type names -> BigQuery Standard SQL names.
_TYPE_ALIASES = {
    'BIGINT': 'INT64', 'INTEGER': 'INT64', 'INT': 'INT64', 'SMALLINT': 'INT64',
    'TINYINT': 'INT64', 'HUGEINT': 'INT64', 'UBIGINT': 'INT64', 'UINTEGER': 'INT64',
    'DOUBLE': 'FLOAT64', 'FLOAT': 'FLOAT64', 'REAL': 'FLOAT64', 'DECIMAL': 'NUMERIC',
    'VARCHAR': 'STRING', 'TEXT': 'STRING', 'BOOLEAN': 'BOOL',
    'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', 'TIMESTAMPTZ': 'TIMESTAMP',
}


def canonical_type(name: str) -> str:
  """A column type as BigQuery names it (DuckDB's DOUBLE -> FLOAT64, ...)."""
  base = re.sub(r'\(.*\)$', '', str(name).strip().upper())
  return _TYPE_ALIASES.get(base, base)


SQL_DIR = Path(__file__).resolve().parent
# project.dataset.table, as BigQuery spells table ids (project ids may hold '-').
TABLE_ID = re.compile(r'^[a-z][a-z0-9-]{4,61}[a-z0-9]'
                      r'\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}$')


def load(name: str, source_table: str) -> str:
  """The BigQuery text of sql/<name>.sql for the given (configured, trusted) table."""
  if not TABLE_ID.match(source_table):
    raise ValueError(f'source_table: {source_table!r} is not a BigQuery table id '
                     f'(project.dataset.table)')
  return (SQL_DIR / f'{name}.sql').read_text().replace('{source_table}', source_table)


@lru_cache(maxsize=16)
def referenced_columns(name: str, source_table: str) -> frozenset:
  """The source table's columns that sql/<name>.sql reads (lower case), from its parse
  tree: what the table must have before a job is worth starting. ORDER BY is left out
  (it may name an output alias)."""
  import sqlglot
  import sqlglot.expressions as exp

  tree = sqlglot.parse_one(load(name, source_table), read='bigquery')
  return frozenset(c.name.lower() for c in tree.find_all(exp.Column)
                   if c.find_ancestor(exp.Order) is None)


class SourceTableError(ValueError):
  """The source table cannot serve the query (missing, or lacking columns): a retry would
  fail the same way."""


def check_source_columns(name: str, source_table: str, columns: dict) -> None:
  """Raises SourceTableError naming each column the query needs and the table lacks."""
  if not columns:
    raise SourceTableError(f'source table {source_table} does not exist or has no columns '
                           f'(setting source_table)')
  missing = sorted(referenced_columns(name, source_table) - {c.lower() for c in columns})
  if missing:
    raise SourceTableError(
        f'source table {source_table} lacks column{"s" if len(missing) > 1 else ""} '
        f'{", ".join(missing)}, which sql/{name}.sql reads; it has: '
        f'{", ".join(sorted(columns))}. No extract job was started.')


def _fix_dayofweek(node):
  """BigQuery's DAYOFWEEK is 1 (Sunday) .. 7; DuckDB's is 0 (Sunday) .. 6."""
  import sqlglot.expressions as exp

  if (isinstance(node, exp.Extract) and isinstance(node.this, exp.Var)
      and node.this.name.upper() == 'DAYOFWEEK'):
    return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
  if isinstance(node, (exp.DayOfWeek,)):
    return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
  return node


# Values a local quantile sketch keeps: exact up to this many rows (the shipped sample has
# 15,002), bounded memory beyond. A quantile's rank then has a standard error of at most
# 0.35% of the rows (0.5 / sqrt(20,000), at the median), closer than TFDV's KLL sketch;
# 100,000 made the drift profile of a 1M-row window 0.15 s slower for no verdict that
# changed (make bench-drift)
RESERVOIR_SIZE = 20_000


def _fix_approx_quantiles(node):
  """BigQuery's APPROX_QUANTILES(x, n) gives n+1 boundaries from min to max; sqlglot maps
  it to DuckDB's t-digest APPROX_QUANTILE, which is approximate even on small data.
  RESERVOIR_QUANTILE over the same fractions is exact up to RESERVOIR_SIZE values (the
  local sample, the tests) and keeps memory flat beyond, like BigQuery's sketch."""
  import sqlglot.expressions as exp

  if isinstance(node, exp.ApproxQuantiles):
    n = int(node.expression.name)
    fractions = exp.Array(expressions=[exp.Literal.number(repr(k / n)) for k in range(n + 1)])
    return exp.Anonymous(this='RESERVOIR_QUANTILE', expressions=[
        node.this.copy(), fractions, exp.Literal.number(RESERVOIR_SIZE)])
  return node


def _fix_row_fingerprint(node):
  """FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(cols))), BigQuery's 64-bit fingerprint of a
  row, becomes DuckDB's 64-bit HASH(cols): sqlglot's literal mapping would serialize every
  row to JSON first (several times slower) and DuckDB has no FARM_FINGERPRINT."""
  import sqlglot.expressions as exp

  if isinstance(node, exp.FarmFingerprint) and len(node.expressions) == 1:
    arg = node.expressions[0]
    if isinstance(arg, exp.JSONFormat) and isinstance(arg.this, exp.Struct):
      return exp.Anonymous(this='HASH', expressions=[e.copy() for e in arg.this.expressions])
  return node


def _stream_row_level_ctes(node):
  """DuckDB materializes a CTE used more than once, so a row-level CTE (the window's
  rows, no aggregation) would be copied whole into memory. Streaming it instead keeps
  memory flat with the table's size; aggregate CTEs (a row or a few) stay materialized."""
  import sqlglot.expressions as exp

  if isinstance(node, exp.CTE) and isinstance(node.this, exp.Select):
    if not node.this.args.get('group') and not node.this.find(exp.AggFunc):
      node.set('materialized', False)
  return node


@lru_cache(maxsize=32)
def to_duckdb(bigquery_sql: str) -> str:
  """Transpiles BigQuery SQL to DuckDB; @name parameters become $name."""
  import sqlglot

  tree = sqlglot.parse_one(bigquery_sql, read='bigquery')
  # each fix walks the whole tree, so it also sees inside what an earlier one rewrote;
  # in place: the tree is this call's own, and copying per walk cost as much as the parse
  for fix in (_fix_dayofweek, _fix_approx_quantiles, _fix_row_fingerprint,
              _stream_row_level_ctes):
    tree = tree.transform(fix, copy=False)
  return tree.sql(dialect='duckdb')


def without_order(bigquery_sql: str) -> str:
  """The query without its final ORDER BY (to nest it as a subquery or CTE)."""
  import sqlglot

  tree = sqlglot.parse_one(bigquery_sql, read='bigquery')
  tree.set('order', None)
  return tree.sql(dialect='bigquery')


def parameters(sql: str) -> set[str]:
  """The @name query parameters a BigQuery SQL text uses."""
  import sqlglot
  import sqlglot.expressions as exp

  return {p.name for p in sqlglot.parse_one(sql, read='bigquery').find_all(exp.Parameter)}

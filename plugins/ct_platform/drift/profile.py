"""Profiles: what drift compares, computed by SQL where the data lives.

A profile is a few KB of JSON per window: the row count, and per feature its type,
missing count, and either an equal-width histogram (numeric; TFDV's standard
histogram: `histogram_buckets` buckets between min and max) or its value frequencies
(categorical; the `top_k_values` most frequent). No rows leave the warehouse.

The SQL is BigQuery Standard SQL built from the training-window query (one source);
the local warehouse runs it through sqlglot like every other query.
"""

from __future__ import annotations

import bisect
import json

from ct_platform.sql import NUMERIC_TYPES, canonical_type  # noqa: F401  (re-exported)

# Fine quantiles per histogram bucket: a quantiles histogram's counts are known to
# 1 / (buckets * FINE) of the rows (0.5% with 10 buckets). Locally each fine quantile
# costs a selection over the reservoir (sql.RESERVOIR_SIZE values): with 100,000 values,
# 1,001 of them took 0.14 s a feature at 1M rows, 201 took 0.03 s (11 took 0.02 s)
FINE = 20


def profile_kind(column_type: str, configured: str | None) -> str:
  """How a column is profiled: the configured kind if its type allows, else by type."""
  numeric = canonical_type(column_type) in NUMERIC_TYPES
  if configured == 'categorical' or not numeric:
    return 'categorical'
  return 'numeric'


def _q(name: str) -> str:
  return f'`{name}`'


def build_profile_sql(relation_sql: str, columns: dict, buckets: int, top_k: int,
                      numeric_histogram: str = 'quantiles',
                      row_columns: list | None = None) -> str:
  """BigQuery SQL profiling `relation_sql`'s columns ({name: 'numeric'|'categorical'}).

  Result rows: (feature, kind, value_key, n, lo, hi) with kind one of
    rows      n = the row count (feature '')
    distinct_rows  n = the number of distinct rows over `row_columns` (every column of the
              relation; feature ''): the rest are exact copies of another row (a load run
              twice, a join fan-out). Counted on a 64-bit fingerprint of each row, so memory
              is 8 bytes a row, not the row (two different rows collide with probability
              about n^2 / 2^65: 3e-6 at 10M rows)
    range     n = non-null count, lo/hi = min/max of the finite values (numeric)
    nonfinite n = NaN and infinite values (numeric; left out of min/max and the
              histogram, as TFDV leaves NaN out of its histograms)
    quantiles value_key = APPROX_QUANTILES(x, buckets * FINE) as a JSON array, n = the
              finite values, lo/hi = their exact min/max       (numeric, quantiles)
    bucket    value_key = bucket index 0..buckets, n = count   (numeric, standard;
              index `buckets` is the maximum itself and belongs to the last bucket)
    distinct  n = non-null count, lo = number of distinct values (categorical)
    value     value_key = the value as a string, n = count     (categorical, top k)

  Each numeric column is cast and cleared of NaN/infinity once per row (the `vals` CTE),
  and every aggregate reads that column: a repeated expression is evaluated again for
  each aggregate that names it. One pass over the rows: a quantiles histogram's counts come
  from the fine quantiles (quantiles_from_fine), as TFDV's come from its KLL sketch, not
  from a second pass counting each value against the boundaries.
  """
  if numeric_histogram not in ('quantiles', 'standard'):
    raise ValueError(f'numeric_histogram: {numeric_histogram!r} is not quantiles or standard')
  buckets = int(buckets)
  bound_cols = ['COUNT(*) AS rows__n']
  raw_cols, finite_cols = [], []
  parts = ["SELECT '' AS feature, 'rows' AS kind, CAST(NULL AS STRING) AS value_key, "
           'rows__n AS n, CAST(NULL AS FLOAT64) AS lo, CAST(NULL AS FLOAT64) AS hi FROM bounds']
  if row_columns:
    # a DISTINCT subquery, not COUNT(DISTINCT): DuckDB spills a grouping to disk when it
    # outgrows the memory limit, while a distinct aggregate's state must fit in memory
    fields = ', '.join(_q(name) for name in row_columns)
    parts.append("SELECT '', 'distinct_rows', CAST(NULL AS STRING), COUNT(*), NULL, NULL "
                 f'FROM (SELECT DISTINCT FARM_FINGERPRINT(TO_JSON_STRING(STRUCT({fields}))) '
                 'FROM span)')
  for i, (name, kind) in enumerate(sorted(columns.items())):
    c, a = _q(name), f'c{i}'
    if kind == 'numeric':
      raw, x = f'{a}__raw', f'{a}__x'  # x: the finite values only
      raw_cols.append(f'CAST({c} AS FLOAT64) AS {raw}')
      finite_cols.append(f'IF(IS_NAN({raw}) OR IS_INF({raw}), NULL, {raw}) AS {x}')
      bound_cols += [f'COUNT({raw}) AS {a}__n', f'MIN({x}) AS {a}__min',
                     f'MAX({x}) AS {a}__max',
                     f'COUNTIF({raw} IS NOT NULL AND {x} IS NULL) AS {a}__nonfinite']
      parts.append(f"SELECT '{name}', 'range', CAST(NULL AS STRING), {a}__n, {a}__min, "
                   f'{a}__max FROM bounds')
      parts.append(f"SELECT '{name}', 'nonfinite', CAST(NULL AS STRING), {a}__nonfinite, "
                   f'NULL, NULL FROM bounds')
      if numeric_histogram == 'quantiles':
        bound_cols += [f'APPROX_QUANTILES({x}, {buckets * FINE}) AS {a}__q',
                       f'COUNT({x}) AS {a}__finite']
        parts.append(f"SELECT '{name}', 'quantiles', TO_JSON_STRING({a}__q), {a}__finite, "
                     f'{a}__min, {a}__max FROM bounds')
        continue
      parts.append(
          f"SELECT '{name}', 'bucket', CAST(b AS STRING), COUNT(*), NULL, NULL FROM ("
          f'SELECT COALESCE(CAST(FLOOR(SAFE_DIVIDE({x} - {a}__min, '
          f'{a}__max - {a}__min) * {buckets}) AS INT64), 0) AS b '
          f'FROM vals CROSS JOIN bounds WHERE {x} IS NOT NULL) GROUP BY b')
    elif kind == 'categorical':
      bound_cols += [f'COUNT({c}) AS {a}__n',
                     f'COUNT(DISTINCT CAST({c} AS STRING)) AS {a}__distinct']
      parts.append(f"SELECT '{name}', 'distinct', CAST(NULL AS STRING), {a}__n, "
                   f'CAST({a}__distinct AS FLOAT64), NULL FROM bounds')
      parts.append(
          f"(SELECT '{name}', 'value', CAST({c} AS STRING) AS value_key, COUNT(*) AS n, "
          f'NULL, NULL FROM span WHERE {c} IS NOT NULL GROUP BY value_key '
          f'ORDER BY n DESC, value_key LIMIT {int(top_k)})')
    else:
      raise ValueError(f'column {name}: kind {kind!r} is not numeric or categorical')
  ctes = [f'span AS ({relation_sql})',
          f'raw AS (SELECT {", ".join(["*"] + raw_cols)} FROM span)',
          f'vals AS (SELECT {", ".join(["*"] + finite_cols)} FROM raw)',
          f'bounds AS (SELECT {", ".join(bound_cols)} FROM vals)']
  return 'WITH ' + ',\n'.join(ctes) + '\n' + '\nUNION ALL '.join(parts)


def columns_to_profile(column_types: dict, config) -> dict:
  """{column: kind} for the configured features the relation has (the rest is ignored)."""
  return {name: profile_kind(column_types[name], spec.kind)
          for name, spec in config.features.items() if name in column_types}


def profile_window(warehouse, window, config) -> dict:
  """The drift profile of a training window, computed where the data lives.

  The one recipe for every warehouse: the window query's column types (no rows read),
  the columns the config profiles, the profile SQL built from the window query (one
  BigQuery-dialect source), its rows, parsed. The warehouse offers only what differs:
  `window_sql()`, `column_types(sql, window)`, `query_rows(sql, window)` and
  `profile_origin()` (Warehouse in backends/base.py).
  """
  relation = warehouse.window_sql()
  types = warehouse.column_types(relation, window)
  return dict(profile_relation(relation, types, lambda text: warehouse.query_rows(
      text, window), config), window=window.as_dict(), **warehouse.profile_origin())


def profile_relation(relation_sql: str, types: dict, run_query, config) -> dict:
  """The profile of any relation whose column types are known; run_query(sql) -> rows."""
  kinds = columns_to_profile(types, config)
  text = build_profile_sql(relation_sql, kinds, config.histogram_buckets,
                           config.top_k_values, config.numeric_histogram,
                           row_columns=list(types))
  rows = run_query(text)
  return dict(parse_profile(rows, types, kinds, config.histogram_buckets), columns=types)


def parse_profile(rows, column_types: dict, kinds: dict, buckets: int) -> dict:
  """The profile dict from build_profile_sql's result rows."""
  quantiles: dict = {}
  features = {name: {'kind': kinds[name], 'type': canonical_type(column_types[name])}
              for name in kinds}
  total = 0
  distinct_rows = None
  bucket_counts: dict = {}
  for feature, kind, key, n, lo, hi in rows:
    n = int(n or 0)
    if kind == 'rows':
      total = n
      continue
    if kind == 'distinct_rows':
      distinct_rows = n
      continue
    f = features[feature]
    if kind == 'range':
      f.update(present=n, min=lo, max=hi)
    elif kind == 'nonfinite':
      f['non_finite'] = n
    elif kind == 'bucket':
      index = min(int(key), buckets - 1)  # the maximum closes the last bucket
      bucket_counts.setdefault(feature, {})
      bucket_counts[feature][index] = bucket_counts[feature].get(index, 0) + n
    elif kind == 'quantiles':
      quantiles[feature] = quantiles_from_fine(json.loads(key) if key else None, n, lo, hi,
                                               buckets)
    elif kind == 'distinct':
      f.update(present=n, distinct=int(lo or 0))
    elif kind == 'value':
      f.setdefault('values', {})[key] = n
  for name, f in features.items():
    f['missing'] = total - f.get('present', 0)
    if f['kind'] == 'numeric' and name in quantiles:
      f['histogram_type'] = 'quantiles'
      f['histogram'] = quantiles_histogram(*quantiles[name])
    elif f['kind'] == 'numeric':
      f['histogram_type'] = 'standard'
      f['histogram'] = equal_width_histogram(f.get('min'), f.get('max'), buckets,
                                             bucket_counts.get(name, {}))
    else:
      f.setdefault('values', {})
  profile = {'rows': total, 'histogram_buckets': buckets, 'features': features}
  if distinct_rows is not None:
    profile['duplicate_rows'] = total - distinct_rows
  return profile


class DataQualityError(ValueError):
  """The window's data is unfit to train on, whatever its drift (not retried)."""


def check_data_quality(profile: dict, max_duplicate_rate: float | None) -> dict:
  """{'duplicate_rows', 'duplicate_rate', 'max_duplicate_rate', 'message'}; raises
  DataQualityError when the duplicate rate exceeds the threshold (None: not checked)."""
  rows, duplicates = profile.get('rows') or 0, profile.get('duplicate_rows')
  rate = (duplicates / rows) if rows and duplicates is not None else None
  result = {'duplicate_rows': duplicates, 'duplicate_rate': rate,
            'max_duplicate_rate': max_duplicate_rate}
  if rate is None:
    result['message'] = 'duplicate rows: not profiled'
  else:
    result['message'] = (f'duplicate rows: {duplicates} of {rows} ({rate:.1%}) are exact '
                         f'copies of another row')
  # NaN / infinity: reported here (drift leaves them out of its histograms); the
  # pipeline's data validation stops the run on them, naming the feature
  non_finite = {name: f['non_finite'] for name, f in sorted(profile.get('features', {})
                                                              .items()) if f.get('non_finite')}
  result['non_finite'] = non_finite
  if non_finite:
    result['message'] += '; non-finite values: ' + ', '.join(
        f'{name} {n}' for name, n in non_finite.items())
  if rate is not None and max_duplicate_rate is not None and rate > max_duplicate_rate:
    raise DataQualityError(
        f'data quality (evaluate_drift): {result["message"]}, above max_duplicate_rate '
        f'{max_duplicate_rate:g} of drift_thresholds.yaml; the window is not trained on '
        f'(copies weight those trips twice and can sit on both sides of the split). Fix '
        f'the load, or raise max_duplicate_rate if these are real repeated trips')
  return result


def equal_width_histogram(low, high, buckets: int, counts: dict) -> list:
  """[(low, high, count)] like TFDV's standard histogram; one point bucket if low == high."""
  if low is None or high is None:
    return []
  if low == high:
    return [[low, high, float(sum(counts.values()))]]
  width = (high - low) / buckets
  edges = [low + i * width for i in range(buckets)] + [high]
  return [[edges[i], edges[i + 1], float(counts.get(i, 0))] for i in range(buckets)]


def quantiles_from_fine(fine: list | None, finite: int, low, high, buckets: int) -> tuple:
  """(boundaries, cumulative counts) of a quantiles histogram from `buckets * FINE + 1`
  fine quantiles of `finite` values: boundary k is fine quantile k * FINE (the ends the
  exact min and max), and the values <= it are (finite - 1) * j // (buckets * FINE) + 1,
  j the last fine quantile equal to it: the rank of the last copy of that value, exact
  when fine quantile j is value floor((finite - 1) * j / (buckets * FINE)) of the sorted
  values (DuckDB's reservoir, up to buckets * FINE + 1 values; beyond, within
  1 / (buckets * FINE) of the rows). Without ties boundary k has k / buckets of the values
  below it; a value held by many rows spans many fine quantiles, so its weight is known
  as the exact second pass knew it, within that."""
  if not fine or not finite or low is None:
    return [None], [0]
  # the ends exact; inside, sorted and within them (a sketch's values are the data's, in
  # order, but nothing below may rely on it)
  fine = [low, *sorted(min(max(v, low), high) for v in fine[1:-1]), high]
  last = len(fine) - 1
  boundaries, cumulative = [], []
  for k in range(buckets + 1):
    b = fine[last * k // buckets]
    j = bisect.bisect_right(fine, b) - 1
    boundaries.append(b)
    cumulative.append((finite - 1) * j // last + 1)
  return boundaries, cumulative


def quantiles_histogram(boundaries: list, cumulative: list) -> list:
  """TFDV's quantiles histogram (quantiles_util._get_bin_weights): buckets between
  consecutive quantiles; weight of buckets sharing an upper bound spread evenly over
  them, and the count at the minimum spread over the leading identical buckets."""
  if not boundaries or boundaries[0] is None:
    return []
  low, high = boundaries[:-1], boundaries[1:]
  counts = [float(cumulative[i + 1] - cumulative[i]) for i in range(len(low))]
  i = 0
  while i < len(low):
    j = i + 1
    while j < len(low) and high[i] == high[j]:
      j += 1
    if j > i + 1:
      share = sum(counts[i:j]) / (j - i)
      counts[i:j] = [share] * (j - i)
    i = j
  lead = 0
  while lead < len(low) and low[lead] == low[0] and high[lead] == high[0]:
    lead += 1
  for t in range(lead):
    counts[t] += cumulative[0] / lead
  return [[low[t], high[t], counts[t]] for t in range(len(low))]

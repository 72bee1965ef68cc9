"""Drift: TFDV's distances, the profile SQL on DuckDB, the comparison and the policy.

Expected values come from TFDV's own tests (anomalies/metrics_test.cc) or are worked
out by hand; tests/pipeline/test_drift_agreement.py checks against TFDV itself.
"""

import dataclasses
import json
import math

import duckdb
import pytest

from ct_platform import drift, sql
from ct_platform.contracts import ContractError
from ct_platform.drift import metrics
from ct_platform.drift.cli import main as drift_cli
from ct_platform.drift.cli import profile_duckdb_table
from ct_platform.drift.profile import FINE, canonical_type, quantiles_from_fine, quantiles_histogram
from ct_platform.drift.report import drift_report_html

CONFIG = drift.load_drift_config()


# --- metrics ---------------------------------------------------------------------------

def test_jsd_different_bucket_boundaries_as_in_tfdv_metrics_test():
  h1 = [(1.0, 2.0, 2.0), (2.0, 3.0, 2.0)]
  h2 = [(2.0, 4.0, 2.0), (4.0, 6.0, 2.0)]
  assert metrics.jensen_shannon_divergence(h1, h2) == pytest.approx(0.65563906222, abs=1e-9)


def test_jsd_identical_is_zero_disjoint_is_one_and_empty_is_undefined():
  h = [(1.0, 2.3333333, 2.9866667), (2.3333333, 3.6666667, 1.0066667),
       (3.6666667, 5.0, 2.0066667)]
  assert metrics.jensen_shannon_divergence(h, h) == pytest.approx(0.0, abs=1e-12)
  assert metrics.jensen_shannon_divergence([(0, 1, 2), (1, 2, 2)],
                                           [(3, 4, 2), (4, 5, 2)]) == pytest.approx(1.0)
  assert metrics.jensen_shannon_divergence([], h) is None


def test_point_masses_are_compared_as_points():
  # all values equal to 5 in one window, to 6 in the other: no overlap at all
  assert metrics.jensen_shannon_divergence([(5, 5, 10)], [(6, 6, 10)]) == pytest.approx(1.0)
  assert metrics.jensen_shannon_divergence([(5, 5, 10)], [(5, 5, 3)]) == pytest.approx(0.0)


def test_l_infinity_normalizes_each_side_and_names_the_value():
  key, value = metrics.l_infinity({'Cash': 70, 'Card': 30}, {'Cash': 30, 'Card': 40,
                                                             'Mobile': 30})
  assert key == 'Cash' and value == pytest.approx(0.7 - 0.3)
  # ties go to the last value in sorted order, as TFDV's std::map iteration with >=
  assert metrics.l_infinity({'a': 1, 'b': 1}, {'a': 1, 'b': 1, 'c': 0})[0] == 'c'
  assert metrics.l_infinity({}, {'a': 1}) is None


def test_psi_is_zero_for_the_same_distribution_and_grows_with_change():
  assert metrics.psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
  small, large = metrics.psi([50, 50], [45, 55]), metrics.psi([50, 50], [10, 90])
  assert 0 < small < 0.05 < 0.25 < large


def test_quantiles_histogram_matches_tfdv_bin_weights():
  # values 0,0,0,0,0,1,2,2,3,10: what tfx_bsl's exact sketch returns for 10 quantiles
  q = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 10.0, 10.0]
  c = [5, 5, 5, 5, 5, 6, 8, 8, 9, 10, 10]
  hist = quantiles_histogram(q, c)
  assert [b[2] for b in hist[:4]] == [1.25] * 4  # the 5 zeros over the 4 point buckets
  assert hist[4] == [0.0, 1.0, 1.0]
  assert hist[5] == [1.0, 2.0, 1.0] and hist[6] == [2.0, 2.0, 1.0]  # upper bound 2: spread
  assert hist[8] == [3.0, 10.0, 0.5] and hist[9] == [10.0, 10.0, 0.5]
  assert sum(b[2] for b in hist) == pytest.approx(10)


def test_fine_quantiles_give_the_tfdv_sketch_counts_ties_included():
  # the ten values in proportion, 10,000 values; buckets * FINE + 1 fine quantiles
  values = sorted([0.0] * 5000 + [1.0] * 1000 + [2.0] * 2000 + [3.0] * 1000 + [10.0] * 1000)
  last = 10 * FINE
  fine = [values[min(len(values) - 1, len(values) * j // last)] for j in range(last + 1)]
  boundaries, cumulative = quantiles_from_fine(fine, len(values), 0.0, 10.0, 10)
  assert boundaries == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 10.0, 10.0]
  exact = [sum(v <= b for v in values) for b in boundaries]  # what a second pass counts
  assert all(abs(c - e) <= len(values) / last for c, e in zip(cumulative, exact)), (
      cumulative, exact)
  hist = quantiles_histogram(boundaries, cumulative)
  assert sum(b[2] for b in hist) == pytest.approx(len(values))
  # the zeros over the 4 point buckets
  assert [b[2] for b in hist[:4]] == pytest.approx([1250] * 4, abs=len(values) / last)
  # without ties: k / buckets of the values, the ends the exact min and max
  fine = [0.5 + j for j in range(last + 1)]
  boundaries, cumulative = quantiles_from_fine(fine, 5000, 0.0, last + 1.0, 10)
  assert boundaries[0] == 0.0 and boundaries[-1] == last + 1.0
  assert boundaries[5] == fine[last // 2]
  assert cumulative == [1] + [500 * k for k in range(1, 11)]  # the min is one value
  assert quantiles_from_fine(None, 0, None, None, 10) == ([None], [0])


# --- config ----------------------------------------------------------------------------

def test_shipped_thresholds_load(tmp_path):
  assert CONFIG.features['fare'].kind == 'numeric'
  assert CONFIG.features['fare'].metric == 'jensen_shannon_divergence'
  assert CONFIG.features['company'].distance == 0.1
  assert CONFIG.features['pickup_census_tract'].distance == 0.15
  assert 'trip_start_timestamp' in CONFIG.ignore and CONFIG.numeric_histogram == 'quantiles'


@pytest.mark.parametrize('text, message', [
    ('features: {fare: {kind: number}}', "features.fare.kind: 'number' is not one of"),
    ('features: {fare: {kind: numeric, l_infinity: 0.2}}', "['l_infinity'] not allowed"),
    ('features: {fare: {kind: numeric, jensen_shannon_divergence: 2}}',
     'jensen_shannon_divergence: 2 must be between 0 and 1'),
    ('features: {"fa re": {kind: numeric}}', 'is not a column name'),
    ('features: {}', 'must list at least one feature'),
    ('numeric_histogram: kll\nfeatures: {fare: {kind: numeric}}', "'kll' is not one of"),
    ('threshold: 1\nfeatures: {fare: {kind: numeric}}', "unknown top-level keys ['threshold']"),
    ('max_duplicate_rate: 5\nfeatures: {fare: {kind: numeric}}',
     'max_duplicate_rate: 5 must be between 0 and 1'),
])
def test_bad_thresholds_name_the_field(tmp_path, text, message):
  path = tmp_path / 'drift.yaml'
  path.write_text(text)
  with pytest.raises(ContractError, match=None) as e:
    drift.load_drift_config(path)
  assert message in str(e.value) and str(path) in str(e.value)


# --- profile SQL on DuckDB -------------------------------------------------------------

def _table(con, name, rows, types='fare DOUBLE, trips BIGINT, company VARCHAR'):
  con.execute(f'CREATE TABLE {name} ({types})')
  if rows:
    con.executemany(f'INSERT INTO {name} VALUES ({", ".join("?" * len(rows[0]))})', rows)


def _config(**changes):
  features = {
      'fare': drift.config.FeatureThresholds('fare', 'numeric', 0.15, 0.05),
      'trips': drift.config.FeatureThresholds('trips', 'numeric', 0.15, 0.05),
      'company': drift.config.FeatureThresholds('company', 'categorical', 0.1, 0.05)}
  return dataclasses.replace(CONFIG, features=features, max_champion_age_days=30, **changes)


def test_profile_sql_is_bigquery_text_and_counts_exactly():
  text = drift.build_profile_sql('SELECT * FROM `p.d.t`', {'fare': 'numeric',
                                                           'company': 'categorical'}, 10, 1000)
  assert 'APPROX_QUANTILES' in text and 'COUNTIF' in text and 'SAFE_' not in text
  con = duckdb.connect()
  rows = [(float(i), i % 3, 'a' if i < 70 else 'b') for i in range(100)] + [(None, None, None)]
  _table(con, 'trips', rows)
  profile = profile_duckdb_table(con, 'trips', _config())
  assert profile['rows'] == 101
  fare = profile['features']['fare']
  assert (fare['type'], fare['missing'], fare['min'], fare['max']) == ('FLOAT64', 1, 0.0, 99.0)
  assert fare['histogram_type'] == 'quantiles'
  assert sum(b[2] for b in fare['histogram']) == pytest.approx(100)
  bounds = [b[0] for b in fare['histogram']] + [fare['histogram'][-1][1]]
  assert len(bounds) == 11 and bounds[0] == 0 and bounds[-1] == 99
  assert all(abs(x - 9.9 * k) <= 1 for k, x in enumerate(bounds))  # deciles
  company = profile['features']['company']
  assert company['values'] == {'a': 70, 'b': 30} and company['distinct'] == 2
  assert profile['features']['trips']['type'] == 'INT64'


@pytest.mark.parametrize('fares', [
    [1.0, 2.0], [5.0], [float(i) for i in range(10)],
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 10.0],
    [float(i % 7) for i in range(150)], [float(i % 13) * 1.5 for i in range(5000)]])
def test_the_one_pass_histogram_has_the_exact_counts_of_small_windows(fares):
  """Up to buckets * FINE + 1 values the fine quantiles hold every value, so the counts
  equal what a second pass counting values <= each boundary gives (ties included); beyond,
  each is within 1 / (buckets * FINE) of the rows."""
  con = duckdb.connect()
  _table(con, 'trips', [(f, 1, 'a') for f in fares])
  fare = profile_duckdb_table(con, 'trips', _config())['features']['fare']
  bounds = [b[0] for b in fare['histogram']] + [fare['histogram'][-1][1]]
  exact = quantiles_histogram(bounds, [sum(v <= b for v in fares) for b in bounds])
  slack = 0 if len(fares) <= 10 * FINE + 1 else len(fares) / (10 * FINE)
  assert [b[2] for b in fare['histogram']] == pytest.approx([b[2] for b in exact],
                                                             abs=slack + 1e-9), (fare, exact)


def test_profile_counts_rows_that_are_exact_copies():
  con = duckdb.connect()
  rows = [(float(i), i, 'a') for i in range(10)]
  _table(con, 'once', rows)
  _table(con, 'twice', rows + rows + [(0.0, 0, 'a')])  # 21 rows, 10 distinct
  assert profile_duckdb_table(con, 'once', _config())['duplicate_rows'] == 0
  assert profile_duckdb_table(con, 'twice', _config())['duplicate_rows'] == 11
  # a copy is a copy in every column, profiled or not; all-NULL rows are copies too
  types = 'fare DOUBLE, trips BIGINT, company VARCHAR, note VARCHAR'
  _table(con, 'noted', [r + (f'n{i}',) for i, r in enumerate(rows + rows)], types)
  _table(con, 'nulls', [(None, None, None, None)] * 3 + [(None, None, 'a', None)], types)
  assert profile_duckdb_table(con, 'noted', _config())['duplicate_rows'] == 0
  assert profile_duckdb_table(con, 'nulls', _config())['duplicate_rows'] == 2


def test_the_row_fingerprint_is_farm_fingerprint_on_bigquery_and_hash_on_duckdb():
  text = drift.build_profile_sql('SELECT * FROM `p.d.t`', {'fare': 'numeric'}, 10, 5,
                                 row_columns=['fare', 'note'])
  assert ('SELECT DISTINCT FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(`fare`, `note`))) '
          'FROM span') in text
  local = sql.to_duckdb(text)
  assert 'SELECT DISTINCT HASH("fare", "note") FROM span' in local
  assert 'TO_JSON({' not in local and 'FARM_FINGERPRINT' not in local  # no row as JSON
  # without the relation's columns there is no duplicate count (a profile says so)
  assert 'distinct_rows' not in drift.build_profile_sql('SELECT 1 AS fare', {'fare': 'numeric'},
                                                        10, 5)


def test_nan_and_infinity_are_counted_and_kept_out_of_the_histogram():
  con = duckdb.connect()
  rows = [(float(i), i, 'a') for i in range(100)]
  _table(con, 'clean', rows)
  _table(con, 'broken', rows + [(float('nan'), 1, 'a')] * 10 + [(float('inf'), 1, 'a')])
  clean = profile_duckdb_table(con, 'clean', _config())['features']['fare']
  profile = profile_duckdb_table(con, 'broken', _config())
  fare = profile['features']['fare']
  assert fare['non_finite'] == 11 and fare['missing'] == 0
  assert (fare['min'], fare['max']) == (0.0, 99.0)
  assert fare['histogram'] == clean['histogram']  # the finite values, as TFDV bins them
  quality = drift.check_data_quality(profile, 0.5)
  assert quality['non_finite'] == {'fare': 11}
  assert quality['message'].endswith('; non-finite values: fare 11')


def test_duplicate_rate_over_its_threshold_stops_with_the_figures():
  profile = {'rows': 1202, 'duplicate_rows': 601}
  with pytest.raises(drift.DataQualityError) as e:
    drift.check_data_quality(profile, 0.05)
  assert str(e.value).startswith('data quality (evaluate_drift): duplicate rows: 601 of '
                                 '1202 (50.0%) are exact copies of another row, above '
                                 'max_duplicate_rate 0.05 of drift_thresholds.yaml')
  ok = drift.check_data_quality({'rows': 1000, 'duplicate_rows': 3}, 0.05)
  assert ok['duplicate_rate'] == 0.003 and ok['message'].startswith('duplicate rows: 3 of 1000')
  # null threshold: reported, never a stop; an old profile without the count: said so
  assert drift.check_data_quality(profile, None)['duplicate_rate'] == 0.5
  assert drift.check_data_quality({'rows': 5}, 0.05)['message'] == 'duplicate rows: not profiled'
  assert CONFIG.max_duplicate_rate == 0.05


def test_standard_histogram_profile_puts_the_maximum_in_the_last_bucket():
  con = duckdb.connect()
  _table(con, 't', [(float(i), 1, 'a') for i in range(11)])
  profile = profile_duckdb_table(con, 't', _config(numeric_histogram='standard'))
  fare = profile['features']['fare']
  assert fare['histogram_type'] == 'standard'
  assert [b[2] for b in fare['histogram']] == [1.0] * 9 + [2.0]
  assert fare['histogram'][0][:2] == [0.0, 1.0] and fare['histogram'][-1][1] == 10.0
  # all values equal: a single point bucket, as TFDV
  con.execute('UPDATE t SET fare = 4.0')
  fare = profile_duckdb_table(con, 't', _config(numeric_histogram='standard'))['features']['fare']
  assert fare['histogram'] == [[4.0, 4.0, 11.0]]


def test_approx_quantiles_becomes_a_bounded_reservoir_locally():
  out = sql.to_duckdb('SELECT APPROX_QUANTILES(x, 4) AS q FROM t')
  assert 'RESERVOIR_QUANTILE(x, [0.0, 0.25, 0.5, 0.75, 1.0], 20000)' in out


def test_canonical_types():
  assert [canonical_type(t) for t in ('DOUBLE', 'BIGINT', 'VARCHAR', 'DECIMAL(10,2)',
                                      'TIMESTAMP WITH TIME ZONE', 'FLOAT64')] == [
      'FLOAT64', 'INT64', 'STRING', 'NUMERIC', 'TIMESTAMP', 'FLOAT64']


# --- comparison and policy -------------------------------------------------------------

def _profiles(base_rows, new_rows, new_types='fare DOUBLE, trips BIGINT, company VARCHAR',
              config=None):
  con = duckdb.connect()
  _table(con, 'base', base_rows)
  _table(con, 'new', new_rows, new_types)
  config = config or _config()
  return (profile_duckdb_table(con, 'base', config), profile_duckdb_table(con, 'new', config),
          config)


BASE = [(float(i % 50), i % 7, ['a', 'b', 'c'][i % 3]) for i in range(3000)]


def test_same_data_does_not_retrain_and_says_why():
  base, new, config = _profiles(BASE, BASE)
  verdict = drift.evaluate(base, new, config, window_end='2016-05-13',
                           champion_window_end='2016-05-01')
  assert not verdict['retrain']
  assert verdict['reason'] == ('no significant drift in 3 features; champion trained on data '
                               'up to 2016-05-01, 12 days before this window\'s end (max 30)')
  assert all(f['distance'] == pytest.approx(0, abs=1e-12) for f in verdict['features'])


def test_shift_and_new_category_retrain_with_reasons():
  new_rows = [(f + 25.0, t, 'd' if i % 2 else c) for i, (f, t, c) in enumerate(BASE)]
  base, new, config = _profiles(BASE, new_rows)
  verdict = drift.evaluate(base, new, config, window_end='2016-05-13',
                           champion_window_end='2016-05-01')
  assert verdict['retrain'] and verdict['drifted_features'] == ['company', 'fare']
  company = next(f for f in verdict['features'] if f['feature'] == 'company')
  assert company['max_difference_value'] == 'd' and company['distance'] == pytest.approx(0.5)
  assert 'company: L-infinity distance 0.5000 > 0.1; largest change: \'d\'' in verdict['reason']
  assert 'fare: Jensen-Shannon divergence' in verdict['reason']


def test_missing_rate_change_is_its_own_reason():
  new_rows = [(None if i % 2 else f, t, c) for i, (f, t, c) in enumerate(BASE)]
  base, new, config = _profiles(BASE, new_rows)
  verdict = drift.evaluate(base, new, config, window_end='2016-05-02',
                           champion_window_end='2016-05-01')
  fare = next(f for f in verdict['features'] if f['feature'] == 'fare')
  assert fare['distance'] < 0.15  # the values left look alike
  assert fare['missing_rate']['exceeded'] and fare['missing_rate']['new'] == 0.5
  assert verdict['reasons'] == ['fare: missing rate 0.0% -> 50.0% (change +50.0%, '
                                'threshold 5.0%)']


def test_type_change_and_a_vanished_column_are_reported_as_such():
  new_rows = [(str(f), c) for f, _, c in BASE]
  base, new, config = _profiles(BASE, new_rows, new_types='fare VARCHAR, company VARCHAR')
  verdict = drift.evaluate(base, new, config, window_end='2016-05-02',
                           champion_window_end='2016-05-01')
  by_name = {f['feature']: f for f in verdict['features']}
  assert by_name['fare']['status'] == 'type_change' and by_name['fare']['distance'] is None
  assert ('fare: type changed: FLOAT64 in the champion\'s data, STRING in the new window'
          in verdict['reasons'])
  assert by_name['trips']['status'] == 'missing_in_new'
  assert ('trips: missing from the new window (the champion was trained with it)'
          in verdict['reasons'])
  assert verdict['retrain']


def test_a_feature_with_no_values_left_is_explained_not_scored_as_one():
  new_rows = [(None, t, c) for _, t, c in BASE]
  base, new, config = _profiles(BASE, new_rows)
  verdict = drift.evaluate(base, new, config, window_end='2016-05-02',
                           champion_window_end='2016-05-01')
  fare = next(f for f in verdict['features'] if f['feature'] == 'fare')
  assert fare['distance'] is None
  assert fare['problems'] == ['no values in the new window: distance not defined']
  assert 'fare: missing rate 0.0% -> 100.0%' in verdict['reason']


def test_age_in_data_time_and_force_retrain_and_no_baseline():
  base, new, config = _profiles(BASE, BASE)
  stale = drift.evaluate(base, new, config, window_end='2016-06-01',
                         champion_window_end='2016-05-01')
  assert stale['retrain'] and stale['champion_age_days'] == 31
  assert stale['reasons'] == ['champion is stale: trained on data up to 2016-05-01, 31 days '
                              'before this window\'s end (max 30)']
  forced = drift.evaluate(base, new, config, window_end='2016-05-02',
                          champion_window_end='2016-05-01', force_retrain=True)
  assert forced['retrain'] and forced['reasons'] == ['force_retrain is set']
  first = drift.evaluate(None, new, config, window_end='2016-05-02', champion_window_end=None)
  assert first['retrain'] and first['reason'] == 'retrain: no baseline (no champion yet)'
  unlimited = dataclasses.replace(config, max_champion_age_days=0)
  assert not drift.evaluate(base, new, unlimited, window_end='2030-01-01',
                            champion_window_end='2016-05-01')['retrain']


def test_report_has_a_table_row_per_feature_and_an_overlay_per_drifting_one():
  new_rows = [(f * 3 + 10, t, c) for f, t, c in BASE]
  base, new, config = _profiles(BASE, new_rows)
  verdict = drift.evaluate(base, new, config, window_end='2016-05-02',
                           champion_window_end='2016-05-01')
  page = drift_report_html(verdict, base, new, 'Drift: test')
  assert page.count('<tr') == 1 + len(verdict['features'])
  assert page.count('<svg') == len(verdict['drifted_features']) == 1
  assert 'RETRAIN' in page and 'fare: Jensen-Shannon' in page


def test_cli_profiles_csv_files_and_compares(tmp_path, capsys):
  a, b = tmp_path / 'a.csv', tmp_path / 'b.csv'
  a.write_text('fare,company\n' + ''.join(f'{i % 40},{"xy"[i % 2]}\n' for i in range(400)))
  b.write_text('fare,company\n' + ''.join(f'{i % 40},{"xz"[i % 2]}\n' for i in range(400)))
  assert drift_cli(['profile', '--csv', str(a), '--out', str(tmp_path / 'a.json')]) == 0
  assert drift_cli(['profile', '--csv', str(b), '--out', str(tmp_path / 'b.json')]) == 0
  assert drift_cli(['compare', '--baseline', str(tmp_path / 'a.json'), '--new',
                    str(tmp_path / 'b.json'), '--out', str(tmp_path / 'v.json'), '--html',
                    str(tmp_path / 'v.html')]) == 0
  verdict = json.loads((tmp_path / 'v.json').read_text())
  assert verdict['retrain'] and verdict['drifted_features'] == ['company']
  assert 'company: L-infinity distance 0.5000' in capsys.readouterr().out
  assert math.isfinite(verdict['timing']['seconds'])


def test_each_duckdb_fix_reaches_inside_another_fix_s_rewrite():
  # the quantile rewrite replaces the call; the day-of-week fix must still reach its argument
  out = sql.to_duckdb('SELECT APPROX_QUANTILES(EXTRACT(DAYOFWEEK FROM ts), 4) AS q FROM t')
  assert out.startswith('SELECT RESERVOIR_QUANTILE((EXTRACT(') and '+ 1)' in out

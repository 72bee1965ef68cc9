"""Our warehouse drift agrees with TFDV's drift comparators on the same data.

Runs in the pipeline env: TFDV generates statistics of each CSV and
validate_statistics(new, schema, previous_statistics=baseline) measures drift with the
comparators ct_pipeline.drift_comparators sets from drift_thresholds.yaml. Our side
runs where the DAG runs it, in the orchestration env (`python -m ct_platform.drift.cli`,
the same profile SQL on DuckDB), called as a process: the two envs meet through files.

Samples: the TFX taxi sample shuffled and halved (about 7,500 rows each); the second
half is changed per case.
"""

import csv
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, sample_csv_path

COLUMNS = ['fare', 'trip_miles', 'trip_seconds', 'payment_type', 'company', 'tips']
NUMERIC = {'fare', 'trip_miles', 'trip_seconds', 'tips'}
TOLERANCE = 1e-3  # reached: at most 5.2e-4 on these samples (most features 1e-8)
ORCHESTRATION_PYTHON = REPO / '.venv' / 'bin' / 'python'


def _halves():
  with open(sample_csv_path(), newline='') as f:
    rows = [{c: r[c] for c in COLUMNS} for r in csv.DictReader(f)]
  random.Random(7).shuffle(rows)
  return rows[:len(rows) // 2], rows[len(rows) // 2:]


def _top_company(rows):
  counts = {}
  for r in rows:
    if r['company']:
      counts[r['company']] = counts.get(r['company'], 0) + 1
  return max(counts, key=counts.get)


def _change(case, rows):
  rng = random.Random(11)
  rows = [dict(r) for r in rows]
  if case == 'fare_shifted':
    for r in rows:
      if r['fare']:
        r['fare'] = f'{float(r["fare"]) * 1.6 + 4:.2f}'
  elif case == 'new_payment_type':
    for r in rows:
      if rng.random() < 0.3:
        r['payment_type'] = 'Mobile'
  elif case == 'company_vanished':
    top = _top_company(rows)
    rows = [r for r in rows if r['company'] != top]
  elif case == 'fare_half_null':
    for r in rows:
      if rng.random() < 0.5:
        r['fare'] = ''
  return rows


def _write(path: Path, rows) -> Path:
  with open(path, 'w', newline='') as f:
    w = csv.DictWriter(f, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
  return path


def _ours(cmd, *args):
  env = dict(os.environ, PYTHONPATH=str(REPO / 'plugins'))
  subprocess.run([str(ORCHESTRATION_PYTHON), '-m', 'ct_platform.drift.cli', cmd, *map(str, args)],
                 check=True, env=env, capture_output=True, text=True)


@pytest.fixture(scope='module')
def agreement(tmp_path_factory):
  """{case: {'tfdv': {feature: distance}, 'tfdv_flagged': set, 'ours': verdict}}."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top

  from ct_pipeline import drift_comparators  # pylint: disable=g-import-not-at-top

  tmp = tmp_path_factory.mktemp('drift')
  thresholds = drift_comparators.load_thresholds()
  options = drift_comparators.stats_options(thresholds)
  base_rows, new_rows = _halves()
  base_csv = _write(tmp / 'baseline.csv', base_rows)
  base_stats = tfdv.generate_statistics_from_csv(str(base_csv), stats_options=options)
  schema = drift_comparators.apply_drift_comparators(tfdv.infer_schema(base_stats), thresholds)
  _ours('profile', '--csv', base_csv, '--out', tmp / 'baseline.profile.json')
  results = {}
  for case in ('no_change', 'fare_shifted', 'new_payment_type', 'company_vanished',
               'fare_half_null'):
    new_csv = _write(tmp / f'{case}.csv', _change(case, new_rows))
    stats = tfdv.generate_statistics_from_csv(str(new_csv), stats_options=options)
    anomalies = tfdv.validate_statistics(stats, schema, previous_statistics=base_stats)
    measured = {}
    for info in anomalies.drift_skew_info:
      for m in info.drift_measurements:
        measured[info.path.step[0]] = m.value
    drift_types = {anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
                   anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH}
    flagged = {name for name, a in anomalies.anomaly_info.items()
               if any(r.type in drift_types for r in a.reason)}
    _ours('profile', '--csv', new_csv, '--out', tmp / f'{case}.profile.json')
    _ours('compare', '--baseline', tmp / 'baseline.profile.json',
          '--new', tmp / f'{case}.profile.json', '--out', tmp / f'{case}.verdict.json')
    results[case] = {'tfdv': measured, 'tfdv_flagged': flagged,
                     'ours': json.loads((tmp / f'{case}.verdict.json').read_text())}
  return results


def _our_distances(verdict):
  return {f['feature']: f['distance'] for f in verdict['features']
          if f['feature'] in COLUMNS and f['distance'] is not None}


def _our_distance_flags(verdict):
  return {f['feature'] for f in verdict['features']
          if f['distance'] is not None and f['distance'] > f['threshold']}


@pytest.mark.parametrize('case', ['no_change', 'fare_shifted', 'new_payment_type',
                                  'company_vanished'])
def test_distances_agree_with_tfdv_and_verdicts_are_identical(agreement, case):
  result = agreement[case]
  ours, theirs = _our_distances(result['ours']), result['tfdv']
  assert set(ours) == set(theirs) == set(COLUMNS)
  worst = max(abs(ours[f] - theirs[f]) for f in COLUMNS)
  print(f'{case}: max |ours - tfdv| = {worst:.5f}; ours {ours}; tfdv {theirs}')
  assert worst < TOLERANCE, (ours, theirs)
  assert _our_distance_flags(result['ours']) == result['tfdv_flagged']


def test_each_case_flags_what_changed(agreement):
  flagged = {case: _our_distance_flags(r['ours']) for case, r in agreement.items()}
  assert flagged['no_change'] == set()
  assert flagged['fare_shifted'] == {'fare'}
  assert flagged['new_payment_type'] == {'payment_type'}
  assert 'company' in flagged['company_vanished']
  assert not agreement['no_change']['ours']['retrain']


def test_half_null_fare_is_caught_by_the_missing_rate_not_the_distance(agreement):
  """TFDV's histograms leave missing values out: its distance barely moves."""
  result = agreement['fare_half_null']
  assert result['tfdv']['fare'] < 0.1 and 'fare' not in result['tfdv_flagged']
  fare = next(f for f in result['ours']['features'] if f['feature'] == 'fare')
  assert fare['drifted'] and fare['missing_rate']['exceeded']
  assert any(r.startswith('missing rate 0.0% -> 5') for r in fare['reasons']), fare['reasons']
  assert result['ours']['retrain'] and 'fare: missing rate' in result['ours']['reason']

"""A champion and a prediction log with known properties, over the seeded taxi sample.

The champion is registered in the local registry with what continuous_training records:
its training profile (the drift step's, computed in the warehouse), offline metrics and
its offline score distribution. The log holds the served instances (real trips from the
warehouse, with their unique_key as the example key) and scores from a stand-in scorer
whose quality is known: `informed` scores follow the label (AUC near 0.9), `shuffled`
scores are the same values dealt out at random (same distribution, AUC near 0.5).
"""

import datetime as dt
import json
import random

from fakes import prediction_log

MODEL = 'chicago-taxi-tipper'
FEATURES = ['company', 'dropoff_census_tract', 'dropoff_community_area', 'dropoff_latitude',
            'dropoff_longitude', 'fare', 'payment_type', 'pickup_census_tract',
            'pickup_community_area', 'pickup_latitude', 'pickup_longitude', 'trip_miles',
            'trip_seconds', 'trip_start_day', 'trip_start_hour']


def settings(local_dir):
  from ct_platform.config import load_settings
  return load_settings({'local_dir': str(local_dir)}, use_variable=False)


def seed(local_dir):
  from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
  from ct_platform.seed import SAMPLE_CSV

  s = settings(local_dir)
  DuckDBWarehouse(s.warehouse_file, s.source_table).seed_from_tfx_csv(SAMPLE_CSV)
  return s


def trips(local_dir, start: dt.date, days: int, limit: int) -> list[dict]:
  """Rows of the window as (instance with its key, label)."""
  from ct_platform.replay import window_rows

  # what callers send: the model's raw features (the timestamp too, as the smoke rows)
  rows = window_rows(settings(local_dir), FEATURES + ['trip_start_timestamp', 'tips'], start,
                     days)
  rows = random.Random(7).sample(rows, min(limit, len(rows)))
  out = []
  for r in rows:
    tips = r.pop('tips')
    label = None if tips is None or r.get('fare') is None else tips > r['fare'] * 0.2
    out.append((r, label))
  return out


def informed(label, r: random.Random) -> float:
  return min(0.99, max(0.01, (0.75 if label else 0.2) + r.gauss(0, 0.12)))


def scores(rows, how='informed', seed=3) -> list[float]:
  r = random.Random(seed)
  values = [informed(label, r) for _, label in rows]
  if how == 'shuffled':
    r.shuffle(values)
  return values


def histogram(values) -> list:
  counts = [0] * 10
  for v in values:
    counts[min(9, int(v * 10))] += 1
  return [[i / 10, (i + 1) / 10, float(c)] for i, c in enumerate(counts)]


def register_champion(local_dir, training=(dt.date(2013, 1, 1), dt.date(2016, 1, 1)),
                      metrics=None):
  """Version 1 as champion: its training window's profile, offline metrics (default: what
  the informed scorer reaches) and offline scores of the informed scorer."""
  from ct_platform.backends import warehouse_for
  from ct_platform.backends.local_registry import LocalModelRegistry
  from ct_platform.drift import load_drift_config, profile_window
  from ct_platform.window import TrainingWindow

  s = settings(local_dir)
  window = TrainingWindow(training[0], training[1], 'test')
  profile = profile_window(warehouse_for(s), window, load_drift_config())
  rows = trips(local_dir, training[0], (training[1] - training[0]).days, 2000)
  model = local_dir / 'model'
  (model / 'Format-Serving').mkdir(parents=True, exist_ok=True)
  (model / 'Format-Serving' / 'saved_model.pb').write_bytes(b'stand-in')
  reg = LocalModelRegistry(s.registry_root, MODEL)
  record = reg.register(str(model), {
      'run_id': 'training-run', 'window': window.as_dict(),
      'metrics': {'overall': metrics or {'auc': 0.9, 'binary_accuracy': 0.85}},
      'smoke_test': {'passed': True, 'examples': 20, 'message': 'stand-in',
                     'eval_scores': {'examples': len(rows),
                                     'histogram': histogram(scores(rows))}},
      'drift_baseline': {'window': window.as_dict(), 'profile': profile}})
  reg.set_alias(record['version'], 'champion')
  return record['version']


def write_log(local_dir, rows, values, until: dt.datetime, *, version=1, keyed=True,
              change=None, name='part-monitoring.parquet', rejected=0):
  """One request per instance, spread over the hour before `until`; change(instance)
  alters what callers send (a shift); `rejected` refused requests on top."""
  out = []
  step = 3000.0 / max(len(rows), 1)
  t0 = until - dt.timedelta(hours=1)
  for i, ((instance, _), score) in enumerate(zip(rows, values)):
    instance = dict(instance)
    if not keyed:
      instance.pop('unique_key', None)
    if change:
      instance = change(instance)
    row = prediction_log.row(f'v{version}', score, at=0)
    row.update(logging_time=t0 + dt.timedelta(seconds=i * step),
               request_payload=[json.dumps(instance, default=str)])
    out.append(row)
  for i in range(rejected):
    row = prediction_log.row(None, None, status=400, at=0)
    row.update(logging_time=t0 + dt.timedelta(seconds=i), model_version_id=None)
    out.append(row)
  prediction_log.write_part(settings(local_dir).prediction_log_dir, out, name)
  return out

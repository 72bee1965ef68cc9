"""drift_thresholds.yaml, read and checked (field, value, what was expected)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ct_platform.contracts import CONTRACTS_DIR, ContractError
from ct_platform.contracts import drift_defaults as D

THRESHOLDS_PATH = CONTRACTS_DIR / 'drift_thresholds.yaml'
KINDS = ('numeric', 'categorical')
IDENTIFIER = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,299}$')


@dataclasses.dataclass(frozen=True)
class FeatureThresholds:
  name: str
  kind: str                      # numeric | categorical
  distance: float                # JSD (numeric) or L-infinity (categorical)
  missing_rate_delta: float
  psi: float | None = None
  # training-serving skew (model_monitoring), in the same metric; default: `distance`.
  # TFDV's schema has a skew_comparator beside the drift_comparator for the same reason:
  # serving traffic may differ from a training window by more than two windows do.
  skew: float | None = None

  @property
  def skew_threshold(self) -> float:
    return self.distance if self.skew is None else self.skew

  @property
  def metric(self) -> str:
    return 'jensen_shannon_divergence' if self.kind == 'numeric' else 'l_infinity'


@dataclasses.dataclass(frozen=True)
class DriftConfig:
  features: dict                 # name -> FeatureThresholds
  ignore: tuple = ()
  histogram_buckets: int = D.HISTOGRAM_BUCKETS
  numeric_histogram: str = D.NUMERIC_HISTOGRAM
  top_k_values: int = D.TOP_K_VALUES
  max_champion_age_days: int = D.MAX_CHAMPION_AGE_DAYS
  max_duplicate_rate: float | None = D.MAX_DUPLICATE_RATE
  path: str = ''


def _number(path, field, value, minimum=0.0, maximum=None, allow_none=False):
  if value is None and allow_none:
    return None
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ContractError(f'{path}: {field}: {value!r} is not a number')
  if value < minimum or (maximum is not None and value > maximum):
    bound = f'between {minimum} and {maximum}' if maximum is not None else f'>= {minimum}'
    raise ContractError(f'{path}: {field}: {value!r} must be {bound}')
  return value


def load_drift_config(path=THRESHOLDS_PATH) -> DriftConfig:
  import yaml

  path = Path(path)
  raw = yaml.safe_load(path.read_text()) or {}
  defaults = raw.get('defaults') or {}
  known_top = {'version', 'histogram_buckets', 'numeric_histogram', 'top_k_values',
               'max_champion_age_days', 'max_duplicate_rate', 'defaults', 'features',
               'ignore'}
  unknown = set(raw) - known_top
  if unknown:
    raise ContractError(f'{path}: unknown top-level keys {sorted(unknown)}; '
                        f'expected some of {sorted(known_top)}')
  jsd = _number(path, 'defaults.numeric.jensen_shannon_divergence',
                (defaults.get('numeric') or {}).get('jensen_shannon_divergence',
                                                    D.JENSEN_SHANNON_DIVERGENCE), 0, 1)
  linf = _number(path, 'defaults.categorical.l_infinity',
                 (defaults.get('categorical') or {}).get('l_infinity', D.L_INFINITY), 0, 1)
  missing = _number(path, 'defaults.missing_rate_delta',
                    defaults.get('missing_rate_delta', D.MISSING_RATE_DELTA), 0, 1)
  psi = _number(path, 'defaults.psi', defaults.get('psi'), 0, None, allow_none=True)
  features = {}
  for name, spec in (raw.get('features') or {}).items():
    spec = spec or {}
    if not IDENTIFIER.match(str(name)):
      raise ContractError(f'{path}: features: {name!r} is not a column name '
                          f'(letters, digits and _ only)')
    kind = spec.get('kind')
    if kind not in KINDS:
      raise ContractError(f'{path}: features.{name}.kind: {kind!r} is not one of {KINDS}')
    allowed = {'kind', 'missing_rate_delta', 'psi', 'skew',
               'jensen_shannon_divergence' if kind == 'numeric' else 'l_infinity'}
    extra = set(spec) - allowed
    if extra:
      raise ContractError(f'{path}: features.{name}: {sorted(extra)} not allowed for a '
                          f'{kind} feature; allowed: {sorted(allowed)}')
    metric_key = 'jensen_shannon_divergence' if kind == 'numeric' else 'l_infinity'
    features[name] = FeatureThresholds(
        name=name, kind=kind,
        distance=_number(path, f'features.{name}.{metric_key}',
                         spec.get(metric_key, jsd if kind == 'numeric' else linf), 0, 1),
        missing_rate_delta=_number(path, f'features.{name}.missing_rate_delta',
                                   spec.get('missing_rate_delta', missing), 0, 1),
        psi=_number(path, f'features.{name}.psi', spec.get('psi', psi), 0, None,
                    allow_none=True),
        skew=_number(path, f'features.{name}.skew', spec.get('skew'), 0, 1,
                     allow_none=True))
  if not features:
    raise ContractError(f'{path}: "features" must list at least one feature')
  ignore = tuple(raw.get('ignore') or ())
  both = set(ignore) & set(features)
  if both:
    raise ContractError(f'{path}: {sorted(both)} listed both in features and in ignore')
  numeric_histogram = raw.get('numeric_histogram', D.NUMERIC_HISTOGRAM)
  if numeric_histogram not in ('quantiles', 'standard'):
    raise ContractError(f'{path}: numeric_histogram: {numeric_histogram!r} is not one of '
                        f'(\'quantiles\', \'standard\')')
  return DriftConfig(
      features=features, ignore=ignore, numeric_histogram=numeric_histogram,
      histogram_buckets=int(_number(path, 'histogram_buckets',
                                    raw.get('histogram_buckets', D.HISTOGRAM_BUCKETS), 1, 1000)),
      top_k_values=int(_number(path, 'top_k_values',
                               raw.get('top_k_values', D.TOP_K_VALUES), 1)),
      max_champion_age_days=int(_number(path, 'max_champion_age_days',
                                        raw.get('max_champion_age_days',
                                                D.MAX_CHAMPION_AGE_DAYS), 0)),
      max_duplicate_rate=_number(path, 'max_duplicate_rate',
                                 raw.get('max_duplicate_rate', D.MAX_DUPLICATE_RATE), 0, 1,
                                 allow_none=True),
      path=str(path))

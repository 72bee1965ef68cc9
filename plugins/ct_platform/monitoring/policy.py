"""The monitoring thresholds (promotion_policy.yaml, `monitoring:`), read and checked.

Unknown or malformed fields fail with the field, the value and what was expected.
"""

from __future__ import annotations

import dataclasses

from ct_platform.contracts import POLICY_PATH, ContractError, load_policy, number_fields

CHECKS = ('skew', 'prediction_drift', 'decay', 'data_quality')


@dataclasses.dataclass(frozen=True)
class PredictionDriftPolicy:
  max_psi: float = 0.25
  max_jsd: float = 0.1


@dataclasses.dataclass(frozen=True)
class DecayPolicy:
  min_labels: int = 200
  max_auc_drop: float = 0.05
  max_accuracy_drop: float = 0.05
  label_delay_hours: float = 24.0


@dataclasses.dataclass(frozen=True)
class DataQualityPolicy:
  max_missing_rate_delta: float = 0.05
  max_out_of_domain_rate: float = 0.05
  max_rejected_rate: float = 0.05


@dataclasses.dataclass(frozen=True)
class MonitoringPolicy:
  window_hours: float = 24.0
  min_requests: int = 500
  prediction_drift: PredictionDriftPolicy = PredictionDriftPolicy()
  decay: DecayPolicy = DecayPolicy()
  data_quality: DataQualityPolicy = DataQualityPolicy()
  retrain_on: tuple = ('skew', 'prediction_drift', 'decay')


_SECTIONS = {'prediction_drift': PredictionDriftPolicy, 'decay': DecayPolicy,
             'data_quality': DataQualityPolicy}


def monitoring_policy(policy: dict | None = None, path=POLICY_PATH) -> MonitoringPolicy:
  """The `monitoring:` section, with the defaults above where it is silent."""
  section = (policy if policy is not None else load_policy(path)).get('monitoring') or {}
  where = f'{path}: monitoring'
  values = number_fields(MonitoringPolicy, section, where, skip=(*_SECTIONS, 'retrain_on'))
  for name, cls in _SECTIONS.items():
    values[name] = cls(**number_fields(cls, section.get(name) or {}, f'{where}.{name}'))
  retrain_on = section.get('retrain_on', list(MonitoringPolicy.retrain_on))
  if not isinstance(retrain_on, list) or any(c not in CHECKS for c in retrain_on):
    raise ContractError(f'{where}.retrain_on: {retrain_on!r} must be a list of some of '
                        f'{list(CHECKS)}')
  if values.get('window_hours', 1) <= 0:
    raise ContractError(f'{where}.window_hours: {values["window_hours"]} must be above 0')
  return MonitoringPolicy(retrain_on=tuple(retrain_on), **values)

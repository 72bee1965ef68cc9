"""The `monitoring:` section of promotion_policy.yaml and the per-feature skew thresholds."""

import pytest

from ct_platform.contracts import ContractError
from ct_platform.drift.config import load_drift_config
from ct_platform.monitoring.policy import MonitoringPolicy, monitoring_policy


def test_the_shipped_policy_reads():
  policy = monitoring_policy()
  assert policy.window_hours == 24 and policy.min_requests == 500
  assert policy.decay.min_labels == 200 and policy.decay.label_delay_hours == 24
  assert policy.retrain_on == ('skew', 'prediction_drift', 'decay')


def test_a_silent_section_takes_the_defaults():
  assert monitoring_policy({'metrics': []}) == MonitoringPolicy()


@pytest.mark.parametrize('section, message', [
    ({'window_hour': 3}, r'monitoring.window_hour: unknown; expected one of'),
    ({'min_requests': 2.5}, r'monitoring.min_requests: 2.5 is not a whole number'),
    ({'window_hours': 0}, r'monitoring.window_hours: 0.0 must be above 0'),
    ({'prediction_drift': {'max_psi': -1}}, r'prediction_drift.max_psi: -1 is not a non-neg'),
    ({'retrain_on': ['skew', 'mood']}, r"retrain_on: \['skew', 'mood'\] must be a list of"),
])
def test_a_bad_field_is_named(section, message):
  with pytest.raises(ContractError, match=message):
    monitoring_policy({'metrics': [], 'monitoring': section})


def test_skew_thresholds_default_to_the_drift_threshold(tmp_path):
  config = load_drift_config()
  assert config.features['fare'].skew is None
  assert config.features['fare'].skew_threshold == config.features['fare'].distance
  path = tmp_path / 'thresholds.yaml'
  path.write_text('features:\n  fare: {kind: numeric, skew: 1.5}\n')
  with pytest.raises(ContractError, match=r'features.fare.skew: 1.5 must be between 0 and 1'):
    load_drift_config(path)

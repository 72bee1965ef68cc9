"""The serving section of the promotion policy and the load-test judge."""

import pytest
import yaml

from ct_platform.contracts import POLICY_PATH, ContractError
from ct_platform.rollout.policy import judge_load_test, serving_policy


def test_the_shipped_policy_has_a_serving_section():
  policy = serving_policy()
  shipped = yaml.safe_load(POLICY_PATH.read_text())['serving']
  assert policy.serving_p99_ms == shipped['serving_p99_ms']
  assert policy.canary.percent == shipped['canary']['percent'] == 10
  assert policy.canary.labels_outrank_score_shift is True
  off = serving_policy({'serving': {'canary': {'labels_outrank_score_shift': False}}})
  assert off.canary.labels_outrank_score_shift is False


@pytest.mark.parametrize('section, message', [
    ({'serving_p99': 100}, r'serving.serving_p99: unknown'),
    ({'serving_min_qps': 'fast'}, r"serving.serving_min_qps: 'fast' is not a non-negative"),
    ({'canary': {'percent': 0}}, r'serving.canary.percent: 0 is not within 1..99'),
    ({'canary': {'min_requets': 5}}, r'serving.canary.min_requets: unknown'),
    ({'canary': {'labels_outrank_score_shift': 'yes'}},
     r"serving.canary.labels_outrank_score_shift: 'yes' is not true or false"),
    ({'canary': {'confidence': 1}}, r'serving.canary.confidence: 1.0 is not within \[0, 1\)'),
    ({'canary': {'max_score_psi': True}},
     r'serving.canary.max_score_psi: True is not a non-negative number'),
])
def test_a_bad_serving_section_names_the_field(section, message):
  with pytest.raises(ContractError, match=message):
    serving_policy({'metrics': [], 'serving': section})


def test_the_load_test_judge_prints_each_figure_against_its_threshold():
  policy = serving_policy({'serving': {'serving_p99_ms': 100, 'serving_min_qps': 50,
                                       'serving_max_error_rate': 0.01}})
  good = {'p99_ms': 40, 'qps': 200.0, 'error_rate': 0.0, 'failures': 0, 'requests': 4000,
          'users': 8}
  assert all(c['passed'] for c in judge_load_test(good, policy))
  slow = dict(good, p99_ms=180, qps=30.0, error_rate=0.05, failures=200)
  checks = {c['name']: c for c in judge_load_test(slow, policy)}
  assert not any(c['passed'] for c in checks.values())
  assert checks['p99_latency_ms']['detail'] == ('p99 180 ms at 8 concurrent clients; at most '
                                                '100.0 ms')
  nothing = {'p99_ms': None, 'qps': 0.0, 'error_rate': None, 'requests': 0, 'users': 8}
  assert not any(c['passed'] for c in judge_load_test(nothing, policy))

"""The serving thresholds (promotion_policy.yaml, `serving:`) and the verdicts on them.

A check is {'name', 'value', 'threshold', 'passed', 'detail'}: the report prints each
figure beside its threshold, and a verdict passes only when every check does.
"""

from __future__ import annotations

import dataclasses

from ct_platform.contracts import POLICY_PATH, ContractError, load_policy, number_fields


@dataclasses.dataclass(frozen=True)
class CanaryPolicy:
  percent: int = 10
  observation_minutes: float = 30.0
  min_requests: int = 200
  max_error_rate_delta: float = 0.01
  max_p99_ratio: float = 2.0
  p99_slack_ms: float = 10.0
  max_score_psi: float = 0.25
  max_score_jsd: float = 0.1
  min_labelled: int = 100
  max_accuracy_drop: float = 0.05
  max_auc_drop: float = 0.05
  labels_outrank_score_shift: bool = True
  confidence: float = 0.95


@dataclasses.dataclass(frozen=True)
class ServingPolicy:
  load_test_users: int = 8
  load_test_seconds: float = 20.0
  serving_p99_ms: float = 250.0
  serving_min_qps: float = 20.0
  serving_max_error_rate: float = 0.01
  canary: CanaryPolicy = CanaryPolicy()


def serving_policy(policy: dict | None = None, path=POLICY_PATH) -> ServingPolicy:
  """The `serving:` section, with the defaults above where it is silent; raises
  ContractError naming an unknown or malformed field."""
  section = (policy if policy is not None else load_policy(path)).get('serving') or {}
  canary = CanaryPolicy(**number_fields(CanaryPolicy, section.get('canary') or {},
                                        'serving.canary'))
  if not 1 <= canary.percent <= 99:
    raise ContractError(f'serving.canary.percent: {canary.percent} is not within 1..99')
  if not 0 <= canary.confidence < 1:
    raise ContractError(f'serving.canary.confidence: {canary.confidence} is not within [0, 1)')
  return ServingPolicy(canary=canary,
                       **number_fields(ServingPolicy, section, 'serving', skip=('canary',)))


def check(name: str, value, threshold, passed: bool, detail: str) -> dict:
  return {'name': name, 'value': value, 'threshold': threshold, 'passed': bool(passed),
          'detail': detail}


def judge_load_test(figures: dict, policy: ServingPolicy) -> list[dict]:
  """The load test's figures against serving_p99_ms, serving_min_qps and
  serving_max_error_rate; no requests at all fails every check."""
  p99, qps, errors = figures.get('p99_ms'), figures.get('qps') or 0.0, figures.get('error_rate')
  users = figures.get('users')
  return [
      check('p99_latency_ms', p99, policy.serving_p99_ms,
            p99 is not None and p99 <= policy.serving_p99_ms,
            f'p99 {p99} ms at {users} concurrent clients; at most {policy.serving_p99_ms} ms'),
      check('qps', qps, policy.serving_min_qps, qps >= policy.serving_min_qps,
            f'{qps} requests/s at {users} concurrent clients; at least '
            f'{policy.serving_min_qps}'),
      check('error_rate', errors, policy.serving_max_error_rate,
            errors is not None and errors <= policy.serving_max_error_rate,
            f'{figures.get("failures")} of {figures.get("requests")} requests failed; at most '
            f'{policy.serving_max_error_rate:.1%}'),
  ]

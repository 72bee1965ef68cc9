"""The canary's verdict: challenger against champion on the same live traffic.

From prediction-log rows (log.py) each deployed model gets its figures: requests,
server errors (5xx; a rejected request, 400, is the caller's and counts for neither),
p50/p99 latency, its predicted scores as a histogram over [0, 1], and online accuracy
where labels have arrived. Then the checks of the policy's `canary:` section: error rate,
p99 ratio, PSI and JSD of the score distributions (drift.metrics, as in drift), accuracy.
Pure functions.
"""

from __future__ import annotations

import json
import math

from ct_platform.drift.metrics import histogram_psi, jensen_shannon_divergence
from ct_platform.rollout.policy import CanaryPolicy, check

SCORE_BINS = 10


def percentile(values: list, q: float) -> float | None:
  """Nearest-rank percentile (q in 0..1); None for no values."""
  if not values:
    return None
  ordered = sorted(values)
  return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def score_histogram(scores: list, bins: int = SCORE_BINS) -> list:
  """(low, high, count) buckets of equal width over [0, 1]."""
  counts = [0] * bins
  for s in scores:
    counts[min(bins - 1, max(0, int(s * bins)))] += 1
  return [(i / bins, (i + 1) / bins, float(c)) for i, c in enumerate(counts)]


def latency_histogram(latencies: list) -> dict:
  """{upper bound in ms: count} over powers-of-two-ish buckets (0.5, 1, 2, 5, 10, ... ms)."""
  bounds = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, float('inf')]
  out = {str(b): 0 for b in bounds}
  for v in latencies:
    out[str(next(b for b in bounds if v <= b))] += 1
  return out


def _scores(response_payload) -> list:
  out = []
  for item in response_payload or []:
    value = json.loads(item) if isinstance(item, str) else item
    value = value[0] if isinstance(value, list) else value
    if isinstance(value, (int, float)) and math.isfinite(value):
      out.append(float(value))
  return out


def _keys(request_payload, key_field: str) -> list:
  keys = []
  for item in request_payload or []:
    instance = json.loads(item) if isinstance(item, str) else item
    key = instance.get(key_field) if isinstance(instance, dict) else None
    keys.append(None if key is None else str(key))
  return keys


def model_figures(rows: list, deployed_id: str, labels: dict | None = None,
                  key_field: str = 'unique_key', threshold: float = 0.5) -> dict:
  """The figures of one deployed model over log rows (dicts with the log's columns).

  labels: {example key: 0/1} of the requests whose truth is known; accuracy counts each
  prediction whose key has a label (score >= threshold predicts 1)."""
  mine = [r for r in rows if r.get('deployed_model_id') == deployed_id]
  errors = sum(1 for r in mine if (r.get('status_code') or 200) >= 500)
  latencies = [r['latency_ms'] for r in mine if r.get('latency_ms') is not None
               and (r.get('status_code') or 200) < 500]
  scores, correct, labelled = [], 0, 0
  for r in mine:
    if (r.get('status_code') or 200) >= 400:
      continue
    got = _scores(r.get('response_payload'))
    scores += got
    if labels:
      for key, score in zip(_keys(r.get('request_payload'), key_field), got):
        if key is not None and key in labels:
          labelled += 1
          correct += int((score >= threshold) == bool(labels[key]))
  times = sorted(str(r['logging_time']) for r in mine if r.get('logging_time') is not None)
  return {
      'deployed_model_id': deployed_id, 'requests': len(mine), 'errors': errors,
      'error_rate': errors / len(mine) if mine else None,
      'p50_ms': percentile(latencies, 0.5), 'p99_ms': percentile(latencies, 0.99),
      'latency_histogram_ms': latency_histogram(latencies),
      'predictions': len(scores),
      'mean_score': sum(scores) / len(scores) if scores else None,
      'score_histogram': score_histogram(scores),
      'labelled': labelled, 'accuracy': correct / labelled if labelled else None,
      'first': times[0] if times else None, 'last': times[-1] if times else None,
  }


def traffic_over_time(rows: list, deployed_ids: list, buckets: int = 30) -> dict:
  """Requests per deployed model in equal time buckets over the rows' span (a chart)."""
  times = [r['logging_time'] for r in rows if r.get('logging_time') is not None]
  if not times:
    return {'start': None, 'bucket_seconds': None, 'counts': {m: [] for m in deployed_ids}}
  start, end = min(times), max(times)
  width = max((end - start).total_seconds() / buckets, 1e-3)
  counts = {m: [0] * buckets for m in deployed_ids}
  for r in rows:
    if r.get('deployed_model_id') in counts and r.get('logging_time') is not None:
      i = min(buckets - 1, int((r['logging_time'] - start).total_seconds() / width))
      counts[r['deployed_model_id']][i] += 1
  return {'start': start.isoformat(), 'bucket_seconds': width, 'counts': counts}


def compare(champion: dict, challenger: dict, policy: CanaryPolicy) -> dict:
  """The canary verdict: {'passed', 'checks', 'reasons'}. Too few challenger requests is a
  failed check (no verdict on a handful), never a pass."""
  checks = [check('challenger_requests', challenger['requests'], policy.min_requests,
                  challenger['requests'] >= policy.min_requests,
                  f'{challenger["requests"]} challenger requests; at least '
                  f'{policy.min_requests} for a verdict')]
  delta = None
  if challenger['error_rate'] is not None:
    delta = challenger['error_rate'] - (champion['error_rate'] or 0.0)
  checks.append(check(
      'error_rate_delta', delta, policy.max_error_rate_delta,
      delta is not None and delta <= policy.max_error_rate_delta,
      f'challenger {_pct(challenger["error_rate"])} vs champion '
      f'{_pct(champion["error_rate"])} server errors; at most '
      f'{policy.max_error_rate_delta:.1%} more'))
  ratio = None
  if challenger['p99_ms'] is not None and champion['p99_ms']:
    ratio = challenger['p99_ms'] / champion['p99_ms']
  checks.append(check(
      'p99_latency_ratio', ratio, policy.max_p99_ratio,
      ratio is not None and (ratio <= policy.max_p99_ratio or challenger['p99_ms'] <=
                             champion['p99_ms'] + policy.p99_slack_ms),
      f'p99 challenger {_ms(challenger["p99_ms"])} vs champion {_ms(champion["p99_ms"])}; '
      f'at most {policy.max_p99_ratio}x, or within {policy.p99_slack_ms:g} ms'))
  base, new = champion['score_histogram'], challenger['score_histogram']
  psi_value = histogram_psi(base, new)
  jsd_value = jensen_shannon_divergence(base, new)
  checks.append(check('score_psi', psi_value, policy.max_score_psi,
                      psi_value is not None and psi_value <= policy.max_score_psi,
                      f'PSI of the predicted-score distributions {_num(psi_value)}; at most '
                      f'{policy.max_score_psi}'))
  checks.append(check('score_jsd', jsd_value, policy.max_score_jsd,
                      jsd_value is not None and jsd_value <= policy.max_score_jsd,
                      f'Jensen-Shannon divergence of the score distributions '
                      f'{_num(jsd_value)}; at most {policy.max_score_jsd}'))
  if min(champion['labelled'], challenger['labelled']) >= policy.min_labelled:
    drop = champion['accuracy'] - challenger['accuracy']
    checks.append(check('online_accuracy_drop', drop, policy.max_accuracy_drop,
                        drop <= policy.max_accuracy_drop,
                        f'accuracy on labelled live requests: challenger '
                        f'{challenger["accuracy"]:.3f} ({challenger["labelled"]}) vs champion '
                        f'{champion["accuracy"]:.3f} ({champion["labelled"]}); at most '
                        f'{policy.max_accuracy_drop} lower'))
  else:
    checks.append(check('online_accuracy_drop', None, policy.max_accuracy_drop, True,
                        f'not judged: {challenger["labelled"]} challenger and '
                        f'{champion["labelled"]} champion requests have labels yet; '
                        f'{policy.min_labelled} each needed'))
  failed = [c for c in checks if not c['passed']]
  return {'passed': not failed, 'checks': checks, 'reasons': [c['detail'] for c in failed]}


def _pct(value):
  return '-' if value is None else f'{value:.2%}'


def _ms(value):
  return '-' if value is None else f'{value:.1f} ms'


def _num(value):
  return '-' if value is None else f'{value:.4f}'

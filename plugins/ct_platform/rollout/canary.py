"""The canary's verdict: challenger against champion on the same live traffic.

From prediction-log rows (log.py) each deployed model gets its figures: requests,
server errors (5xx; a rejected request, 400, is the caller's and counts for neither),
p50/p99 latency, its predicted scores as a histogram over [0, 1], and online accuracy
where labels have arrived. Then the checks of the policy's `canary:` section: error rate,
p99 ratio, PSI and JSD of the score distributions (drift.metrics, as in drift), accuracy
and AUC on the labelled live requests, which outrank a score shift
(`labels_outrank_score_shift`).
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


def model_figures(rows: list, deployed_id: str, labelled: list | None = None) -> dict:
  """The figures of one deployed model over log rows (dicts with the log's columns).

  labelled: the label join's per-score counts of this model's answered instances
  ([{'score', 'positives', 'negatives'}], monitoring.window.model_labelled_counts): online
  accuracy (positive above 0.5, as Keras' BinaryAccuracy) and AUC where labels arrived."""
  from ct_platform.monitoring.checks import online_metrics

  mine = [r for r in rows if r.get('deployed_model_id') == deployed_id]
  errors = sum(1 for r in mine if (r.get('status_code') or 200) >= 500)
  latencies = [r['latency_ms'] for r in mine if r.get('latency_ms') is not None
               and (r.get('status_code') or 200) < 500]
  scores = []
  for r in mine:
    if (r.get('status_code') or 200) < 400:
      scores += _scores(r.get('response_payload'))
  online = online_metrics(labelled or [])
  times = sorted(str(r['logging_time']) for r in mine if r.get('logging_time') is not None)
  return {
      'deployed_model_id': deployed_id, 'requests': len(mine), 'errors': errors,
      'error_rate': errors / len(mine) if mine else None,
      'p50_ms': percentile(latencies, 0.5), 'p99_ms': percentile(latencies, 0.99),
      'latency_histogram_ms': latency_histogram(latencies),
      'predictions': len(scores),
      'mean_score': sum(scores) / len(scores) if scores else None,
      'score_histogram': score_histogram(scores),
      'labelled': online['labelled'], 'positives': online['positives'],
      'accuracy': online['binary_accuracy'], 'auc': online['auc'],
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
  on_labels = _label_checks(champion, challenger, policy)
  # A retrained model is meant to score differently (under drift, that is why it was
  # trained): where labels show it as good as the champion on the same live traffic, in
  # accuracy and in AUC (ranking: a constant's is 0.5, however accurate the majority
  # class makes it), a shifted score distribution is that change, not a fault. Without
  # labels the shift is the only guard against a broken challenger.
  as_good = all(c['value'] is not None and c['passed'] for c in on_labels)
  skill = ranks_above_chance(challenger, policy.confidence)
  explained = policy.labels_outrank_score_shift and as_good and skill['passed']
  base, new = champion['score_histogram'], challenger['score_histogram']
  for name, value, limit, what in (
      ('score_psi', histogram_psi(base, new), policy.max_score_psi,
       'PSI of the predicted-score distributions'),
      ('score_jsd', jensen_shannon_divergence(base, new), policy.max_score_jsd,
       'Jensen-Shannon divergence of the score distributions')):
    within = value is not None and value <= limit
    detail = f'{what} {_num(value)}; at most {limit}'
    if not within and explained:
      detail += ('; passed on labels: the challenger is as accurate as the champion, and '
                 'ranks as well, on the labelled live requests, so the shift is what the '
                 'retraining changed')
    elif not within and policy.labels_outrank_score_shift and as_good:
      detail += f'; the labels do not outrank it: {skill["detail"]}'
    checks.append(check(name, value, limit, within or explained, detail))
  checks += on_labels
  failed = [c for c in checks if not c['passed']]
  return {'passed': not failed, 'checks': checks, 'reasons': [c['detail'] for c in failed]}


def ranks_above_chance(figures: dict, confidence: float) -> dict:
  """Does a model's online AUC show skill beyond sampling noise? {'passed', 'detail'}.
  Under no skill an AUC is 0.5 with the Hanley-McNeil standard error of its class counts;
  a constant predictor's is exactly 0.5 (every pair tied)."""
  from ct_platform.gate import auc_variance, significance_z

  auc, labelled = figures.get('auc'), figures.get('labelled') or 0
  positives = figures.get('positives') or 0
  if auc is None or not positives or positives == labelled:
    return {'passed': False, 'detail': 'no online AUC (one class only among the labels)'}
  noise = math.sqrt(auc_variance(0.5, positives, labelled - positives))
  needed = 0.5 + significance_z(confidence) * noise
  return {'passed': auc > needed,
          'detail': f'the challenger\'s online AUC {auc:.4f} is {"" if auc > needed else "not "}'
                    f'above chance ({needed:.4f} needed with {positives} positives and '
                    f'{labelled - positives} negatives at confidence {confidence})'}


def _label_checks(champion: dict, challenger: dict, policy: CanaryPolicy) -> list[dict]:
  """Online accuracy and AUC drops on the labelled live requests; each not judged (passed,
  value None) with fewer than min_labelled labels per model, or an AUC of one class. As
  the gate judges a slice: a drop fails beyond its tolerance only when it is also beyond
  its sampling noise at `confidence` (each model answered its own share of the traffic:
  two independent samples)."""
  from ct_platform.gate import auc_variance, significance_z

  counts = (f'{challenger["labelled"]} challenger and {champion["labelled"]} champion '
            f'requests have labels')
  if min(champion['labelled'], challenger['labelled']) < policy.min_labelled:
    why = f'not judged: {counts} yet; {policy.min_labelled} each needed'
    return [check('online_accuracy_drop', None, policy.max_accuracy_drop, True, why),
            check('online_auc_drop', None, policy.max_auc_drop, True, why)]
  z = significance_z(policy.confidence)

  def judged(name, what, ours, theirs, limit, variance, digits):
    drop = theirs - ours
    noise = math.sqrt(max(variance, 0.0))
    beyond = drop <= z * noise
    detail = (f'{what} on labelled live requests: challenger {ours:.{digits}f} '
              f'({challenger["labelled"]} labelled) vs champion {theirs:.{digits}f} '
              f'({champion["labelled"]}); at most {limit} lower')
    if drop > limit and beyond:
      detail += (f', but {drop:.{digits}f} is within sampling noise '
                 f'({drop / noise if noise else 0:.1f} standard errors; {z:.2f} needed at '
                 f'confidence {policy.confidence})')
    return check(name, drop, limit, drop <= limit or beyond, detail)

  def accuracy_variance(f):
    return f['accuracy'] * (1 - f['accuracy']) / f['labelled']

  out = [judged('online_accuracy_drop', 'accuracy', challenger['accuracy'],
                champion['accuracy'], policy.max_accuracy_drop,
                accuracy_variance(champion) + accuracy_variance(challenger), 3)]
  if champion.get('auc') is None or challenger.get('auc') is None:
    out.append(check('online_auc_drop', None, policy.max_auc_drop, True,
                     f'not judged: one class only among the labels ({counts})'))
  else:
    variance = sum(auc_variance(f['auc'], f['positives'], f['labelled'] - f['positives'])
                   for f in (champion, challenger))
    out.append(judged('online_auc_drop', 'AUC', challenger['auc'], champion['auc'],
                      policy.max_auc_drop, variance, 4))
  return out


def _pct(value):
  return '-' if value is None else f'{value:.2%}'


def _ms(value):
  return '-' if value is None else f'{value:.1f} ms'


def _num(value):
  return '-' if value is None else f'{value:.4f}'

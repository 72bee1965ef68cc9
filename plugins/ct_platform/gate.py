"""The promotion gate: (run summary, champion, policy, overrides) -> decision.

Pure: no Airflow, no I/O. The policy is the same file the pipeline's Evaluator turns
into TFMA thresholds (contracts/promotion_policy.yaml), so the two cannot disagree.

Promote only if the candidate
  - comes from a completed run whose summary passes its schema (else: GateError),
  - has no data anomalies, was judged on a test split holding both classes (else AUC is
    undefined), passed its smoke test, and was evaluated against the current champion
    (when there is one),
  - is blessed by the Evaluator,
  - meets each policy metric's lower bound and beats the champion by min_delta,
  - regresses on no listed slice (with enough examples) by more than its tolerance,
    beyond the sampling noise of that slice's size (the policy's `confidence`).
The first three are hard: nothing overrides them. force_promote (with a reason) may
override the metric checks only, and is recorded as an override; force_reject always
holds.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

from ct_platform.contracts import ContractError, validate_run_summary


class GateError(ValueError):
  """The summary cannot be judged (malformed, or missing blessing data)."""


@dataclasses.dataclass
class Check:
  name: str
  passed: bool
  detail: str
  hard: bool  # True: nothing overrides it

  def as_dict(self):
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Decision:
  promote: bool
  reasons: list  # why not (empty when promoted without override)
  checks: list   # every check, passed or not
  override: dict | None = None  # {'kind': 'force_promote'|'force_reject', 'reason': ...}

  @property
  def outcome(self) -> str:
    return 'promote' if self.promote else 'reject'

  def as_dict(self) -> dict:
    return {'promote': self.promote, 'outcome': self.outcome, 'reasons': self.reasons,
            'checks': [c.as_dict() for c in self.checks], 'override': self.override}


def anomaly_text(anomaly: dict) -> str:
  """The pipeline's one-line message; summaries written before it had one: built here."""
  return anomaly.get('message') or (
      f'data validation (split {anomaly["split"]}): {anomaly["feature"]}: '
      f'{anomaly["short_description"]}: {anomaly["description"]}')


# metrics that rank one class against the other: undefined with one class, noise with a few
RANKING_METRICS = {'auc', 'auc_precision_recall'}
DEFAULT_MIN_CLASS_EXAMPLES = 10
# a slice regression must be beyond sampling noise at this confidence (policy: `confidence`)
DEFAULT_SLICE_CONFIDENCE = 0.95
# metrics that are a share of the slice's examples: standard error sqrt(p(1-p)/n)
PROPORTION_METRICS = {'binary_accuracy', 'accuracy'}


def auc_variance(auc: float, positives: int, negatives: int) -> float:
  """Hanley & McNeil (1982): the sampling variance of a ROC AUC from its class counts."""
  q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
  return (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
          + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)


def drop_standard_error(metric: str, candidate: float, champion: float, count: float,
                        classes: tuple[int, int] | None) -> float | None:
  """The standard error of (champion - candidate) on one slice, or None when the metric's
  sampling noise is not known here (it is then judged on the difference alone).

  The two models are treated as independent samples of the slice; they are scored on the
  same rows, so the true noise of the difference is smaller: this errs towards promoting
  on a small slice, never towards rejecting on noise."""
  if metric in PROPORTION_METRICS and count:
    return math.sqrt(sum(p * (1 - p) for p in (candidate, champion)) / count)
  if metric == 'auc' and classes and min(classes) > 0:
    variance = sum(auc_variance(min(max(a, 0.0), 1.0), *classes)
                   for a in (candidate, champion))
    return math.sqrt(max(variance, 0.0))
  return None


def significance_z(confidence: float) -> float:
  """Two-sided normal quantile: 1.96 at 0.95; 0 (judge the difference alone) at 0."""
  return NormalDist().inv_cdf(0.5 + confidence / 2) if confidence > 0 else 0.0


def _class_counts(metrics: dict) -> tuple[int, int] | None:
  """(positives, negatives) of a slice from TFMA's mean_label and example_count."""
  mean, count = metrics.get('mean_label'), metrics.get('example_count')
  if mean is None or not count:
    return None
  positives = int(round(mean * count))
  return positives, int(round(count)) - positives


def _slice_key(slice_dict: dict) -> tuple:
  return tuple(sorted(slice_dict.items()))


def evaluate(summary: dict, champion: dict | None, policy: dict,
             force_promote: bool = False, force_promote_reason: str = '',
             force_reject: bool = False, force_reject_reason: str = '') -> Decision:
  try:
    validate_run_summary(summary)
  except ContractError as e:
    raise GateError(str(e)) from e

  checks: list[Check] = []

  def check(name, passed, detail, hard):
    checks.append(Check(name, bool(passed), detail, hard))

  completed = summary['status'] == 'completed'
  anomalies = summary['data_validation']['anomalies']
  check('data_validation', completed and not anomalies,
        'no anomalies' if not anomalies else
        f'{len(anomalies)} anomalies: ' + ' | '.join(anomaly_text(a) for a in anomalies),
        hard=True)
  if completed:
    blessing = summary['blessing']
    if not blessing['evaluated'] or blessing['blessed'] is None:
      raise GateError('run summary: a completed run must carry an evaluated blessing '
                      f'(blessing={blessing})')
    if not summary['thresholds']:
      raise GateError('run summary: thresholds are empty; the Evaluator must hold the '
                      'candidate to the policy')
    labels = summary.get('label_distribution')
    if labels:
      check('label_distribution', not labels['single_class'],
            labels['message'] or f'{labels["split"]} split: {labels["positives"]} positives '
            f'of {labels["examples"]}', hard=True)
    smoke = summary['smoke_test']
    check('smoke_test', bool(smoke and smoke['passed']),
          smoke['message'] if smoke else 'no smoke test result', hard=True)
    check('candidate_model', bool(summary['candidate_model_uri']),
          summary['candidate_model_uri'] or 'the summary names no candidate model', hard=True)
    if champion:
      same = summary['baseline_model_uri'] == champion['model_uri']
      check('baseline_is_champion', same,
            f'evaluated against {summary["baseline_model_uri"]!r}, the champion is '
            f'version {champion["version"]} at {champion["model_uri"]!r}', hard=True)
    check('blessed', blessing['blessed'],
          'blessed by the Evaluator' if blessing['blessed'] else
          'not blessed: ' + '; '.join(r['message'] for r in blessing['reasons']), hard=False)
    _metric_checks(summary, champion, policy, check)

  hard_failures = [c for c in checks if not c.passed and c.hard]
  soft_failures = [c for c in checks if not c.passed and not c.hard]
  reasons = [f'{c.name}: {c.detail}' for c in hard_failures + soft_failures]
  override = None
  if force_reject:
    override = {'kind': 'force_reject', 'reason': force_reject_reason}
    reasons.insert(0, f'force_reject: {force_reject_reason}')
    return Decision(False, reasons, checks, override)
  if not completed:
    return Decision(False, reasons, checks)
  if hard_failures:
    if force_promote:
      reasons.append('force_promote ignored: it overrides metric checks only, never '
                     + ', '.join(c.name for c in hard_failures))
    return Decision(False, reasons, checks)
  if soft_failures and force_promote:
    override = {'kind': 'force_promote', 'reason': force_promote_reason,
                'overridden': [c.name for c in soft_failures]}
    return Decision(True, reasons, checks, override)
  return Decision(not soft_failures, reasons, checks)


def _metric_checks(summary, champion, policy, check):
  cand = summary['metrics']['candidate'] or {'overall': {}, 'slices': []}
  base = summary['metrics']['baseline'] if champion else None
  if champion and not base:
    check('champion_metrics', False, 'a champion exists but the summary has no baseline '
          'metrics for it', hard=True)
  for m in policy['metrics']:
    name = m['name']
    value = cand['overall'].get(name)
    if value is None:
      check(f'{name}', False, f'{name} missing from the candidate\'s metrics', hard=True)
      continue
    check(f'{name}>=lower_bound', value >= m['lower_bound'],
          f'{name} {value:.4f} vs lower bound {m["lower_bound"]:.4f}', hard=False)
    if base:
      base_value = base['overall'].get(name)
      if base_value is None:
        check(f'{name}_vs_champion', False, f'champion {name} missing', hard=True)
        continue
      delta = value - base_value
      check(f'{name}_vs_champion', delta >= m['min_delta'],
            f'{name} {value:.4f} - champion {base_value:.4f} = {delta:+.4f} '
            f'(min_delta {m["min_delta"]:+.4f})', hard=False)
  if not base:
    return
  base_slices = {_slice_key(e['slice']): e['metrics'] for e in base['slices']}
  for spec in policy.get('slices', []):
    worst, skipped, noise = [], [], []
    confidence = spec.get('confidence', DEFAULT_SLICE_CONFIDENCE)
    z = significance_z(confidence)
    for entry in cand['slices']:
      if set(entry['slice']) != {spec['feature']}:
        continue
      base_metrics = base_slices.get(_slice_key(entry['slice']))
      count = entry['metrics'].get('example_count') or 0
      if not base_metrics or count < spec['min_examples']:
        continue
      classes = _class_counts(entry['metrics'])
      for m in policy['metrics']:
        c, b = entry['metrics'].get(m['name']), base_metrics.get(m['name'])
        if c is None or b is None:
          continue
        few = spec.get('min_class_examples', DEFAULT_MIN_CLASS_EXAMPLES)
        if m['name'] in RANKING_METRICS and classes and min(classes) < few:
          # AUC on a slice with one positive is noise (Cash riders' tips are rarely
          # recorded): said in the detail, not judged
          value = entry['slice'][spec['feature']]
          skipped.append(f'{spec["feature"]}={value}: {m["name"]} not compared '
                         f'({classes[0]} positive{"s" if classes[0] != 1 else ""}, '
                         f'{classes[1]} negative{"s" if classes[1] != 1 else ""}; fewer '
                         f'than min_class_examples {few})')
          continue
        if b - c > spec['max_regression']:
          value = entry['slice'][spec['feature']]
          text = (f'{spec["feature"]}={value}: {m["name"]} {c:.4f} vs champion {b:.4f} '
                  f'({c - b:+.4f}, n={int(count)})')
          se = drop_standard_error(m['name'], c, b, count, classes)
          if se and (b - c) < z * se:
            # a few examples' difference on a small slice: stated, not judged
            noise.append(f'{text} within sampling noise ({(b - c) / se:.1f} standard '
                         f'errors; {z:.2f} needed at confidence {confidence:g})')
            continue
          worst.append((c - b, text))
    worst.sort(key=lambda item: item[0])
    detail = (f'no {spec["feature"]} slice regresses beyond {spec["max_regression"]}'
              if not worst else
              f'{len(worst)} {spec["feature"]} slice metrics regress beyond '
              f'{spec["max_regression"]}; worst: ' + '; '.join(w[1] for w in worst[:3]))
    if noise:
      detail += '; ' + '; '.join(noise[:3])
    if skipped:
      detail += '; ' + '; '.join(skipped[:3])
    check(f'slices:{spec["feature"]}', not worst, detail, hard=False)

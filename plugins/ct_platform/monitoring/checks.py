"""The monitoring checks and their verdict. Pure functions over what window.py read.

A check is {'name', 'status', 'reasons', 'detail', ...figures}: status `ok`, `crossed`
(a threshold was crossed; `reasons` say which, in words) or `no_verdict` (too little
traffic or too few labels to judge; `detail` says why). The verdict lists the reasons of
the checks the policy retrains on (`retrain_on`) as retrain-request reasons, each with a
key (check and feature or metric) that the request rules deduplicate on.
"""

from __future__ import annotations

import dataclasses

from ct_platform.drift.compare import compare_feature
from ct_platform.drift.metrics import histogram_psi, jensen_shannon_divergence


def _check(name, status, reasons=(), detail='', **figures) -> dict:
  return dict(name=name, status=status, reasons=list(reasons), detail=detail, **figures)


def skew(training: dict | None, serving: dict, config, min_requests: int) -> dict:
  """Training-serving skew: each served feature's distribution against the champion's
  training profile, by the drift step's distances and the features' `skew` thresholds.
  Missing rates are data quality's (missing_rate below)."""
  if not training:
    return _check('skew', 'no_verdict', detail='the champion has no training profile '
                  '(registered before profiles were recorded)')
  if serving['rows'] < min_requests:
    return _check('skew', 'no_verdict', detail=f'{serving["rows"]} served instances in the '
                  f'window, fewer than min_requests {min_requests}', instances=serving['rows'])
  rows, reasons = [], []
  for name in sorted(serving['features']):
    if name not in config.features:
      continue
    t = config.features[name]
    thresholds = dataclasses.replace(t, distance=t.skew_threshold, missing_rate_delta=1.0)
    row = compare_feature(name, training['features'].get(name), serving['features'][name],
                          training['rows'], serving['rows'], thresholds)
    row.pop('missing_rate', None)
    rows.append(row)
    label = 'JSD' if t.kind == 'numeric' else 'L-inf'
    if row['drifted'] and row['distance'] is not None and row['distance'] > t.skew_threshold:
      reasons.append({'key': f'skew:{name}',
                      'text': f'skew on {name} ({label} {row["distance"]:.2f} > '
                              f'{t.skew_threshold:g})'})
    elif row['drifted']:
      reasons.append({'key': f'skew:{name}', 'text': f'skew on {name}: '
                      + '; '.join(row.get('reasons') or row['problems'])})
  return _check('skew', 'crossed' if reasons else 'ok', reasons,
                f'{len(rows)} features compared with the champion\'s training data',
                features=rows, instances=serving['rows'])


def prediction_drift(scores: list, offline: list | None, previous: list | None, policy,
                     min_requests: int) -> dict:
  """The live score distribution against the champion's offline eval scores and the
  previous window's live scores (PSI and JSD over the same ten buckets)."""
  n = sum(c for _, _, c in scores)
  if n < min_requests:
    return _check('prediction_drift', 'no_verdict', detail=f'{int(n)} scores in the window, '
                  f'fewer than min_requests {min_requests}', scores=scores)
  against, reasons = {}, []
  for name, base in (('offline', offline), ('previous_window', previous)):
    if not base or not sum(c for _, _, c in base):
      against[name] = None
      continue
    psi, jsd = histogram_psi(base, scores), jensen_shannon_divergence(base, scores)
    against[name] = {'psi': psi, 'jsd': jsd, 'histogram': base}
    what = ('the champion\'s offline eval scores' if name == 'offline'
            else 'the previous window')
    if psi is not None and psi > policy.max_psi:
      reasons.append({'key': f'prediction_drift:{name}:psi',
                      'text': f'prediction drift against {what} (PSI {psi:.2f} > '
                              f'{policy.max_psi:g})'})
    if jsd is not None and jsd > policy.max_jsd:
      reasons.append({'key': f'prediction_drift:{name}:jsd',
                      'text': f'prediction drift against {what} (JSD {jsd:.2f} > '
                              f'{policy.max_jsd:g})'})
  if not any(against.values()):
    return _check('prediction_drift', 'no_verdict', detail='nothing to compare with: the '
                  'champion has no offline score distribution and no earlier window was '
                  'served', scores=scores, against=against)
  compared = ' and '.join(k.replace('_', ' ') for k, v in against.items() if v)
  return _check('prediction_drift', 'crossed' if reasons else 'ok', reasons,
                f'{int(n)} live scores against the {compared} scores', scores=scores,
                against=against)


def online_metrics(counts: list[dict]) -> dict:
  """AUC (ties count half, as the Mann-Whitney statistic) and accuracy at 0.5 from
  per-score label counts [{'score', 'positives', 'negatives'}]."""
  rows = sorted((float(r['score']), int(r['positives']), int(r['negatives'])) for r in counts)
  pos = sum(p for _, p, _ in rows)
  neg = sum(n for _, _, n in rows)
  below, pairs, correct = 0, 0.0, 0
  for score, p, n in rows:
    pairs += p * below + 0.5 * p * n
    below += n
    correct += p if score > 0.5 else n  # Keras BinaryAccuracy: positive above 0.5
  total = pos + neg
  return {'labelled': total, 'positives': pos,
          'auc': pairs / (pos * neg) if pos and neg else None,
          'binary_accuracy': correct / total if total else None}


def decay(counts: list[dict], offline: dict | None, policy, *, instances: int, keyed: int,
          window_until) -> dict:
  """Performance decay: online AUC and accuracy on the labelled part of the window
  against the champion's offline figures (its run summary's eval split)."""
  online = online_metrics(counts)
  delay = (f'labels (the trip\'s tip) reach the source table up to '
           f'{policy.label_delay_hours:g} h after the trip; {online["labelled"]} of '
           f'{instances} served instances have theirs ({keyed} came with an example key)')
  figures = dict(online=online, offline=offline, label_delay_hours=policy.label_delay_hours,
                 label_coverage=online['labelled'] / instances if instances else None,
                 instances=instances, keyed=keyed)
  if online['labelled'] < policy.min_labels:
    return _check('decay', 'no_verdict', detail=f'not enough labels: {online["labelled"]} '
                  f'labelled predictions, fewer than min_labels {policy.min_labels}; {delay}',
                  **figures)
  if not offline:
    return _check('decay', 'no_verdict', detail=f'the champion has no offline metrics; '
                  f'{delay}', **figures)
  reasons = []
  for metric, limit in (('auc', policy.max_auc_drop),
                        ('binary_accuracy', policy.max_accuracy_drop)):
    now, then = online.get(metric), offline.get(metric)
    if now is None or then is None:
      continue
    if then - now > limit:
      name = 'AUC' if metric == 'auc' else 'accuracy'
      reasons.append({'key': f'decay:{metric}',
                      'text': f'performance decay: online {name} {now:.3f} vs offline '
                              f'{then:.3f} (drop {then - now:.3f} > {limit:g}, '
                              f'{online["labelled"]} labels)'})
  if online['auc'] is None:
    return _check('decay', 'no_verdict', detail=f'one class only among the '
                  f'{online["labelled"]} labels: AUC undefined; {delay}', **figures)
  return _check('decay', 'crossed' if reasons else 'ok', reasons, delay, **figures)


def data_quality(training: dict | None, serving: dict, traffic: list[dict], policy) -> dict:
  """Missing rates against training's, categorical values training never saw, and the
  share of requests the server refused."""
  reasons, features = [], []
  requests = sum(int(r['requests']) for r in traffic)
  refused = sum(int(r['requests']) for r in traffic if r.get('deployed_model_id') is None)
  rejected_rate = refused / requests if requests else None
  if rejected_rate is not None and rejected_rate > policy.max_rejected_rate:
    reasons.append({'key': 'data_quality:rejected',
                    'text': f'rejected requests: {refused} of {requests} '
                            f'({rejected_rate:.1%} > {policy.max_rejected_rate:.0%})'})
  rows = serving['rows']
  for name, f in sorted(serving['features'].items()) if rows else ():
    base = (training or {}).get('features', {}).get(name)
    served_missing = f['missing'] / rows
    train_missing = base['missing'] / training['rows'] if base and training['rows'] else None
    row = {'feature': name, 'missing_rate': served_missing, 'training_missing_rate':
           train_missing, 'out_of_domain_rate': None, 'out_of_domain_values': []}
    if train_missing is not None and (served_missing - train_missing
                                      > policy.max_missing_rate_delta):
      reasons.append({'key': f'data_quality:missing:{name}',
                      'text': f'{name} missing in {served_missing:.1%} of requests, '
                              f'{train_missing:.1%} in training (more than '
                              f'{policy.max_missing_rate_delta:.0%} above)'})
    known = (base or {}).get('values')
    complete = base is not None and base.get('distinct', 0) <= len(known or {})
    if f['kind'] == 'categorical' and known and complete and f.get('present'):
      unseen = {v: n for v, n in f.get('values', {}).items() if v not in known}
      rate = sum(unseen.values()) / f['present']
      row.update(out_of_domain_rate=rate, out_of_domain_values=sorted(
          unseen, key=lambda v: -unseen[v])[:5])
      if rate > policy.max_out_of_domain_rate:
        reasons.append({'key': f'data_quality:domain:{name}',
                        'text': f'{name}: {rate:.1%} of values never seen in training '
                                f'(e.g. {", ".join(map(repr, row["out_of_domain_values"][:3]))}; '
                                f'more than {policy.max_out_of_domain_rate:.0%})'})
    features.append(row)
  return _check('data_quality', 'crossed' if reasons else 'ok', reasons,
                f'{requests} requests ({refused} refused), {rows} answered instances',
                requests=requests, rejected=refused, rejected_rate=rejected_rate,
                features=features)


def verdict(checks: list[dict], retrain_on) -> dict:
  """{'retrain': bool, 'reasons': [{'check', 'key', 'text'}], 'summary'}: the reasons of
  the crossed checks the policy retrains on; the others are reported (and notified)."""
  reasons = [dict(r, check=c['name']) for c in checks if c['name'] in retrain_on
             for r in c['reasons']]
  others = [c['name'] for c in checks if c['status'] == 'crossed' and c['name'] not in retrain_on]
  states = ', '.join(f'{c["name"]} {c["status"]}' for c in checks)
  summary = ('retrain: ' + '; '.join(r['text'] for r in reasons) if reasons
             else f'no retraining: {states}')
  return {'retrain': bool(reasons), 'reasons': reasons, 'summary': summary,
          'crossed_not_retrained_on': others}

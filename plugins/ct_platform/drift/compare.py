"""Drift between two profiles, and the retrain policy. Pure functions.

Per feature: the TFDV-defined distance (ct_platform.drift.metrics), the change in the
missing rate, PSI when configured, and what could not be compared and why (a feature
missing from one side, a type change, no values). The policy: retrain if any feature
drifts past its threshold, its missing rate moves past its threshold, the schema
changed, the champion is older (in data time) than the configured maximum, or
force_retrain is set; otherwise the run ends with the reason.
"""

from __future__ import annotations

import datetime as dt

from ct_platform.drift import metrics
from ct_platform.drift.config import DriftConfig


def _rate(part: int, total: int) -> float:
  return part / total if total else 0.0


def compare_feature(name: str, base: dict | None, new: dict | None, base_rows: int,
                    new_rows: int, thresholds) -> dict:
  """One feature's row of the drift table."""
  out = {'feature': name, 'kind': thresholds.kind, 'metric': thresholds.metric,
         'threshold': thresholds.distance, 'distance': None, 'drifted': False,
         'problems': []}
  if base is None and new is None:
    out['problems'].append('not in either window')
    return out
  if new is None:
    out['status'] = 'missing_in_new'
    out['drifted'] = True
    out['problems'].append('missing from the new window (the champion was trained with it)')
    return out
  if base is None:
    out['status'] = 'new_feature'
    out['problems'].append('not in the champion\'s data (new column): nothing to compare')
    return out
  out['type'] = {'baseline': base['type'], 'new': new['type']}
  base_missing, new_missing = _rate(base['missing'], base_rows), _rate(new['missing'], new_rows)
  delta = new_missing - base_missing
  out['missing_rate'] = {'baseline': base_missing, 'new': new_missing, 'delta': delta,
                         'threshold': thresholds.missing_rate_delta,
                         'exceeded': abs(delta) > thresholds.missing_rate_delta}
  reasons = []
  if out['missing_rate']['exceeded']:
    reasons.append(f'missing rate {base_missing:.1%} -> {new_missing:.1%} '
                   f'(change {delta:+.1%}, threshold {thresholds.missing_rate_delta:.1%})')
  if base['type'] != new['type'] or base['kind'] != new['kind']:
    out['status'] = 'type_change'
    reasons.append(f'type changed: {base["type"]} in the champion\'s data, {new["type"]} '
                   f'in the new window')
  if base['kind'] == new['kind']:
    if new['kind'] == 'numeric':
      distance = metrics.jensen_shannon_divergence(base['histogram'], new['histogram'])
      out['psi'] = metrics.histogram_psi(base['histogram'], new['histogram'])
    else:
      linf = metrics.l_infinity(base['values'], new['values'])
      distance = linf[1] if linf else None
      if linf:
        out['max_difference_value'] = linf[0]
      out['psi'] = metrics.frequencies_psi(base['values'], new['values'])
    out['distance'] = distance
    if distance is None:
      side = 'new window' if not (new.get('histogram') or new.get('values')) else 'baseline'
      out['problems'].append(f'no values in the {side}: distance not defined')
    elif distance > thresholds.distance:
      label = 'Jensen-Shannon divergence' if new['kind'] == 'numeric' else 'L-infinity distance'
      extra = (f'; largest change: {out["max_difference_value"]!r}'
               if out.get('max_difference_value') is not None else '')
      reasons.append(f'{label} {distance:.4f} > {thresholds.distance}{extra}')
    if (thresholds.psi is not None and out.get('psi') is not None
        and out['psi'] > thresholds.psi):
      reasons.append(f'PSI {out["psi"]:.4f} > {thresholds.psi}')
  out['reasons'] = reasons
  out['drifted'] = bool(reasons)
  out.setdefault('status', 'drift' if reasons else 'ok')
  return out


def compare_profiles(baseline: dict, new: dict, config: DriftConfig) -> list[dict]:
  rows = []
  for name in sorted(config.features):
    rows.append(compare_feature(name, baseline['features'].get(name),
                                new['features'].get(name), baseline['rows'], new['rows'],
                                config.features[name]))
  return rows


def champion_age_days(champion_window_end: str | None, window_end: str) -> int | None:
  if not champion_window_end:
    return None
  return (dt.date.fromisoformat(window_end) - dt.date.fromisoformat(champion_window_end)).days


def _verdict(features: list[dict], *, age_days: int | None, champion_window_end: str | None,
             max_age_days: int, force_retrain: bool) -> dict:
  """The verdict from the compared features and the champion's age: retrain or not, and
  the reasons in words (evaluate is the one decision; this is its last step)."""
  reasons = []
  if force_retrain:
    reasons.append('force_retrain is set')
  for f in features:
    for r in f.get('reasons', []) if f['drifted'] else []:
      reasons.append(f'{f["feature"]}: {r}')
    if f.get('status') == 'missing_in_new':
      reasons.append(f'{f["feature"]}: {f["problems"][0]}')
  if max_age_days and age_days is not None and age_days > max_age_days:
    reasons.append(f'champion is stale: trained on data up to {champion_window_end}, '
                   f'{age_days} days before this window\'s end (max {max_age_days})')
  drifted = [f['feature'] for f in features if f['drifted']]
  if reasons:
    return {'retrain': True, 'reason': 'retrain: ' + '; '.join(reasons), 'reasons': reasons,
            'drifted_features': drifted}
  age = (f'champion trained on data up to {champion_window_end}, {age_days} days before '
         f'this window\'s end (max {max_age_days})' if age_days is not None else '')
  return {'retrain': False, 'reasons': [],
          'reason': f'no significant drift in {len(features)} features' +
                    (f'; {age}' if age else ''),
          'drifted_features': []}


def evaluate(baseline: dict | None, new: dict, config: DriftConfig, *,
             window_end: str, champion_window_end: str | None,
             force_retrain: bool = False) -> dict:
  """The whole evaluation: {'retrain', 'reason', 'reasons', 'features', ...}."""
  if baseline is None:
    reasons = (['force_retrain is set'] if force_retrain else []) + [
        'no baseline (no champion yet)']
    return {'retrain': True, 'reason': 'retrain: ' + '; '.join(reasons),
            'reasons': reasons, 'features': [],
            'drifted_features': [], 'champion_age_days': None,
            'new_rows': new['rows'], 'baseline_rows': None}
  features = compare_profiles(baseline, new, config)
  age = champion_age_days(champion_window_end, window_end)
  verdict = _verdict(features, age_days=age, champion_window_end=champion_window_end,
                   max_age_days=config.max_champion_age_days, force_retrain=force_retrain)
  return dict(verdict, features=features, champion_age_days=age,
              new_rows=new['rows'], baseline_rows=baseline['rows'])

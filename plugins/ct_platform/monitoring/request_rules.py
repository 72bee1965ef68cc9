"""The retrain-request rules: no retrain storms. Pure.

A monitoring run whose checks crossed a threshold asks for a retraining. It is sent (an
Asset event continuous_training is scheduled on) unless:
  - dedup: a continuous_training run is queued or running and the last request sent
    already carried every reason this one carries (the run it started will answer it);
  - cooldown: a request was sent less than `cooldown_hours` ago (default 24; the setting
    retrain_cooldown_hours) and this run is not forced.
A forced run still deduplicates: forcing does not queue a second run for the same reason.
Suppressed requests are recorded with why, like sent ones (ct_platform.monitoring.steps).
"""

from __future__ import annotations

import datetime as dt


def _time(record) -> dt.datetime:
  return dt.datetime.fromisoformat(record['requested_at'])


def last_sent(history: list[dict]) -> dict | None:
  sent = [r for r in history if r.get('sent')]
  return max(sent, key=_time) if sent else None


def decide(reasons: list[dict], history: list[dict], *, now: dt.datetime,
           active_runs: int, cooldown_hours: float, force: bool = False) -> dict:
  """{'send': bool, 'why': str}: whether a request with these reasons goes out."""
  if not reasons:
    return {'send': False, 'why': 'no check the policy retrains on crossed its threshold'}
  last = last_sent(history)
  keys = {r['key'] for r in reasons}
  if last and active_runs and keys <= set(last.get('keys') or ()):
    return {'send': False, 'why': (
        f'duplicate: request {last["request_id"]} ({last["requested_at"]}) already asked for '
        f'{", ".join(sorted(keys))} and {active_runs} continuous_training run'
        f'{"s are" if active_runs > 1 else " is"} queued or running')}
  if last and not force:
    age_h = (now - _time(last)).total_seconds() / 3600
    if age_h < cooldown_hours:
      return {'send': False, 'why': (
          f'cooldown: request {last["request_id"]} was sent {age_h:.1f} h ago '
          f'({last["requested_at"]}), less than retrain_cooldown_hours {cooldown_hours:g}; '
          f'trigger model_monitoring with force to send anyway')}
  why = 'forced' if force and last else 'first request' if not last else (
      f'the last request was sent {(now - _time(last)).total_seconds() / 3600:.1f} h ago')
  return {'send': True, 'why': why}

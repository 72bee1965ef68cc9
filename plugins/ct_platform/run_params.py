"""Rules that span several Params; the JSON schema checks each Param on its own.

The DAG's first task calls validate_run_params and fails at once with every problem,
each naming its fields.
"""

from __future__ import annotations

PROMOTION_MODES = ('auto', 'manual')


class RunParamsError(ValueError):
  pass


def validate_run_params(params: dict) -> dict:
  problems = []
  mode = params.get('promotion_mode', 'auto')
  if mode not in PROMOTION_MODES:
    problems.append(f'promotion_mode: {mode!r} is not one of {list(PROMOTION_MODES)}')
  force_promote, force_reject = bool(params.get('force_promote')), bool(
      params.get('force_reject'))
  if force_promote and force_reject:
    problems.append('force_promote and force_reject: set at most one of them')
  for flag in ('force_promote', 'force_reject'):
    reason = (params.get(f'{flag}_reason') or '').strip()
    if params.get(flag) and len(reason) < 5:
      problems.append(f'{flag}_reason: {flag} needs a reason of at least 5 characters '
                      f'(got {reason!r})')
  if params.get('dry_run') and force_promote:
    problems.append('dry_run and force_promote: a dry run never promotes; unset one')
  if problems:
    raise RunParamsError('invalid run parameters:\n  ' + '\n  '.join(problems))
  return params

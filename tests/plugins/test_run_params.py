"""Rules across Params, checked by the DAG's first task."""

import pytest

from ct_platform.run_params import RunParamsError, validate_run_params


def test_valid_params_pass():
  ok = {'promotion_mode': 'manual', 'force_promote': True,
        'force_promote_reason': 'approved by the model owner'}
  assert validate_run_params(ok) is ok


@pytest.mark.parametrize('params, expected', [
    ({'promotion_mode': 'yolo'}, "promotion_mode: 'yolo' is not one of"),
    ({'force_promote': True}, 'force_promote_reason: force_promote needs a reason'),
    ({'force_reject': True, 'force_reject_reason': '  '}, 'force_reject_reason:'),
    ({'force_promote': True, 'force_promote_reason': 'because',
      'force_reject': True, 'force_reject_reason': 'because'},
     'force_promote and force_reject: set at most one'),
    ({'dry_run': True, 'force_promote': True, 'force_promote_reason': 'because'},
     'dry_run and force_promote'),
])
def test_bad_combinations_name_the_fields(params, expected):
  with pytest.raises(RunParamsError) as info:
    validate_run_params(params)
  assert expected in str(info.value)


def test_every_problem_is_reported_at_once():
  with pytest.raises(RunParamsError) as info:
    validate_run_params({'promotion_mode': 'x', 'force_reject': True})
  assert 'promotion_mode' in str(info.value) and 'force_reject_reason' in str(info.value)

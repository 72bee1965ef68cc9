"""The training-window rule for scheduled, manual and Asset-triggered runs."""

import datetime as dt

import pytest

from ct_platform.window import resolve_window

UTC = dt.timezone.utc


@pytest.mark.parametrize('kwargs, start, end, source', [
    # scheduled run: logical date (CronTriggerTimetable: zero-length data interval)
    (dict(logical_date=dt.datetime(2016, 5, 13, 6, tzinfo=UTC)), '2016-04-13', '2016-05-13',
     'logical_date'),
    # manual run with a window_end Param: the Param wins over the logical date
    (dict(window_end='2015-02-01', window_days=10,
          logical_date=dt.datetime(2016, 5, 13, tzinfo=UTC)), '2015-01-22', '2015-02-01', 'param'),
    # Asset-triggered run: no logical date, run_after
    (dict(logical_date=None, run_after=dt.datetime(2016, 1, 2, 23, 59, tzinfo=UTC)),
     '2015-12-03', '2016-01-02', 'run_after'),
    # a logical date late in the day elsewhere is taken in UTC
    (dict(logical_date=dt.datetime(2016, 1, 1, 23, 30,
                                   tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
     '2015-12-03', '2016-01-02', 'logical_date'),
])
def test_window_rule(kwargs, start, end, source):
  w = resolve_window(default_days=30, **kwargs) if 'window_days' not in kwargs else \
      resolve_window(**kwargs)
  assert (w.start.isoformat(), w.end.isoformat(), w.source) == (start, end, source)


def test_days_default_and_bounds():
  assert resolve_window(window_end='2016-01-01', default_days=7).days == 7
  assert resolve_window(window_end='2016-01-01', window_days=3660).days == 3660


@pytest.mark.parametrize('kwargs, message', [
    (dict(window_end='2016-13-01'), "window_end: '2016-13-01' is not a date"),
    (dict(window_end='last tuesday'), "window_end: 'last tuesday' is not a date"),
    (dict(window_end='2016-01-01', window_days=0), 'window_days: 0 is outside [1, 3660]'),
    (dict(window_end='2016-01-01', window_days=5000), 'window_days: 5000 is outside'),
    (dict(window_end='2016-01-01', window_days='7'), "window_days: '7' is not a whole"),
    (dict(window_end='2016-01-01', window_days=True), 'window_days: True is not a whole'),
    (dict(), 'window_end: no window_end Param, logical date or run_after'),
])
def test_bad_windows_name_the_field(kwargs, message):
  with pytest.raises(ValueError) as info:
    resolve_window(**kwargs)
  assert message in str(info.value)


def test_a_window_of_the_far_future_is_refused_naming_the_field():
  today = dt.date(2026, 12, 3)
  with pytest.raises(ValueError, match=r'window_end: the window would end on 9999-12-31, '
                     r'\d+ days after today \(2026-12-03\); at most 1 day\(s\) ahead'):
    resolve_window(window_end='9999-12-31', today=today, max_lead_days=1)
  with pytest.raises(ValueError, match=r'^logical_date: the window would end on 2027-01-01'):
    resolve_window(logical_date=dt.datetime(2027, 1, 1, tzinfo=UTC), today=today,
                   max_lead_days=1)
  # tomorrow is fine (a run just after midnight elsewhere), and the past always is
  assert resolve_window(window_end='2026-12-04', today=today, max_lead_days=1).end == (
      dt.date(2026, 12, 4))
  assert resolve_window(window_end='2016-01-01', today=today, max_lead_days=1).days == 30
  # no limit configured: anything goes (the pure rule, as before)
  assert resolve_window(window_end='9999-12-31').end == dt.date(9999, 12, 31)

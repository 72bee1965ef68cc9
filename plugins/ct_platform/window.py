"""The training-window rule: one place turns a DAG run into (end, days).

    end  = the window_end Param if given,
           else the run's logical date (scheduled and manual runs),
           else its run_after (Asset-triggered runs have no logical date);
    days = the window_days Param, else the configured default.

The window is [end - days, end): `end` is exclusive, at midnight UTC of its date.
Not the data interval: Airflow 3's cron schedules default to CronTriggerTimetable,
whose interval has zero length.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

MIN_DAYS = 1
MAX_DAYS = 3660  # ten years: the whole public table fits


@dataclasses.dataclass(frozen=True)
class TrainingWindow:
  start: dt.date  # inclusive
  end: dt.date    # exclusive
  source: str     # which rule chose `end`: param | logical_date | run_after

  @property
  def days(self) -> int:
    return (self.end - self.start).days

  def as_dict(self) -> dict:
    return {'start': self.start.isoformat(), 'end': self.end.isoformat(),
            'days': self.days, 'source': self.source}

  @classmethod
  def from_dict(cls, d: dict, source: str | None = None) -> 'TrainingWindow':
    """The window as_dict() wrote (a plan's, a manifest's, a champion's record)."""
    return cls(start=dt.date.fromisoformat(d['start']), end=dt.date.fromisoformat(d['end']),
               source=source or d.get('source', 'recorded'))

  @property
  def slug(self) -> str:
    return f'{self.start:%Y%m%d}-{self.end:%Y%m%d}'


def _as_date(value, field: str) -> dt.date:
  if isinstance(value, dt.datetime):
    return value.astimezone(dt.timezone.utc).date() if value.tzinfo else value.date()
  if isinstance(value, dt.date):
    return value
  if isinstance(value, str):
    try:
      return dt.date.fromisoformat(value[:10])
    except ValueError:
      pass
  raise ValueError(f'{field}: {value!r} is not a date (expected YYYY-MM-DD)')


def resolve_window(window_end=None, window_days=None, logical_date=None, run_after=None,
                   default_days: int = 30, today: dt.date | None = None,
                   max_lead_days: int | None = None) -> TrainingWindow:
  """Applies the rule above; raises ValueError naming the field on bad input.

  With max_lead_days, a window may end at most that many days after `today` (UTC):
  a window of the far future (window_end 9999-12-31) has no data yet and is a typo.
  """
  if window_end not in (None, ''):
    end, source = _as_date(window_end, 'window_end'), 'param'
  elif logical_date is not None:
    end, source = _as_date(logical_date, 'logical_date'), 'logical_date'
  elif run_after is not None:
    end, source = _as_date(run_after, 'run_after'), 'run_after'
  else:
    raise ValueError('window_end: no window_end Param, logical date or run_after to '
                     'take the window end from')
  days = default_days if window_days in (None, '') else window_days
  if isinstance(days, bool) or not isinstance(days, int):
    raise ValueError(f'window_days: {days!r} is not a whole number of days')
  if not MIN_DAYS <= days <= MAX_DAYS:
    raise ValueError(f'window_days: {days} is outside [{MIN_DAYS}, {MAX_DAYS}]')
  if max_lead_days is not None:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if (end - today).days > max_lead_days:
      field = {'param': 'window_end', 'logical_date': 'logical_date',
               'run_after': 'run_after'}[source]
      raise ValueError(f'{field}: the window would end on {end}, {(end - today).days} days '
                       f'after today ({today}); at most {max_lead_days} day(s) ahead is '
                       f'allowed (setting max_window_lead_days): a window of the future '
                       f'has no data yet')
  return TrainingWindow(start=end - dt.timedelta(days=days), end=end, source=source)

"""CanaryTrafficTrigger: serializes, polls the prediction log asynchronously, yields one
event when the challenger has answered enough requests or the window ends."""

import asyncio
import datetime as dt
import json
import threading
import time

from fakes.prediction_log import row, write_part

from ct_platform.triggers.canary import CanaryTrafficTrigger


def _trigger(folder, since, seconds, min_requests):
  until = since + dt.timedelta(seconds=seconds)
  log = {'kind': 'local', 'folder': str(folder), 'endpoint': 'chicago-taxi-tipper'}
  return CanaryTrafficTrigger(log, 'v2', since.isoformat(),
                              until.isoformat(), min_requests, poll_interval=0.1)


async def _first_event(trigger):
  async for event in trigger.run():
    return event.payload


def test_it_fires_once_the_challenger_answered_enough_requests(tmp_path):
  now = dt.datetime.now(dt.timezone.utc)
  trigger = _trigger(tmp_path, now - dt.timedelta(seconds=1), 60, min_requests=30)
  path, kwargs = trigger.serialize()
  assert path == 'ct_platform.triggers.canary.CanaryTrafficTrigger'
  rebuilt = CanaryTrafficTrigger(**json.loads(json.dumps(kwargs)))

  def traffic():  # the log grows while the trigger polls
    for part in range(3):
      time.sleep(0.3)
      rows = [row('v2' if i % 2 else 'v1', 0.5) for i in range(30)]
      for r in rows:
        r['logging_time'] = dt.datetime.now(dt.timezone.utc)
      write_part(tmp_path, rows, f'part-{part}.parquet')
  writer = threading.Thread(target=traffic)
  writer.start()
  event = asyncio.run(_first_event(rebuilt))
  writer.join()
  assert event['status'] == 'ENOUGH_REQUESTS' and 30 <= event['challenger_requests'] <= 45


def test_it_fires_when_the_window_ends_with_what_there_is(tmp_path):
  now = dt.datetime.now(dt.timezone.utc)
  rows = [row('v2', 0.5) for _ in range(4)] + [row('v2', 0.5)]
  for r in rows[:4]:
    r['logging_time'] = now
  rows[4]['logging_time'] = now - dt.timedelta(hours=1)  # before the canary: not counted
  write_part(tmp_path, rows)
  started = time.monotonic()
  event = asyncio.run(_first_event(_trigger(tmp_path, now - dt.timedelta(seconds=1), 1.0,
                                            min_requests=1000)))
  assert event['status'] == 'WINDOW_ENDED' and event['challenger_requests'] == 4
  assert time.monotonic() - started < 30

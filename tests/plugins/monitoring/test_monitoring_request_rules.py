"""The retrain-request rules: cooldown, dedup while a run is queued or running, force."""

import datetime as dt

from ct_platform.monitoring.request_rules import decide

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)
SKEW = [{'key': 'skew:fare', 'text': 'skew on fare (JSD 0.21 > 0.15)'}]
DECAY = [{'key': 'decay:auc', 'text': 'performance decay'}]


def sent(hours_ago, keys=('skew:fare',), request_id='r1', was_sent=True):
  return {'request_id': request_id, 'sent': was_sent, 'keys': list(keys),
          'requested_at': (NOW - dt.timedelta(hours=hours_ago)).isoformat()}


def test_nothing_crossed_sends_nothing():
  assert decide([], [], now=NOW, active_runs=0, cooldown_hours=24)['send'] is False


def test_the_first_request_is_sent():
  out = decide(SKEW, [], now=NOW, active_runs=0, cooldown_hours=24)
  assert out == {'send': True, 'why': 'first request'}


def test_a_second_request_within_the_cooldown_is_suppressed_unless_forced():
  history = [sent(5)]
  out = decide(DECAY, history, now=NOW, active_runs=0, cooldown_hours=24)
  assert not out['send']
  assert out['why'].startswith('cooldown: request r1 was sent 5.0 h ago')
  assert 'less than retrain_cooldown_hours 24' in out['why']
  assert decide(DECAY, history, now=NOW, active_runs=0, cooldown_hours=24, force=True) == {
      'send': True, 'why': 'forced'}
  # after the cooldown
  assert decide(DECAY, [sent(30)], now=NOW, active_runs=0, cooldown_hours=24)['send']


def test_suppressed_requests_do_not_start_a_cooldown():
  history = [sent(2, was_sent=False), sent(40, request_id='r0')]
  assert decide(SKEW, history, now=NOW, active_runs=0, cooldown_hours=24)['send']


def test_the_same_reason_while_a_run_is_queued_or_running_is_a_duplicate_even_forced():
  history = [sent(0.5, keys=('skew:fare', 'decay:auc'))]
  out = decide(SKEW, history, now=NOW, active_runs=1, cooldown_hours=0, force=True)
  assert not out['send']
  assert out['why'] == ('duplicate: request r1 (' + history[0]['requested_at'] + ') already '
                        'asked for skew:fare and 1 continuous_training run is queued or '
                        'running')
  # a new reason is not a duplicate (the cooldown still applies, here 0)
  assert decide(SKEW + DECAY + [{'key': 'skew:company', 'text': 'x'}], history, now=NOW,
                active_runs=1, cooldown_hours=0)['send']
  # nothing running: not a duplicate any more
  assert decide(SKEW, history, now=NOW, active_runs=0, cooldown_hours=0)['send']

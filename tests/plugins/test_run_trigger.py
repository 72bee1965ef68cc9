"""What started a continuous_training run: the record its summary, notifications and
registry metadata carry."""

import types

from ct_platform.run_trigger import asset_events, describe


def event(name, extra, at, dag='model_monitoring'):
  return types.SimpleNamespace(asset=types.SimpleNamespace(name=name), extra=extra,
                               source_dag_id=dag, source_run_id='r', timestamp=at)


def test_several_merged_events_are_all_listed_and_their_reasons_merged():
  accessor = {
      'retrain_request': [
          event('chicago-taxi-tipper.retrain_request',
                {'request_id': 'q2', 'reasons': ['skew on fare (JSD 0.21 > 0.15)']}, '2'),
          event('chicago-taxi-tipper.retrain_request',
                {'request_id': 'q1', 'reasons': ['skew on fare (JSD 0.21 > 0.15)',
                                                 'performance decay: x']}, '1')],
      'source': [event('chicago_taxi_trips.taxi_trips', {}, '3', dag='elt')]}
  events = asset_events(accessor)
  assert [e['timestamp'] for e in events] == ['1', '2', '3']
  out = describe('asset_triggered', None, events)
  assert out['kind'] == 'monitoring' and out['requests'] == ['q1', 'q2']
  assert out['reasons'] == ['skew on fare (JSD 0.21 > 0.15)', 'performance decay: x']
  assert out['reason'] == ('triggered by monitoring: skew on fare (JSD 0.21 > 0.15); '
                           'performance decay: x (requests q1, q2)')
  assert len(out['events']) == 3


def test_upstream_assets_schedules_and_people():
  up = describe('asset_triggered', None, asset_events(
      {'s': [event('chicago_taxi_trips.taxi_trips', {}, '1', dag='elt')]}))
  assert up['kind'] == 'asset'
  assert up['reason'] == 'triggered by Asset event: chicago_taxi_trips.taxi_trips from elt'
  assert describe('scheduled', None, [])['reason'] == 'scheduled run'
  manual = describe('manual', 'ada', [])
  assert manual['kind'] == 'manual' and manual['reason'] == 'manual run by ada'

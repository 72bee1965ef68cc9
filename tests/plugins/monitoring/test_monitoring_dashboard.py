"""The dashboard over time: what it keeps of each run, its time-axis marks, its charts."""

from ct_platform.monitoring import dashboard


def record(at, version, skew_fare, online_auc, request=None, status='ok'):
  return {'run_id': f'run-{at}', 'window': {'until': at},
          'champion': {'version': version},
          'verdict': {'retrain': status == 'crossed'},
          'checks': [
              {'name': 'skew', 'status': status,
               'features': [{'feature': 'fare', 'distance': skew_fare},
                            {'feature': 'pickup_census_tract', 'distance': None}]},
              {'name': 'decay', 'status': 'ok', 'online': {'auc': online_auc},
               'offline': {'auc': 0.9}},
              {'name': 'prediction_drift', 'status': 'ok',
               'against': {'offline': {'psi': 0.02}, 'previous_window': None}}]}


def test_a_run_is_kept_as_the_figures_the_charts_draw():
  row = dashboard.summary_row(record('2026-12-01T02:00:00+00:00', 1, 0.21, 0.8, status='crossed'),
                              {'request_id': 'q1', 'sent': True, 'why': 'first request',
                               'reasons': ['skew on fare'], 'extra': 'dropped'})
  assert row['skew'] == {'fare': 0.21}  # a feature without a distance is not drawn
  assert row['statuses'] == {'skew': 'crossed', 'decay': 'ok', 'prediction_drift': 'ok'}
  assert row['online'] == {'auc': 0.8} and row['score_psi'] == {'offline': 0.02,
                                                                 'previous_window': None}
  assert row['request'] == {'request_id': 'q1', 'sent': True, 'why': 'first request',
                            'reasons': ['skew on fare']}


def test_champion_changes_and_sent_requests_are_marked_on_the_time_axis():
  history = [dashboard.summary_row(record('2026-12-01T01:00:00+00:00', 1, 0.02, 0.9), None),
             dashboard.summary_row(record('2026-12-01T02:00:00+00:00', 1, 0.3, 0.6,
                                          status='crossed'),
                                   {'request_id': 'q1', 'sent': True}),
             dashboard.summary_row(record('2026-12-01T03:00:00+00:00', 1, 0.4, 0.6,
                                          status='crossed'),
                                   {'request_id': 'q2', 'sent': False, 'why': 'cooldown: x'}),
             dashboard.summary_row(record('2026-12-01T09:00:00+00:00', 2, 0.03, 0.91), None)]
  assert dashboard.markers(history) == [
      ('2026-12-01T02:00:00+00:00', 'retrain requested', '#d93025'),
      ('2026-12-01T09:00:00+00:00', 'v2 champion', '#188038')]
  page = dashboard.dashboard_html(
      history, [{'day': '2026-12-01', 'deployed_model_id': 'v1', 'requests': 900},
                {'day': '2026-12-01', 'deployed_model_id': None, 'requests': 4}],
      [{'day': '2026-12-01', 'deployed_model_id': 'v1', 'p99_ms': 3.5}], 'now')
  assert page.count('<svg') == 5 and page.count('<polyline') >= 3
  assert 'v2 champion' in page and 'suppressed: cooldown: x' in page
  assert '4 monitoring runs' in page and '&#9632; refused' in page


def test_an_empty_history_still_draws_a_page():
  page = dashboard.dashboard_html([], [], [], 'now')
  assert '0 monitoring runs' in page and 'no data yet' in page


def test_the_dashboard_keeps_the_last_days_only(tmp_path):
  # an hourly schedule adds 24 rows a day: each run re-reads the log for the shown span only
  import json

  from ct_platform.config import load_settings
  from ct_platform.monitoring import steps

  settings = load_settings({'local_dir': str(tmp_path)}, use_variable=False)
  root = tmp_path / 'bucket' / 'monitoring'
  root.mkdir(parents=True)
  old = dashboard.summary_row(record('2026-10-01T00:00:00+00:00', 1, 0.1, 0.9), None)
  recent = dashboard.summary_row(record('2026-11-20T00:00:00+00:00', 1, 0.1, 0.9), None)
  (root / 'history.json').write_text(json.dumps([old, recent]))
  now = record('2026-12-01T00:00:00+00:00', 1, 0.2, 0.9)
  now['window'].update(since='2026-11-30T00:00:00+00:00', window_hours=24)
  (root / 'now.json').write_text(json.dumps(now))
  steps.update_dashboard({'json': str(root / 'now.json')}, None, settings)
  kept = json.loads((root / 'history.json').read_text())
  assert [r['at'] for r in kept] == ['2026-11-20T00:00:00+00:00', '2026-12-01T00:00:00+00:00']
  assert '2 monitoring runs' in (root / 'dashboard.html').read_text()

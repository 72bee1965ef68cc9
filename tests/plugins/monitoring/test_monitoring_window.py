"""What a monitoring run reads, by the real queries: BigQuery SQL run by DuckDB over the
log's Parquet parts, with the seeded warehouse attached for the label join."""

import datetime as dt
import json

import pytest
from fakes import monitoring

UNTIL = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope='module')
def served(tmp_path_factory):
  """A champion, 600 trips of its training window served with informed scores, 5
  requests of another deployed model, 20 refused ones, and 50 trips after the window."""
  local = tmp_path_factory.mktemp('monitoring-window')
  settings = monitoring.seed(local)
  monitoring.register_champion(local)
  rows = monitoring.trips(local, dt.date(2013, 1, 1), 1095, 600)
  scores = monitoring.scores(rows)
  monitoring.write_log(local, rows, scores, UNTIL, rejected=20)
  monitoring.write_log(local, rows[:5], [0.5] * 5, UNTIL, version=2, name='part-v2.parquet')
  later = UNTIL + dt.timedelta(hours=2)
  monitoring.write_log(local, rows[:50], scores[:50], later, name='part-later.parquet')
  return local, settings, rows, scores


def plan(settings, **params):
  from ct_platform.monitoring import steps
  return steps.plan_window(dict({'window_end': UNTIL.isoformat()}, **params), UNTIL,
                           'manual__monitoring-test', settings)


def test_the_window_holds_the_champions_answered_instances_and_their_labels(served):
  from ct_platform.monitoring import steps
  local, settings, rows, scores = served
  read = steps.read_window(plan(settings), settings)
  assert read['champion']['version'] == 1 and read['champion']['deployed_id'] == 'v1'
  assert read['instances'] == 600 and read['keyed'] == 600  # not v2's, not the later ones
  assert read['profile']['rows'] == 600
  assert sorted(read['profile']['features']) == monitoring.FEATURES  # the label is not sent
  assert [c for _, _, c in read['scores']] == [c for _, _, c in monitoring.histogram(scores)]
  labelled = [label for _, label in rows if label is not None]
  assert sum(r['positives'] for r in read['labelled']) == sum(labelled)
  assert sum(r['positives'] + r['negatives'] for r in read['labelled']) == len(labelled)
  by_model = {t['deployed_model_id']: t['requests'] for t in read['traffic']}
  assert by_model == {'v1': 600, 'v2': 5, None: 20}
  assert read['previous_scores'] == [[i / 10, (i + 1) / 10, 0.0] for i in range(10)]
  # where a retraining should end its window: the day after the newest labelled trip
  newest = max(dt.datetime.fromtimestamp(i['trip_start_timestamp'], dt.timezone.utc).date()
               for i, label in rows if label is not None)
  assert steps.data_until(read['labelled']) == (newest + dt.timedelta(days=1)).isoformat()


def test_a_shifted_feature_is_skew_and_the_report_draws_it(served, tmp_path):
  from ct_platform.monitoring import steps
  local, settings, rows, scores = served
  shifted = monitoring.seed(tmp_path)  # a second local state, same warehouse and champion
  monitoring.register_champion(tmp_path)
  monitoring.write_log(tmp_path, rows, scores, UNTIL,
                       change=lambda i: dict(i, fare=(i['fare'] or 0) * 4 + 20))
  p = plan(shifted)
  result = steps.evaluate(p, steps.read_window(p, shifted), shifted)
  assert result['statuses']['skew'] == 'crossed', result
  assert [r['key'] for r in result['verdict']['reasons']] == ['skew:fare']
  assert result['verdict']['reasons'][0]['text'].startswith('skew on fare (JSD ')
  record = json.loads(open(result['json']).read())
  assert record['window'] == {'since': '2026-11-30T00:00:00+00:00',
                              'until': '2026-12-01T00:00:00+00:00', 'window_hours': 24.0}
  page = open(result['report']).read()
  assert 'RETRAIN REQUESTED' in page and 'skew on fare (JSD' in page
  assert page.count('<svg') >= 2  # skew per feature, the score distribution


def test_a_bad_window_end_is_named(served):
  _, settings, _, _ = served
  with pytest.raises(ValueError, match=r"window_end: '1 Dec' is not an ISO date-time"):
    plan(settings, window_end='1 Dec')

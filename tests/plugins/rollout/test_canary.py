"""The canary's figures and verdict, from prediction-log rows (pure functions)."""

import random

from fakes.prediction_log import row, traffic

from ct_platform.rollout import canary
from ct_platform.rollout.policy import CanaryPolicy


def test_figures_count_errors_not_rejections_and_bucket_scores():
  rows = traffic('v1', 100, errors=3) + [row(None, None, status=400)] + traffic('v2', 5)
  f = canary.model_figures(rows, 'v1')
  assert f['requests'] == 100 and f['errors'] == 3 and f['error_rate'] == 0.03
  assert f['predictions'] == 97 and sum(c for *_, c in f['score_histogram']) == 97
  assert 2.0 <= f['p50_ms'] <= f['p99_ms'] <= 3.0
  assert sum(f['latency_histogram_ms'].values()) == 97
  assert canary.model_figures(rows, 'v3')['requests'] == 0


def test_percentile_is_nearest_rank():
  assert canary.percentile(list(range(1, 101)), 0.99) == 99
  assert canary.percentile([5.0], 0.5) == 5.0 and canary.percentile([], 0.5) is None


def test_a_similar_challenger_passes():
  rows = traffic('v1', 400, seed=1) + traffic('v2', 400, seed=2)
  verdict = canary.compare(canary.model_figures(rows, 'v1'), canary.model_figures(rows, 'v2'),
                           CanaryPolicy(min_requests=200))
  assert verdict['passed'], verdict['reasons']
  assert [c['name'] for c in verdict['checks']] == [
      'challenger_requests', 'error_rate_delta', 'p99_latency_ratio', 'score_psi',
      'score_jsd', 'online_accuracy_drop']


def test_a_constant_challenger_fails_on_the_score_distribution():
  rows = traffic('v1', 400) + traffic('v2', 400, score=lambda r: 0.5)
  verdict = canary.compare(canary.model_figures(rows, 'v1'), canary.model_figures(rows, 'v2'),
                           CanaryPolicy(min_requests=200))
  failed = {c['name'] for c in verdict['checks'] if not c['passed']}
  assert failed == {'score_psi', 'score_jsd'}
  assert any('PSI of the predicted-score distributions' in r for r in verdict['reasons'])


def test_errors_latency_and_too_few_requests_each_fail_their_check():
  champion = traffic('v1', 400)
  cases = {'error_rate_delta': traffic('v2', 400, errors=20),
           'p99_latency_ratio': traffic('v2', 400, latency=40.0),
           'challenger_requests': traffic('v2', 50)}
  for name, challenger_rows in cases.items():
    rows = champion + challenger_rows
    verdict = canary.compare(canary.model_figures(rows, 'v1'),
                             canary.model_figures(rows, 'v2'), CanaryPolicy(min_requests=200))
    failed = {c['name'] for c in verdict['checks'] if not c['passed']}
    assert name in failed and not verdict['passed'], (name, failed)


def test_p99_within_the_slack_passes_whatever_the_ratio():
  rows = traffic('v1', 400, latency=1.0) + traffic('v2', 400, latency=5.0)  # 5x, +4 ms
  verdict = canary.compare(canary.model_figures(rows, 'v1'), canary.model_figures(rows, 'v2'),
                           CanaryPolicy(min_requests=200, p99_slack_ms=10))
  (p99,) = [c for c in verdict['checks'] if c['name'] == 'p99_latency_ratio']
  assert p99['passed'] and p99['value'] > 2.0


def test_online_accuracy_is_judged_only_with_enough_labels():
  r = random.Random(3)
  rows = []
  for i in range(300):
    truth = r.random() < 0.5
    rows.append(row('v1', 0.9 if truth else 0.1, key=f'k{i}', at=i))        # always right
    rows.append(row('v2', r.choice([0.1, 0.9]), key=f'k{i}', at=i + 0.5))  # a coin
  labels = {f'k{i}': int(json_truth) for i, json_truth in enumerate(
      [row_['response_payload'][0] == '[0.9]' for row_ in rows[::2]])}
  policy = CanaryPolicy(min_requests=200, min_labelled=100)
  champion = canary.model_figures(rows, 'v1', labels)
  challenger = canary.model_figures(rows, 'v2', labels)
  assert champion['accuracy'] == 1.0 and 0.35 < challenger['accuracy'] < 0.65
  verdict = canary.compare(champion, challenger, policy)
  (acc,) = [c for c in verdict['checks'] if c['name'] == 'online_accuracy_drop']
  assert not acc['passed'] and acc['value'] > 0.3
  few = canary.compare(canary.model_figures(rows, 'v1', dict(list(labels.items())[:50])),
                       canary.model_figures(rows, 'v2', dict(list(labels.items())[:50])), policy)
  (acc,) = [c for c in few['checks'] if c['name'] == 'online_accuracy_drop']
  assert acc['passed'] and acc['value'] is None and 'not judged: 50' in acc['detail']


def test_traffic_over_time_counts_every_request_once():
  rows = traffic('v1', 90) + traffic('v2', 10)
  t = canary.traffic_over_time(rows, ['v1', 'v2'], buckets=10)
  assert sum(t['counts']['v1']) == 90 and sum(t['counts']['v2']) == 10
  assert canary.traffic_over_time([], ['v1'])['counts'] == {'v1': []}

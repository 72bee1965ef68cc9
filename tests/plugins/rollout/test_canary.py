"""The canary's figures and verdict, from prediction-log rows (pure functions)."""

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
      'score_jsd', 'online_accuracy_drop', 'online_auc_drop']


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


def counts(right: int, wrong: int) -> list[dict]:
  """The label join's per-score counts of a model right on `right` instances (half of
  them positives) and wrong on `wrong`."""
  return [{'score': 0.9, 'positives': right // 2, 'negatives': wrong // 2},
          {'score': 0.1, 'positives': wrong - wrong // 2, 'negatives': right - right // 2}]


def test_online_accuracy_is_judged_only_with_enough_labels():
  rows = traffic('v1', 300, seed=1) + traffic('v2', 300, seed=2)
  policy = CanaryPolicy(min_requests=200, min_labelled=100)
  champion = canary.model_figures(rows, 'v1', counts(300, 0))
  challenger = canary.model_figures(rows, 'v2', counts(150, 150))  # a coin
  assert champion['accuracy'] == 1.0 and champion['auc'] == 1.0 and champion['labelled'] == 300
  assert challenger['accuracy'] == 0.5 and challenger['auc'] == 0.5
  verdict = canary.compare(champion, challenger, policy)
  checks = {c['name']: c for c in verdict['checks']}
  assert not checks['online_accuracy_drop']['passed']
  assert checks['online_accuracy_drop']['value'] == 0.5
  assert not checks['online_auc_drop']['passed'] and checks['online_auc_drop']['value'] == 0.5
  assert 'challenger 0.5000 (300 labelled) vs champion 1.0000' in \
      checks['online_auc_drop']['detail']
  few = canary.compare(canary.model_figures(rows, 'v1', counts(50, 0)),
                       canary.model_figures(rows, 'v2', counts(25, 25)), policy)
  for name in ('online_accuracy_drop', 'online_auc_drop'):
    (c,) = [c for c in few['checks'] if c['name'] == name]
    assert c['passed'] and c['value'] is None and 'not judged: 50' in c['detail']
  assert canary.model_figures(rows, 'v1')['labelled'] == 0  # no label join: not judged


def test_labels_outrank_a_score_shift_only_when_the_challenger_is_as_accurate():
  # A retrained model scores differently from the champion (the demo's case under drift:
  # PSI 0.53), and the labelled live requests show it as accurate: it passes.
  rows = traffic('v1', 400, seed=1) + traffic('v2', 400, score=lambda r: r.random() * 0.3)
  policy = CanaryPolicy(min_requests=200, min_labelled=100)
  shifted = canary.compare(canary.model_figures(rows, 'v1', counts(180, 20)),
                           canary.model_figures(rows, 'v2', counts(185, 15)), policy)
  psi = {c['name']: c for c in shifted['checks']}['score_psi']
  assert shifted['passed'], shifted['reasons']
  assert psi['value'] > 0.25 and 'passed on labels' in psi['detail']
  # the same shift with too few labels, a less accurate challenger, or the switch off fails
  for champion_counts, challenger_counts, switch in ((counts(50, 5), counts(50, 5), True),
                                                     (counts(180, 20), counts(150, 50), True),
                                                     (counts(180, 20), counts(185, 15), False)):
    verdict = canary.compare(
        canary.model_figures(rows, 'v1', champion_counts),
        canary.model_figures(rows, 'v2', challenger_counts),
        CanaryPolicy(min_requests=200, min_labelled=100, labels_outrank_score_shift=switch))
    failed = {c['name'] for c in verdict['checks'] if not c['passed']}
    assert {'score_psi', 'score_jsd'} <= failed, (switch, failed)
    assert not any('passed on labels' in c['detail'] for c in verdict['checks'])


def test_a_constant_is_not_explained_by_labels_even_where_it_is_more_accurate():
  # the majority class makes a constant more accurate than a weak champion (the rollout
  # test's stand-ins: 0.767 vs 0.621), and its AUC drop (0.5 vs 0.567) is within the
  # noise of 200 labels each, but it ranks nothing: only skill beyond noise lets labels
  # outrank a shift
  rows = traffic('v1', 300, seed=1) + traffic('v2', 300, score=lambda r: 0.5)
  weak = [{'score': 0.8, 'positives': 20, 'negatives': 40},
          {'score': 0.2, 'positives': 30, 'negatives': 110}]
  constant = [{'score': 0.5, 'positives': 47, 'negatives': 153}]
  champion = canary.model_figures(rows, 'v1', weak)
  challenger = canary.model_figures(rows, 'v2', constant)
  assert challenger['accuracy'] > champion['accuracy'] and challenger['auc'] == 0.5
  verdict = canary.compare(champion, challenger, CanaryPolicy(min_requests=200))
  checks = {c['name']: c for c in verdict['checks']}
  failed = {name for name, c in checks.items() if not c['passed']}
  assert failed == {'score_psi', 'score_jsd'}, verdict['reasons']
  assert 'within sampling noise' in checks['online_auc_drop']['detail']
  assert ("the labels do not outrank it: the challenger's online AUC 0.5000 is not above "
          "chance (0.5") in checks['score_psi']['detail']
  # a skilled challenger with as many labels is explained
  skilled = [{'score': 0.9, 'positives': 40, 'negatives': 10},
             {'score': 0.1, 'positives': 7, 'negatives': 143}]
  assert canary.ranks_above_chance(canary.model_figures(rows, 'v2', skilled), 0.95)['passed']


def test_a_label_drop_within_sampling_noise_passes_and_beyond_it_fails():
  rows = traffic('v1', 300, seed=1) + traffic('v2', 300, seed=2)
  policy = CanaryPolicy(min_requests=200, min_labelled=100)
  # 0.90 vs 0.83 on 100 labels each: 0.07 over the 0.05 tolerance, 1.5 standard errors
  small = canary.compare(canary.model_figures(rows, 'v1', counts(90, 10)),
                         canary.model_figures(rows, 'v2', counts(83, 17)), policy)
  acc = {c['name']: c for c in small['checks']}['online_accuracy_drop']
  assert acc['passed'] and 'within sampling noise (1.5 standard errors; 1.96 needed' in \
      acc['detail']
  # the same rates on 1,000 labels each: beyond the noise
  large = canary.compare(canary.model_figures(rows, 'v1', counts(900, 100)),
                         canary.model_figures(rows, 'v2', counts(830, 170)), policy)
  acc = {c['name']: c for c in large['checks']}['online_accuracy_drop']
  assert not acc['passed'] and 'sampling noise' not in acc['detail']


def test_traffic_over_time_counts_every_request_once():
  rows = traffic('v1', 90) + traffic('v2', 10)
  t = canary.traffic_over_time(rows, ['v1', 'v2'], buckets=10)
  assert sum(t['counts']['v1']) == 90 and sum(t['counts']['v2']) == 10
  assert canary.traffic_over_time([], ['v1'])['counts'] == {'v1': []}

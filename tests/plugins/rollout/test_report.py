"""The rollout report: verdict, each stage's figures against thresholds, the charts."""

from fakes.prediction_log import traffic

from ct_platform.rollout import canary
from ct_platform.rollout.policy import CanaryPolicy, judge_load_test, serving_policy
from ct_platform.rollout.report import rollout_report_html

PLAN = {'run_id': 'manual__1', 'canary_percent': 10, 'observation_minutes': 30.0,
        'min_requests': 200, 'reason': 'nightly',
        'challenger': {'version': 2, 'model_uri': '/r/2'},
        'champion': {'version': 1, 'model_uri': '/r/1'}}


def _pulled(**extra):
  policy = serving_policy()
  figures = {'users': 8, 'seconds': 20.0, 'requests': 4000, 'failures': 0, 'error_rate': 0.0,
             'qps': 200.0, 'p50_ms': 3, 'p99_ms': 9, 'histogram_ms': {'3': 3000, '9': 1000}}
  checks = judge_load_test(figures, policy)
  rows = traffic('v1', 400) + traffic('v2', 400, seed=2)
  verdict = canary.compare(canary.model_figures(rows, 'v1'), canary.model_figures(rows, 'v2'),
                           CanaryPolicy())
  return dict({
      'plan_rollout': PLAN,
      'validate_infrastructure': {'passed': True, 'message': 'answered 12 smoke rows',
                                  'ready_seconds': 2.1},
      'load_test': {'passed': True, 'checks': checks, 'figures': figures},
      'compare_canary': dict(verdict, champion=canary.model_figures(rows, 'v1'),
                             challenger=canary.model_figures(rows, 'v2'), rejected_requests=3,
                             traffic=canary.traffic_over_time(rows, ['v1', 'v2']))}, **extra)


def test_a_rollout_report_has_the_verdict_the_thresholds_and_four_charts():
  html = rollout_report_html(_pulled(full_rollout={
      'version': 2, 'previous_version': 1, 'traffic_split': {'v1': 0, 'v2': 100}}))
  assert 'ROLLED OUT: version 2 is champion at 100%' in html
  assert html.count('<svg') == 4  # load-test latency, scores, canary latency, traffic
  assert 'p99 9 ms at 8 concurrent clients; at most 250.0 ms' in html
  assert '400 champion and 400 challenger requests (3 rejected as bad requests)' in html
  assert 'version 1 stays deployed at 0%' in html


def test_a_rolled_back_report_leads_with_the_stage_and_reasons():
  html = rollout_report_html(_pulled(roll_back={
      'outcome': 'rolled_back', 'stage': 'canary', 'reasons': ['PSI of the scores 0.9'],
      'traffic_split': {'v1': 100}}))
  assert 'ROLLED BACK: the champion serves 100%' in html
  assert html.index('PSI of the scores 0.9') < html.index('1. Infrastructure validation')


def test_a_rollout_stopped_by_a_failed_task_says_so():
  assert 'NOT FINISHED' in rollout_report_html({'plan_rollout': PLAN})


def test_a_report_of_a_rollout_on_vertex_names_the_validation_endpoint_and_container():
  html = rollout_report_html(_pulled(validate_infrastructure={
      'passed': False, 'ready_seconds': None,
      'endpoint': 'projects/p/locations/r/endpoints/m-validation',
      'serving_image': 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:x',
      'message': 'the challenger did not deploy in the serving container'}))
  assert ('(on projects/p/locations/r/endpoints/m-validation, serving container '
          'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:x)') in html
  assert 'server ready in' not in html
  local = rollout_report_html(_pulled())
  assert '(server ready in 2.1 s)' in local

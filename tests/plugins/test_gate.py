"""The promotion gate as a table of cases, on real run summaries (tests/plugins/data)."""

import copy
import json
from pathlib import Path

import pytest

from ct_platform import contracts
from ct_platform.gate import GateError, evaluate

DATA = Path(__file__).parent / 'data'
POLICY = contracts.load_policy()


def summary(name):
  return json.loads((DATA / f'run_summary_{name}.json').read_text())


def champion_for(s):
  return {'version': 3, 'model_uri': s['baseline_model_uri']}


def beating_champion():
  """The rejected run's champion side as candidate: better than its own champion."""
  s = summary('rejected')
  s['metrics']['candidate'], s['metrics']['baseline'] = (s['metrics']['baseline'],
                                                         s['metrics']['candidate'])
  s['blessing'] = {'evaluated': True, 'blessed': True, 'reasons': []}
  return s


def failed(decision):
  return {c.name for c in decision.checks if not c.passed}


def test_first_run_blessed_promotes():
  d = evaluate(summary('blessed'), None, POLICY)
  assert d.promote and d.reasons == [] and d.override is None


def test_better_than_champion_promotes():
  s = beating_champion()
  d = evaluate(s, champion_for(s), POLICY)
  assert d.promote, d.reasons


def test_worse_than_champion_is_rejected_with_reasons():
  s = summary('rejected')
  d = evaluate(s, champion_for(s), POLICY)
  assert not d.promote
  assert {'blessed', 'auc_vs_champion', 'auc>=lower_bound'} <= failed(d)
  assert any('auc' in r and 'champion' in r for r in d.reasons)


def test_slice_regression_alone_rejects():
  s = beating_champion()
  # one payment_type slice drops well beyond its tolerance; overall is unchanged
  cand = s['metrics']['candidate']['slices']
  entry = next(e for e in cand if e['slice'] == {'payment_type': 'Cash'})
  entry['metrics']['binary_accuracy'] -= 0.2
  d = evaluate(s, champion_for(s), POLICY)
  assert not d.promote and failed(d) == {'slices:payment_type'}


def test_small_slices_are_ignored():
  s = beating_champion()
  entry = next(e for e in s['metrics']['candidate']['slices']
               if e['metrics']['example_count'] < 30)
  entry['metrics']['auc'] = 0.0
  assert evaluate(s, champion_for(s), POLICY).promote


def test_auc_is_not_judged_on_a_slice_with_too_few_of_one_class():
  # the demo's case: 1955 Cash trips, one recorded tip: AUC 0.35 against 0.48 is noise
  s = beating_champion()
  cand = next(e for e in s['metrics']['candidate']['slices']
              if e['slice'] == {'payment_type': 'Cash'})
  base = next(e for e in s['metrics']['baseline']['slices']
              if e['slice'] == {'payment_type': 'Cash'})
  count = cand['metrics']['example_count']
  for entry, auc in ((cand, 0.35), (base, 0.48)):
    entry['metrics'].update(auc=auc, mean_label=1 / count)
  d = evaluate(s, champion_for(s), POLICY)
  assert d.promote, d.reasons
  detail = next(c.detail for c in d.checks if c.name == 'slices:payment_type')
  assert (f'payment_type=Cash: auc not compared (1 positive, {int(count) - 1} negatives; '
          f'fewer than min_class_examples 10)') in detail
  # with enough of both classes a drop beyond the slice's noise rejects (0.23 on 29
  # positives and 69 negatives: 2.8 standard errors)
  for entry in (cand, base):
    entry['metrics']['mean_label'] = 0.3
  cand['metrics']['auc'] = 0.25
  assert failed(evaluate(s, champion_for(s), POLICY)) == {'slices:payment_type'}
  # and accuracy is still judged on the small class
  for entry in (cand, base):
    entry['metrics']['mean_label'] = 1 / count
  cand['metrics']['binary_accuracy'] -= 0.2
  assert failed(evaluate(s, champion_for(s), POLICY)) == {'slices:payment_type'}


def hour_slice(s, side, hour):
  return next(e for e in s['metrics'][side]['slices'] if e['slice'] == {'trip_start_hour': hour})


def with_hour_accuracy(candidate, champion, count):
  s = beating_champion()
  for side, accuracy in (('candidate', candidate), ('baseline', champion)):
    hour_slice(s, side, 6)['metrics'].update(binary_accuracy=accuracy, example_count=count,
                                             auc=0.8, mean_label=0.5)
  return s


def test_a_slice_drop_within_sampling_noise_is_stated_not_judged():
  # CI's demo, 2026-12-07: a retrained model better overall answered 5 of the 52 trips at
  # 6 am differently: 0.8077 vs 0.9038, beyond the 0.08 tolerance but 1.4 standard errors
  s = with_hour_accuracy(0.8077, 0.9038, 52.0)
  d = evaluate(s, champion_for(s), POLICY)
  assert d.promote, d.reasons
  detail = next(c.detail for c in d.checks if c.name == 'slices:trip_start_hour')
  assert ('trip_start_hour=6: binary_accuracy 0.8077 vs champion 0.9038 (-0.0961, n=52) '
          'within sampling noise (1.4 standard errors; 1.96 needed at confidence 0.95)'
          ) in detail


def test_the_same_drop_on_a_large_slice_rejects():
  s = with_hour_accuracy(0.8077, 0.9038, 520.0)
  d = evaluate(s, champion_for(s), POLICY)
  assert failed(d) == {'slices:trip_start_hour'}
  assert 'trip_start_hour=6: binary_accuracy 0.8077 vs champion 0.9038' in ' '.join(d.reasons)


def test_confidence_zero_judges_the_difference_alone():
  s = with_hour_accuracy(0.8077, 0.9038, 52.0)
  policy = copy.deepcopy(POLICY)
  for spec in policy['slices']:
    spec['confidence'] = 0
  assert failed(evaluate(s, champion_for(s), policy)) == {'slices:trip_start_hour'}


def test_auc_noise_follows_the_slice_classes():
  # the same AUC drop of 0.2: noise with 10 of each class, beyond it with 200 of each
  s = beating_champion()
  for count, expected in ((20.0, set()), (400.0, {'slices:trip_start_hour'})):
    for side, auc in (('candidate', 0.7), ('baseline', 0.9)):
      hour_slice(s, side, 6)['metrics'].update(auc=auc, example_count=count, mean_label=0.5,
                                               binary_accuracy=0.9)
    policy = copy.deepcopy(POLICY)
    policy['slices'][1]['min_examples'] = 10
    assert failed(evaluate(s, champion_for(s), policy)) == expected, count


@pytest.mark.parametrize('mutate, hard_check', [
    (lambda s: s['smoke_test'].update(passed=False, message='NaN predictions'), 'smoke_test'),
    (lambda s: s['data_validation'].update(anomaly_count=1, anomalies=[{
        'split': 'eval', 'feature': 'fare', 'short_description': 'Unexpected data type',
        'description': 'x', 'types': ['UNKNOWN_TYPE']}]), 'data_validation'),
    (lambda s: s.update(baseline_model_uri='/somewhere/else'), 'baseline_is_champion'),
    (lambda s: s.update(label_distribution={
        'split': 'test', 'examples': 120, 'positives': 0, 'single_class': True,
        'message': 'test split has 0 positives of 120: AUC undefined'}),
     'label_distribution'),
])
def test_force_promote_never_overrides_hard_checks(mutate, hard_check):
  s = beating_champion()
  champion = champion_for(s)
  mutate(s)
  d = evaluate(s, champion, POLICY, force_promote=True,
               force_promote_reason='the owner accepts the risk')
  assert not d.promote and hard_check in failed(d)
  assert any('force_promote ignored' in r for r in d.reasons)


def test_force_promote_overrides_metric_checks_and_is_recorded():
  s = summary('rejected')
  d = evaluate(s, champion_for(s), POLICY, force_promote=True,
               force_promote_reason='known label shift, approved by owner')
  assert d.promote
  assert d.override['kind'] == 'force_promote'
  assert 'blessed' in d.override['overridden']
  assert d.reasons  # the overridden failures stay on record


def test_force_reject_always_holds():
  s = beating_champion()
  d = evaluate(s, champion_for(s), POLICY, force_reject=True,
               force_reject_reason='incident 42 freeze')
  assert not d.promote and d.reasons[0] == 'force_reject: incident 42 freeze'


def test_stopped_run_is_rejected():
  d = evaluate(summary('stopped'), None, POLICY)
  assert not d.promote and 'data_validation' in failed(d)


@pytest.mark.parametrize('mutate, message', [
    (lambda s: s.pop('smoke_test'), "'smoke_test' is a required property"),
    (lambda s: s['blessing'].update(blessed=None), 'evaluated blessing'),
    (lambda s: s.update(thresholds=[]), 'thresholds are empty'),
])
def test_malformed_or_incomplete_summary_is_an_error_not_a_pass(mutate, message):
  s = copy.deepcopy(summary('blessed'))
  mutate(s)
  with pytest.raises(GateError, match=message):
    evaluate(s, None, POLICY)


def test_champion_without_baseline_metrics_is_rejected():
  s = summary('blessed')  # first-run variant, but a champion exists now
  d = evaluate(s, {'version': 1, 'model_uri': '/registry/m/versions/1/model'}, POLICY)
  assert not d.promote and 'baseline_is_champion' in failed(d)


def test_one_class_test_split_rejects_with_that_reason_first():
  """Nobody tipped: TFMA reports AUC 0.0 and the metric checks fail too, but the first
  reason a user reads is the real one."""
  s = summary('blessed')
  for m in ('auc', 'binary_accuracy'):
    s['metrics']['candidate']['overall'][m] = 0.0
  s['label_distribution'] = {'split': 'test', 'examples': 120, 'positives': 0,
                             'single_class': True,
                             'message': 'test split has 0 positives of 120: AUC undefined'}
  d = evaluate(s, None, POLICY)
  assert not d.promote
  assert d.reasons[0] == 'label_distribution: test split has 0 positives of 120: AUC undefined'


def test_both_classes_present_passes_the_label_check():
  s = summary('blessed')
  s['label_distribution'] = {'split': 'test', 'examples': 120, 'positives': 37,
                             'single_class': False, 'message': ''}
  d = evaluate(s, None, POLICY)
  assert d.promote and 'label_distribution' not in failed(d)


def test_anomaly_reason_carries_the_pipeline_message():
  s = summary('stopped')
  message = ('data validation (split train): fare: Invalid values: 67 of 360 values are '
             'NaN; the schema allows no NaN; Float feature has NaN values.')
  s['data_validation']['anomalies'][0]['message'] = message
  d = evaluate(s, None, POLICY)
  assert any(message in r for r in d.reasons), d.reasons
  # an older summary without messages still names split, feature and description
  old = summary('stopped')
  first = old['data_validation']['anomalies'][0]
  d = evaluate(old, None, POLICY)
  assert any(f'(split {first["split"]}): {first["feature"]}: {first["short_description"]}'
             in r for r in d.reasons), d.reasons

"""The monitoring checks as plain functions: skew, prediction drift, decay with delayed
labels, serving data quality, and the verdict."""

import pytest

from ct_platform.drift.config import load_drift_config
from ct_platform.monitoring import checks
from ct_platform.monitoring.policy import DataQualityPolicy, DecayPolicy, PredictionDriftPolicy

CONFIG = load_drift_config()


def numeric(counts, missing=0, edges=None):
  edges = edges or [i * 10.0 for i in range(len(counts) + 1)]
  return {'kind': 'numeric', 'type': 'FLOAT64', 'missing': missing,
          'present': sum(counts), 'histogram_type': 'quantiles',
          'histogram': [[edges[i], edges[i + 1], float(c)] for i, c in enumerate(counts)]}


def categorical(values, missing=0):
  return {'kind': 'categorical', 'type': 'STRING', 'missing': missing,
          'present': sum(values.values()), 'distinct': len(values), 'values': values}


def profile(rows, **features):
  return {'rows': rows, 'features': features}


TRAINING = profile(1000, fare=numeric([100] * 10),
                   payment_type=categorical({'Cash': 500, 'Credit Card': 500}))


def test_skew_is_ok_on_the_training_distribution_and_names_a_shifted_feature():
  same = profile(1000, fare=numeric([100] * 10),
                 payment_type=categorical({'Cash': 490, 'Credit Card': 510}))
  ok = checks.skew(TRAINING, same, CONFIG, min_requests=500)
  assert ok['status'] == 'ok' and not ok['reasons']
  # every fare lands in the top bucket: the served fares are far above training's
  shifted = profile(1000, fare=numeric([0] * 9 + [1000]),
                    payment_type=categorical({'Cash': 500, 'Credit Card': 500}))
  out = checks.skew(TRAINING, shifted, CONFIG, min_requests=500)
  assert out['status'] == 'crossed'
  assert [r['key'] for r in out['reasons']] == ['skew:fare']
  assert out['reasons'][0]['text'].startswith('skew on fare (JSD ')
  assert '> 0.15)' in out['reasons'][0]['text']
  fare = next(f for f in out['features'] if f['feature'] == 'fare')
  assert fare['threshold'] == CONFIG.features['fare'].skew_threshold and fare['drifted']


def test_skew_uses_the_features_own_skew_threshold():
  tract = CONFIG.features['pickup_census_tract']
  assert tract.skew == 0.2 and tract.distance == 0.15  # drift_thresholds.yaml
  base = profile(1000, pickup_census_tract=categorical({'1': 500, '2': 500}))
  # L-infinity 0.18: above the drift threshold, below the skew one
  served = profile(1000, pickup_census_tract=categorical({'1': 680, '2': 320}))
  assert checks.skew(base, served, CONFIG, 500)['status'] == 'ok'
  served = profile(1000, pickup_census_tract=categorical({'1': 750, '2': 250}))
  assert checks.skew(base, served, CONFIG, 500)['status'] == 'crossed'


def test_skew_gives_no_verdict_on_little_traffic_or_without_a_training_profile():
  few = checks.skew(TRAINING, profile(12, fare=numeric([0] * 9 + [12])), CONFIG, 500)
  assert few['status'] == 'no_verdict' and '12 served instances' in few['detail']
  assert not few['reasons']
  none = checks.skew(None, TRAINING, CONFIG, 500)
  assert none['status'] == 'no_verdict' and 'no training profile' in none['detail']


def hist(counts):
  return [[i / 10, (i + 1) / 10, float(c)] for i, c in enumerate(counts)]


POLICY = PredictionDriftPolicy(max_psi=0.25, max_jsd=0.1)


def test_prediction_drift_against_offline_scores_and_the_previous_window():
  live = hist([60] * 10)
  ok = checks.prediction_drift(live, hist([50] * 10), hist([55] * 10), POLICY, 500)
  assert ok['status'] == 'ok' and ok['against']['offline']['psi'] < 0.01
  # the model now answers near 0.9 for most requests
  shifted = hist([10] * 9 + [510])
  out = checks.prediction_drift(shifted, hist([50] * 10), None, POLICY, 500)
  assert out['status'] == 'crossed'
  keys = [r['key'] for r in out['reasons']]
  assert keys == ['prediction_drift:offline:psi', 'prediction_drift:offline:jsd']
  assert out['against']['previous_window'] is None
  assert "against the champion's offline eval scores (PSI" in out['reasons'][0]['text']


def test_prediction_drift_without_anything_to_compare_or_too_few_scores():
  out = checks.prediction_drift(hist([60] * 10), None, None, POLICY, 500)
  assert out['status'] == 'no_verdict' and 'nothing to compare with' in out['detail']
  out = checks.prediction_drift(hist([1] * 10), hist([50] * 10), None, POLICY, 500)
  assert out['status'] == 'no_verdict' and '10 scores' in out['detail']


def test_online_metrics_from_per_score_label_counts():
  perfect = [{'score': 0.1, 'positives': 0, 'negatives': 5},
             {'score': 0.9, 'positives': 5, 'negatives': 0}]
  assert checks.online_metrics(perfect) == {'labelled': 10, 'positives': 5, 'auc': 1.0,
                                           'binary_accuracy': 1.0}
  # one score for everyone: ties count half
  tied = [{'score': 0.7, 'positives': 3, 'negatives': 7}]
  m = checks.online_metrics(tied)
  assert m['auc'] == 0.5 and m['binary_accuracy'] == 0.3
  inverted = [{'score': 0.9, 'positives': 0, 'negatives': 4},
              {'score': 0.2, 'positives': 4, 'negatives': 0}]
  assert checks.online_metrics(inverted)['auc'] == 0.0


DECAY = DecayPolicy(min_labels=200, max_auc_drop=0.05, max_accuracy_drop=0.05,
                    label_delay_hours=24)
OFFLINE = {'auc': 0.9, 'binary_accuracy': 0.85}


def counts(pos_high, neg_high, pos_low, neg_low):
  return [{'score': 0.8, 'positives': pos_high, 'negatives': neg_high},
          {'score': 0.3, 'positives': pos_low, 'negatives': neg_low}]


def test_decay_is_judged_on_the_labelled_part_of_the_window():
  good = checks.decay(counts(180, 20, 20, 180), OFFLINE, DECAY, instances=500, keyed=500,
                      window_until='2026-12-01T00:00:00+00:00')
  assert good['status'] == 'ok', good
  assert good['online']['labelled'] == 400 and good['label_coverage'] == 0.8
  assert 'up to 24 h after the trip; 400 of 500 served instances' in good['detail']
  worse = checks.decay(counts(110, 90, 90, 110), OFFLINE, DECAY, instances=400, keyed=400,
                       window_until='2026-12-01T00:00:00+00:00')
  assert worse['status'] == 'crossed'
  assert [r['key'] for r in worse['reasons']] == ['decay:auc', 'decay:binary_accuracy']
  assert worse['reasons'][0]['text'].startswith('performance decay: online AUC 0.550 vs '
                                                'offline 0.900 (drop 0.350 > 0.05, 400 labels)')


def test_decay_says_not_enough_labels_below_the_minimum():
  few = checks.decay(counts(5, 1, 1, 5), OFFLINE, DECAY, instances=900, keyed=12,
                     window_until='2026-12-01T00:00:00+00:00')
  assert few['status'] == 'no_verdict' and not few['reasons']
  assert few['detail'].startswith('not enough labels: 12 labelled predictions, fewer than '
                                  'min_labels 200')
  assert '(12 came with an example key)' in few['detail']


def test_decay_without_offline_metrics_or_with_one_class_gives_no_verdict():
  assert checks.decay(counts(180, 20, 20, 180), None, DECAY, instances=400, keyed=400,
                      window_until='x')['status'] == 'no_verdict'
  one_class = checks.decay(counts(0, 200, 0, 200), OFFLINE, DECAY, instances=400, keyed=400,
                           window_until='x')
  assert one_class['status'] == 'no_verdict' and 'AUC undefined' in one_class['detail']


QUALITY = DataQualityPolicy(max_missing_rate_delta=0.05, max_out_of_domain_rate=0.05,
                            max_rejected_rate=0.05)


def traffic(answered, refused):
  return [{'day': '2026-12-01', 'deployed_model_id': 'v1', 'requests': answered},
          {'day': '2026-12-01', 'deployed_model_id': None, 'requests': refused}]


def test_data_quality_missing_rates_unseen_categories_and_refused_requests():
  served = profile(1000, fare=numeric([90] * 10, missing=100),
                   payment_type=categorical({'Cash': 450, 'Credit Card': 450, 'Bitcoin': 100}))
  out = checks.data_quality(TRAINING, served, traffic(950, 50), QUALITY)
  assert out['status'] == 'crossed'
  keys = [r['key'] for r in out['reasons']]
  assert keys == ['data_quality:missing:fare', 'data_quality:domain:payment_type']
  assert out['rejected'] == 50 and out['rejected_rate'] == 0.05  # at the limit: fine
  pay = next(f for f in out['features'] if f['feature'] == 'payment_type')
  assert pay['out_of_domain_values'] == ['Bitcoin'] and pay['out_of_domain_rate'] == 0.1
  refused = checks.data_quality(TRAINING, TRAINING, traffic(900, 100), QUALITY)
  assert [r['key'] for r in refused['reasons']] == ['data_quality:rejected']
  assert refused['reasons'][0]['text'] == 'rejected requests: 100 of 1000 (10.0% > 5%)'


def test_the_verdict_retrains_only_on_the_checks_the_policy_names():
  crossed_quality = {'name': 'data_quality', 'status': 'crossed', 'detail': '',
                     'reasons': [{'key': 'data_quality:rejected', 'text': 'rejected'}]}
  crossed_skew = {'name': 'skew', 'status': 'crossed', 'detail': '',
                  'reasons': [{'key': 'skew:fare', 'text': 'skew on fare (JSD 0.21 > 0.15)'}]}
  out = checks.verdict([crossed_skew, crossed_quality], ('skew', 'decay'))
  assert out['retrain'] and [r['key'] for r in out['reasons']] == ['skew:fare']
  assert out['reasons'][0]['check'] == 'skew'
  assert out['summary'] == 'retrain: skew on fare (JSD 0.21 > 0.15)'
  assert out['crossed_not_retrained_on'] == ['data_quality']
  quiet = checks.verdict([crossed_quality], ('skew',))
  assert not quiet['retrain'] and quiet['summary'] == 'no retraining: data_quality crossed'


@pytest.mark.parametrize('bad', [{'min_labels': -1}, {'max_auc_drop': 'x'}])
def test_decay_policy_values_are_checked_by_the_loader(bad):
  from ct_platform.contracts import ContractError
  from ct_platform.monitoring.policy import monitoring_policy
  with pytest.raises(ContractError, match=f'monitoring.decay.{next(iter(bad))}'):
    monitoring_policy({'metrics': [], 'monitoring': {'decay': bad}})

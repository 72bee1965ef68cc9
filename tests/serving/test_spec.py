"""spec: the inputs read from a model's own parse op, and each bad request's message."""

import pytest

from ct_serving.spec import Feature, InputSpec, RequestError, check_request, spec_from_signature

SPEC = InputSpec((Feature('company', 'string', True), Feature('fare', 'float', True),
                  Feature('trip_seconds', 'int', False)))
GOOD = {'company': 'Flash Cab', 'fare': 12.5, 'trip_seconds': 600}


def test_the_inputs_come_from_the_models_parse_op(stand_in_models):
  import tensorflow as tf
  signature = tf.saved_model.load(str(stand_in_models['a'] / 'Format-Serving')).signatures[
      'serving_default']
  spec = spec_from_signature(signature)
  assert spec.as_dict() == {'company': {'type': 'string', 'nullable': True},
                            'fare': {'type': 'float', 'nullable': True},
                            'trip_seconds': {'type': 'int', 'nullable': True}}


def test_a_good_request_is_coerced_to_the_feature_types():
  instances, keys = check_request({'instances': [dict(GOOD, fare=12, unique_key='t1'),
                                                 dict(GOOD, company=None)]},
                                  SPEC, 'unique_key', 10)
  assert instances[0]['fare'] == 12.0 and isinstance(instances[0]['fare'], float)
  assert instances[1]['company'] is None and keys == ['t1', None]


@pytest.mark.parametrize('payload, message', [
    ([GOOD], 'the body must be a JSON object with "instances", got list'),
    ({'rows': [GOOD]}, "unknown field 'rows' in the body: expected \"instances\""),
    ({'instances': []}, 'instances: expected a non-empty list of objects'),
    ({'instances': [GOOD] * 11}, 'instances: 11 instances, over the limit of 10 per request'),
    ({'instances': [GOOD, 'x']}, 'instances[1]: expected an object of features, got str'),
    ({'instances': [dict(GOOD, tip=1)]}, 'instances[0].tip: unknown field; expected the '
                                          "features ['company', 'fare', 'trip_seconds']"),
    ({'instances': [{'company': 'x', 'fare': 1.0}]}, 'instances[0].trip_seconds: missing (int)'),
    ({'instances': [dict(GOOD, fare='12')]}, "instances[0].fare: expected a number, got '12'"),
    ({'instances': [dict(GOOD, fare=True)]}, 'instances[0].fare: expected a number, got True'),
    ({'instances': [dict(GOOD, trip_seconds=1.5)]},
     'instances[0].trip_seconds: expected an integer, got 1.5'),
    ({'instances': [dict(GOOD, company=3)]}, 'instances[0].company: expected a string, got 3'),
    ({'instances': [dict(GOOD, trip_seconds=None)]},
     'instances[0].trip_seconds: null, but trip_seconds is required'),
])
def test_each_bad_request_names_the_field_and_what_was_expected(payload, message):
  with pytest.raises(RequestError) as raised:
    check_request(payload, SPEC, 'unique_key', 10)
  assert str(raised.value).startswith(message), str(raised.value)

"""ct_pipeline/__init__.py: what importing the package changes for the libraries below it."""

import sys

import ct_pipeline


def test_jsonschema_validates_without_building_the_iri_grammar():
  import jsonschema  # pylint: disable=g-import-not-at-top

  # blocked (None), not imported: its Earley parser costs 1.7 s of every pipeline run
  assert 'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None
  validator = jsonschema.Draft202012Validator(
      {'type': 'object', 'required': ['run_id'], 'properties': {'run_id': {'type': 'string'}}})
  assert [e.message for e in validator.iter_errors({'run_id': 3})] == [
      "3 is not of type 'string'"]
  assert not list(validator.iter_errors({'run_id': 'r1'}))


def test_autograph_leaves_graph_mode_libraries_alone():
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top

  prefixes = {getattr(rule, '_prefix', None) for rule in config.CONVERSION_RULES
              if type(rule).__name__ == 'DoNotConvert'}
  assert set(ct_pipeline.GRAPH_MODE_LIBRARIES) <= prefixes

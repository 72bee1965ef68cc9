"""The TFX continuous-training pipeline for the Chicago taxi "big tipper" task.

Split like the TFX template: features / preprocessing / model code under models/,
the pipeline definition in pipeline.py, our custom components under components/,
and one runner per orchestrator under runners/.
"""

import sys

# Libraries written for graph mode that TF 2.16's AutoGraph rules do not exempt.
GRAPH_MODE_LIBRARIES = ('tf_keras', 'tensorflow_transform')


def _do_not_autograph_graph_mode_libraries():
  """Keep AutoGraph out of tf_keras and tf.Transform internals, as TF does for `keras`.

  TF 2.16's AutoGraph rules list `keras` as do-not-convert but not `tf_keras` (Keras 2,
  which TFX 1.16's Transform, Trainer and Evaluator use) nor `tensorflow_transform`,
  so every trace re-converts their own code from source: 18 s of the Trainer's first
  step here (3.4 s without). Their functions are written for graph mode (tf_keras was
  exempt under the name `keras`; tf.Transform predates AutoGraph). Our own code, the
  preprocessing_fn included, is still converted.
  """
  try:
    from tensorflow.python.autograph.core import config
  except ImportError:  # TensorFlow not installed
    return
  present = {getattr(r, '_prefix', None) for r in config.CONVERSION_RULES}
  extra = tuple(config.DoNotConvert(m) for m in GRAPH_MODE_LIBRARIES if m not in present)
  config.CONVERSION_RULES = extra + tuple(config.CONVERSION_RULES)


_do_not_autograph_graph_mode_libraries()


def _leave_iri_format_unchecked():
  """Keep jsonschema from importing rfc3987_syntax in this env.

  jsonschema imports rfc3987_syntax when it is installed (jsonschema[format-nongpl], which
  this env's lock brings in) to check the "iri" string format; that module builds an
  Earley parser for RFC 3987 at import: 1.7 s of every pipeline process, spent in the run
  summary's contract check. None of our schemas uses the format and no validator here
  checks formats; jsonschema then leaves "iri" unchecked, as in the orchestration env,
  which does not install the module.
  """
  sys.modules.setdefault('rfc3987_syntax', None)


_leave_iri_format_unchecked()

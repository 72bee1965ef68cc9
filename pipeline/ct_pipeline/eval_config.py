"""Builds the Evaluator's TFMA EvalConfig from the promotion policy."""

import tensorflow_model_analysis as tfma

from ct_pipeline.models import features


def build_eval_config(policy: dict) -> tfma.EvalConfig:
  """Absolute and change thresholds on the whole eval split; slices for the report.

  TFMA applies a change threshold only when a baseline model is given (the first-run
  variant has none), and writes no blessing at all without thresholds
  (tensorflow/tfx#5148), so every policy metric carries both.
  """
  # MeanLabel: the share of positives, so the summary can say when the split holds one
  # class only (AUC is undefined there; TFMA reports 0 for it).
  metrics = [tfma.MetricConfig(class_name='ExampleCount'),
             tfma.MetricConfig(class_name='MeanLabel')]
  for m in policy['metrics']:
    # A plain `threshold` would apply to every slice (TFMA's metrics_validator),
    # failing the blessing on a 3-row slice; the policy holds the whole eval split to
    # these bounds and leaves slice regressions to the gate's tolerances.
    metrics.append(tfma.MetricConfig(
        class_name=m['class_name'],
        per_slice_thresholds=[tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    lower_bound={'value': float(m['lower_bound'])}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={'value': float(m['min_delta'])})))]))
  slicing_specs = [tfma.SlicingSpec()] + [
      tfma.SlicingSpec(feature_keys=[s['feature']]) for s in policy.get('slices', [])]
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(
          signature_name='serving_default',
          label_key=features.transformed_name(features.LABEL_KEY),
          preprocessing_function_names=['transform_features'])],
      slicing_specs=slicing_specs,
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)])

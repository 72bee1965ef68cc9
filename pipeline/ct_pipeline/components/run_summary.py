"""Run summary: the one JSON file the DAG reads after a run (schema in the contracts).

Two components, one per branch of the anomaly condition, so that every run that
finishes ends with a verdict: RunSummary after the smoke test (trained, evaluated),
StoppedRunSummary when data validation stopped the run before Transform. A run that
ends FAILED or CANCELLED writes none; the DAG reports those from the backend state.
The summary goes to `summary_uri` (a runtime parameter), validated against the
schema before it is written.
"""

import datetime
import json
import os
from typing import Optional

from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from ct_pipeline import config, contracts
from ct_pipeline import tfx_api as tfx
from ct_pipeline.components.anomaly_check import read_anomalies
from ct_pipeline.components.smoke_test import RESULT_FILE as SMOKE_RESULT_FILE


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def _slice_dict(slice_key) -> dict:
  out = {}
  for single in slice_key.single_slice_keys:
    kind = single.WhichOneof('kind')
    value = getattr(single, kind)
    out[single.column] = value.decode() if isinstance(value, bytes) else value
  return out


def _number(value) -> Optional[float]:
  kind = value.WhichOneof('type')
  if kind == 'double_value':
    return float(value.double_value.value)
  return None


def read_metrics(evaluation_uri: str) -> dict:
  """{model_name: {'overall': {...}, 'slices': [{'slice', 'metrics'}]}} from TFMA output.

  Diff metrics (candidate - baseline) are left out: the gate recomputes deltas from
  the two sides, and the blessing reasons carry TFMA's own verdict on them.
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  models = {}
  for metrics_for_slice in tfma.load_metrics(evaluation_uri):
    slice_dict = _slice_dict(metrics_for_slice.slice_key)
    for kv in metrics_for_slice.metric_keys_and_values:
      if kv.key.is_diff or kv.key.HasField('sub_key'):
        continue
      value = _number(kv.value)
      if value is None:
        continue
      model = kv.key.model_name or 'candidate'
      per_slice = models.setdefault(model, {})
      per_slice.setdefault(json.dumps(slice_dict, sort_keys=True), {})[kv.key.name] = value
  result = {}
  for model, per_slice in models.items():
    overall = per_slice.pop('{}', {})
    result[model] = {
        'overall': overall,
        'slices': [{'slice': json.loads(k), 'metrics': v}
                   for k, v in sorted(per_slice.items())],
    }
  return result


def read_blessing_reasons(evaluation_uri: str, metrics: dict) -> list:
  """Each failed threshold, with its metric, slice, threshold and the values involved."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  validation = tfma.load_validation_result(evaluation_uri)
  reasons = []
  for per_slice in validation.metric_validations_per_slice:
    slice_dict = _slice_dict(per_slice.slice_key)
    for failure in per_slice.failures:
      key, threshold = failure.metric_key, failure.metric_threshold
      if threshold.HasField('change_threshold'):
        kind = 'change'
        bound = threshold.change_threshold.absolute.value
      elif threshold.HasField('value_threshold'):
        kind = 'value'
        bound = threshold.value_threshold.lower_bound.value
      else:
        kind, bound = 'other', None
      candidate_value = _lookup(metrics.get('candidate'), slice_dict, key.name)
      baseline_value = _lookup(metrics.get('baseline'), slice_dict, key.name)
      reasons.append({
          'metric': key.name,
          'slice': slice_dict,
          'kind': kind,
          'threshold': bound,
          'value': candidate_value,
          'baseline_value': baseline_value,
          'message': _reason_message(key.name, slice_dict, kind, bound, candidate_value,
                                     baseline_value, failure.message),
      })
  if not validation.validation_ok and not reasons:
    for detail in validation.missing_thresholds:
      reasons.append({'metric': detail.metric_key.name, 'slice': {}, 'kind': 'other',
                      'threshold': None, 'value': None, 'baseline_value': None,
                      'message': 'metric with a threshold was not computed'})
    if validation.missing_slices:
      reasons.append({'metric': '', 'slice': {}, 'kind': 'other', 'threshold': None,
                      'value': None, 'baseline_value': None,
                      'message': f'slices with thresholds were missing: '
                                 f'{len(validation.missing_slices)}'})
  return reasons


def _reason_message(metric, slice_dict, kind, bound, value, baseline_value, tfma_message):
  where = ', '.join(f'{k}={v}' for k, v in slice_dict.items()) or 'overall'
  if kind == 'change' and value is not None and baseline_value is not None:
    text = (f'{metric} ({where}): candidate {value:.4f} - champion {baseline_value:.4f} = '
            f'{value - baseline_value:+.4f}, below the allowed change {bound:+.4f}')
  elif kind == 'value' and value is not None:
    text = f'{metric} ({where}): candidate {value:.4f} is below the lower bound {bound:.4f}'
  else:
    text = f'{metric} ({where}): failed its {kind} threshold {bound}'
  return f'{text} ({tfma_message})' if tfma_message else text


def _lookup(model_metrics, slice_dict, name):
  if not model_metrics:
    return None
  if not slice_dict:
    return model_metrics['overall'].get(name)
  for entry in model_metrics['slices']:
    if entry['slice'] == slice_dict:
      return entry['metrics'].get(name)
  return None


def _split_counts(statistics) -> dict:
  """Rows per split, from StatisticsGen's output (cheap: no pass over the data)."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top

  counts = {}
  for split in artifact_utils.decode_split_names(statistics.split_names):
    path = os.path.join(artifact_utils.get_split_uri([statistics], split),
                        'FeatureStats.pb')
    if not tfx.dsl.io.fileio.exists(path):
      continue
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(tfx.dsl.io.fileio.open(path, 'rb').read())
    counts[split] = int(stats.datasets[0].num_examples) if stats.datasets else 0
  return counts


def label_distribution(metrics: dict, split: str) -> dict:
  """Positives among the evaluated rows, from TFMA's example_count and mean_label.

  A split with one class only leaves AUC undefined (TFMA reports 0.0): the message says
  so, and the gate rejects with it instead of with 'auc 0.0000 is below the bound'.
  """
  overall = (metrics.get('candidate') or {}).get('overall', {})
  examples = int(round(overall.get('example_count') or 0))
  mean = overall.get('mean_label')
  positives = int(round(mean * examples)) if mean is not None else None
  result = {'split': split, 'examples': examples, 'positives': positives,
            'single_class': bool(examples and positives in (0, examples)),
            'message': ''}
  if examples == 0:
    result['message'] = f'{split} split has no rows: no metric is defined'
    result['single_class'] = True
  elif positives == 0:
    result['message'] = f'{split} split has 0 positives of {examples}: AUC undefined'
  elif positives == examples:
    result['message'] = (f'{split} split has {examples} positives of {examples} (no '
                         f'negative): AUC undefined')
  return result


def _thresholds(policy: dict) -> list:
  return [{'metric': m['name'], 'lower_bound': float(m['lower_bound']),
           'min_delta': float(m['min_delta'])} for m in policy['metrics']]


def write_summary(summary: dict, summary_uri: str) -> None:
  """Validates, then writes via a temporary object so readers never see half a file."""
  contracts.validate_summary(summary)
  fileio = tfx.dsl.io.fileio
  parent = os.path.dirname(summary_uri)
  if parent:
    fileio.makedirs(parent)
  tmp = summary_uri + '.tmp'
  with fileio.open(tmp, 'w') as f:
    f.write(json.dumps(summary, indent=2, sort_keys=True))
  fileio.rename(tmp, summary_uri, overwrite=True)


def _base_summary(run_id, pipeline_name, pipeline_version, variant, span_uri, examples,
                  statistics, anomalies, policy_json) -> dict:
  found = read_anomalies(anomalies, statistics)
  return {
      'schema_version': 1,
      'run_id': run_id,
      'pipeline': {'name': pipeline_name, 'version': pipeline_version, 'variant': variant},
      'span': {'uri': span_uri, 'examples_uri': examples.uri,
               'split_counts': _split_counts(statistics)},
      'data_validation': {'anomaly_count': len(found), 'anomalies': found},
      'thresholds': _thresholds(json.loads(policy_json)),
      'written_at': _now(),
  }


@component
def RunSummary(
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    model: InputArtifact[standard_artifacts.Model],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    smoke_test: InputArtifact[standard_artifacts.InfraBlessing],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    summary_uri: Parameter[str],
    run_id: Parameter[str],
    span_uri: Parameter[str],
    pipeline_name: Parameter[str],
    pipeline_version: Parameter[str],
    variant: Parameter[str],
    policy_json: Parameter[str],
    baseline_model_uri: Parameter[str] = '',
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
):
  """The full verdict, after evaluation and the smoke test."""
  summary = _base_summary(run_id, pipeline_name, pipeline_version, variant, span_uri,
                          examples, statistics, anomalies, policy_json)
  metrics = read_metrics(evaluation.uri)
  blessed = bool(blessing.get_int_custom_property('blessed'))
  smoke = json.loads(tfx.dsl.io.fileio.open(
      os.path.join(smoke_test.uri, SMOKE_RESULT_FILE)).read())
  pushed = bool(pushed_model.get_int_custom_property('pushed'))
  summary.update({
      'status': 'completed',
      'blessing': {'evaluated': True, 'blessed': blessed,
                   'reasons': read_blessing_reasons(evaluation.uri, metrics)},
      'metrics': {'candidate': metrics.get('candidate'),
                  'baseline': metrics.get('baseline')},
      'smoke_test': smoke,
      'label_distribution': label_distribution(metrics, config.EVALUATOR_SPLIT),
      'candidate_model_uri': model.uri,
      'pushed_model_uri': pushed_model.uri if pushed else None,
      'baseline_model_uri': (baseline_model.uri if baseline_model is not None
                             else (baseline_model_uri or None)),
      'timings': {'summary_written_at': summary['written_at']},
  })
  write_summary(summary, summary_uri)


@component
def StoppedRunSummary(
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    summary_uri: Parameter[str],
    run_id: Parameter[str],
    span_uri: Parameter[str],
    pipeline_name: Parameter[str],
    pipeline_version: Parameter[str],
    variant: Parameter[str],
    policy_json: Parameter[str],
    baseline_model_uri: Parameter[str] = '',
):
  """The verdict of a run that data validation stopped before Transform."""
  summary = _base_summary(run_id, pipeline_name, pipeline_version, variant, span_uri,
                          examples, statistics, anomalies, policy_json)
  summary.update({
      'status': 'stopped_by_anomalies',
      'blessing': {'evaluated': False, 'blessed': None, 'reasons': []},
      'metrics': {'candidate': None, 'baseline': None},
      'smoke_test': None,
      'candidate_model_uri': None,
      'pushed_model_uri': None,
      'baseline_model_uri': baseline_model_uri or None,
      'timings': {'summary_written_at': summary['written_at']},
  })
  write_summary(summary, summary_uri)

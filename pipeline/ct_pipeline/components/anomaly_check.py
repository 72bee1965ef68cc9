"""AnomalyCheck: turns ExampleValidator's anomalies into one plain number.

ExampleValidator stops nothing by itself: it records anomalies and sets a `blessed`
custom property that is a per-split dict, which the KFP v2 compiler cannot index (a
condition on it works locally and is wrong on Vertex). This component reads the
anomalies and puts their count on an Integer artifact as the custom property
`anomaly_count`, a plain number that `tfx.dsl.Cond` compiles to a CEL condition
(`...metadata['anomaly_count'] == 0.0`) that means the same on every runner.
"""

import math

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from ct_pipeline import tfx_api as tfx

ANOMALY_COUNT_PROPERTY = 'anomaly_count'


def read_anomalies(anomalies_artifact, statistics_artifact=None) -> list:
  """[{split, feature, short_description, description, types, message}] for every split.

  `message` names the step, the feature, what was seen and what the schema expects;
  with the split's statistics it also counts the values at fault (TFDV's own
  description says "has NaN values", not how many).
  """
  found = []
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    stats = _split_feature_stats(statistics_artifact, split)
    path = artifact_utils.get_split_uri([anomalies_artifact], split) + '/SchemaDiff.pb'
    proto = anomalies_pb2.Anomalies()
    proto.ParseFromString(tfx.dsl.io.fileio.open(path, 'rb').read())
    infos = list(proto.anomaly_info.items())
    if proto.HasField('dataset_anomaly_info'):
      infos.append(('<dataset>', proto.dataset_anomaly_info))
    for feature, info in sorted(infos, key=lambda kv: kv[0]):
      types = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
      found.append({
          'split': split,
          'feature': feature,
          'short_description': info.short_description,
          'description': info.description,
          'types': types,
          'message': anomaly_message(split, feature, info, types, stats.get(feature)),
      })
  return found


def anomaly_message(split, feature, info, types, feature_stats=None) -> str:
  """One line: 'data validation (split train): fare: 67 of 601 values are NaN; ...'."""
  facts = []
  counts = _value_counts(feature_stats) if feature_stats is not None else None
  if counts:
    total, nan, inf, low, high = counts
    if 'FLOAT_TYPE_HAS_NAN' in types:
      facts.append(f'{nan} of {total} values are NaN; the schema allows no NaN')
    if 'FLOAT_TYPE_HAS_INF' in types:
      facts.append(f'{inf} of {total} values are infinite; the schema allows no infinity')
    if {'FLOAT_TYPE_BIG_FLOAT', 'INT_TYPE_BIG_INT', 'FLOAT_TYPE_SMALL_FLOAT',
        'INT_TYPE_SMALL_INT'} & set(types):
      facts.append(f'values seen range from {low:g} to {high:g}')
  if len(info.reason) > 1:  # TFDV's short description is then only "Multiple errors"
    reasons = '; '.join(f'{r.short_description}: {r.description.strip()}'
                        for r in info.reason)
  else:
    reasons = '; '.join(r.description.strip() for r in info.reason if r.description) or (
        info.description.strip())
  detail = '; '.join(facts + [reasons]) if facts else reasons
  return f'data validation (split {split}): {feature}: {info.short_description}: {detail}'


def _split_feature_stats(statistics_artifact, split) -> dict:
  """{feature name: FeatureNameStatistics} of one split, {} without statistics."""
  if statistics_artifact is None:
    return {}
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top

  path = artifact_utils.get_split_uri([statistics_artifact], split) + '/FeatureStats.pb'
  if not tfx.dsl.io.fileio.exists(path):
    return {}
  stats = statistics_pb2.DatasetFeatureStatisticsList()
  stats.ParseFromString(tfx.dsl.io.fileio.open(path, 'rb').read())
  if not stats.datasets:
    return {}
  return {'.'.join(f.path.step) or f.name: f for f in stats.datasets[0].features}


def _value_counts(feature_stats):
  """(values, NaN, infinite, min, max) of a numeric feature from its statistics."""
  if not feature_stats.HasField('num_stats'):
    return None
  num = feature_stats.num_stats
  total = int(num.common_stats.num_non_missing)
  standard = [h for h in num.histograms if h.type == h.STANDARD]
  nan = int(standard[0].num_nan) if standard else 0
  # TFDV puts infinite values in buckets whose bounds are themselves infinite
  inf = int(round(sum(b.sample_count for b in (standard[0].buckets if standard else [])
                      if math.isinf(b.low_value) and math.isinf(b.high_value))))
  return total, nan, inf, num.min, num.max


@component
def AnomalyCheck(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    verdict: OutputArtifact[standard_artifacts.Integer],
):
  found = read_anomalies(anomalies)
  verdict.value = len(found)
  verdict.set_int_custom_property(ANOMALY_COUNT_PROPERTY, len(found))

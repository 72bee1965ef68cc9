"""AnomalyCheck: turns ExampleValidator's anomalies into one plain number.

ExampleValidator stops nothing by itself: it records anomalies and sets a `blessed`
custom property that is a per-split dict, which the KFP v2 compiler cannot index (a
condition on it works locally and is wrong on Vertex). This component reads the
anomalies and puts their count on an Integer artifact as the custom property
`anomaly_count`, a plain number that `tfx.dsl.Cond` compiles to a CEL condition
(`...metadata['anomaly_count'] == 0.0`) that means the same on every runner.
"""

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

ANOMALY_COUNT_PROPERTY = 'anomaly_count'


def read_anomalies(anomalies_artifact) -> list:
  """[{split, feature, short_description, description, types}] for every split."""
  found = []
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    path = artifact_utils.get_split_uri([anomalies_artifact], split) + '/SchemaDiff.pb'
    proto = anomalies_pb2.Anomalies()
    proto.ParseFromString(tfx.dsl.io.fileio.open(path, 'rb').read())
    infos = list(proto.anomaly_info.items())
    if proto.HasField('dataset_anomaly_info'):
      infos.append(('<dataset>', proto.dataset_anomaly_info))
    for feature, info in sorted(infos, key=lambda kv: kv[0]):
      found.append({
          'split': split,
          'feature': feature,
          'short_description': info.short_description,
          'description': info.description,
          'types': [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason],
      })
  return found


@component
def AnomalyCheck(
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    verdict: OutputArtifact[standard_artifacts.Integer],
):
  found = read_anomalies(anomalies)
  verdict.value = len(found)
  verdict.set_int_custom_property(ANOMALY_COUNT_PROPERTY, len(found))

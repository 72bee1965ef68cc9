"""A loopback fake of Cloud Monitoring's MetricService.ListTimeSeries (gRPC), for the real
google-cloud-monitoring client (EndpointMetrics points it here with the setting
cloud_monitoring_api_endpoint = 127.0.0.1:PORT).

`points[(metric type, deployed model id, aligner name)]` lists the values of the series it
answers (one series per value, as several replicas would give); every request is recorded.
"""

import re
import threading
from concurrent import futures


class FakeMetricService:
  def __init__(self):
    self.points: dict[tuple, list[float]] = {}
    self.requests = []
    self.lock = threading.Lock()

  def list_time_series(self, request, context):
    from google.cloud.monitoring_v3 import Aggregation
    from google.cloud.monitoring_v3.types import ListTimeSeriesResponse

    with self.lock:
      self.requests.append(request)
    metric = re.search(r'metric\.type = "([^"]+)"', request.filter).group(1)
    deployed = re.search(r'metric\.labels\.deployed_model_id = "([^"]+)"',
                         request.filter).group(1)
    aligner = Aggregation.Aligner(request.aggregation.per_series_aligner).name
    values = self.points.get((metric, deployed, aligner), [])
    kind = 'int64_value' if aligner == 'ALIGN_SUM' else 'double_value'
    series = [{'metric': {'type': metric, 'labels': {'deployed_model_id': deployed}},
               'points': [{'interval': {'end_time': request.interval.end_time,
                                        'start_time': request.interval.start_time},
                           'value': {kind: int(v) if kind == 'int64_value' else v}}]}
              for v in values]
    return ListTimeSeriesResponse(time_series=series)


def serve(service: FakeMetricService):
  """A started gRPC server on 127.0.0.1; returns (server, 'host:port')."""
  import grpc
  from google.cloud.monitoring_v3.types import ListTimeSeriesRequest, ListTimeSeriesResponse

  handlers = {'ListTimeSeries': grpc.unary_unary_rpc_method_handler(
      service.list_time_series, request_deserializer=ListTimeSeriesRequest.deserialize,
      response_serializer=ListTimeSeriesResponse.serialize)}
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
  server.add_generic_rpc_handlers(
      (grpc.method_handlers_generic_handler('google.monitoring.v3.MetricService', handlers),))
  port = server.add_insecure_port('127.0.0.1:0')
  server.start()
  return server, f'127.0.0.1:{port}'

"""What a Vertex AI Endpoint's request-response logging table does not hold: each deployed
model's latency and server errors, from Cloud Monitoring (google-cloud-monitoring's
MetricServiceClient, gRPC), over one window.

  aiplatform.googleapis.com/prediction/online/prediction_latencies (distribution, ms):
      p50 and p99 over the window (ALIGN_PERCENTILE_50 / _99, one alignment period);
      the largest among the deployed model's series (replicas, latency types)
  aiplatform.googleapis.com/prediction/online/error_count (delta): summed over the window

both filtered to the Endpoint (resource label endpoint_id) and the deployed model (metric
label deployed_model_id). The canary (rollout.steps.compare_canary) puts these beside the
request counts and score distributions it reads from the logging table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

LATENCY = 'aiplatform.googleapis.com/prediction/online/prediction_latencies'
ERRORS = 'aiplatform.googleapis.com/prediction/online/error_count'
TIMEOUT = 60.0


@dataclasses.dataclass
class EndpointMetrics:
  project: str
  endpoint_id: str
  # '' = monitoring.googleapis.com; host:port of a plaintext gRPC server on loopback (tests)
  api_endpoint: str = ''
  gcp_conn_id: str = 'google_cloud_default'
  impersonation_chain: str = ''

  @classmethod
  def from_settings(cls, settings):
    from ct_platform.backends import endpoint_for
    return cls(settings.project, endpoint_for(settings).endpoint_id,
               settings.cloud_monitoring_api_endpoint, settings.gcp_conn_id,
               settings.impersonation_chain)

  def _client(self):
    from google.cloud import monitoring_v3

    if self.api_endpoint.startswith(('127.0.0.1:', 'localhost:')):
      import grpc
      from google.cloud.monitoring_v3.services.metric_service.transports.grpc import (
        MetricServiceGrpcTransport,
      )
      return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(
          channel=grpc.insecure_channel(self.api_endpoint)))
    from ct_platform.backends.vertex import _credentials
    options = {'api_endpoint': self.api_endpoint} if self.api_endpoint else None
    return monitoring_v3.MetricServiceClient(
        credentials=_credentials(self.gcp_conn_id, self.impersonation_chain),
        client_options=options)

  def _values(self, client, metric: str, deployed_id: str, since: dt.datetime,
              until: dt.datetime, aligner) -> list[float]:
    from google.cloud import monitoring_v3

    seconds = max(60, math.ceil((until - since).total_seconds()))
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f'projects/{self.project}',
        filter=(f'metric.type = "{metric}" AND resource.labels.endpoint_id = '
                f'"{self.endpoint_id}" AND metric.labels.deployed_model_id = "{deployed_id}"'),
        interval=monitoring_v3.TimeInterval(start_time=since, end_time=until),
        aggregation=monitoring_v3.Aggregation(alignment_period={'seconds': seconds},
                                              per_series_aligner=aligner),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL)
    out = []
    for series in client.list_time_series(request=request, timeout=TIMEOUT):
      for point in series.points:
        value = point.value
        kind = value._pb.WhichOneof('value')
        out.append(float(getattr(value, kind)) if kind in ('double_value', 'int64_value')
                   else 0.0)
    return out

  def figures(self, deployed_id: str, since: dt.datetime, until: dt.datetime) -> dict:
    """{'p50_ms', 'p99_ms', 'errors'} of one deployed model in [since, until); a latency
    is None when Cloud Monitoring has no point (no traffic yet)."""
    from google.cloud import monitoring_v3

    aligner = monitoring_v3.Aggregation.Aligner
    client = self._client()
    p50 = self._values(client, LATENCY, deployed_id, since, until, aligner.ALIGN_PERCENTILE_50)
    p99 = self._values(client, LATENCY, deployed_id, since, until, aligner.ALIGN_PERCENTILE_99)
    errors = self._values(client, ERRORS, deployed_id, since, until, aligner.ALIGN_SUM)
    return {'p50_ms': max(p50) if p50 else None, 'p99_ms': max(p99) if p99 else None,
            'errors': int(sum(errors))}

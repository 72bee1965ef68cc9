"""Vertex AI Endpoint backend: the deployed versions of the registry's Model and the split.

google-cloud-aiplatform's v1 EndpointServiceClient (REST transport, the same
`vertex_api_endpoint` seam, credentials and transient retries as the registry). The
endpoint is created once, with request-response logging to BigQuery (Vertex AI lets it
be set only at creation), so the prediction log of every deployed model lands in the
table the monitoring and canary SQL read. A deployed model's id is its registry version
(Vertex AI allows digits only), so a split reads {"7": 90, "8": 10}.

Deploy and undeploy are long-running operations. `begin_deploy` only starts a deploy and
returns its operation's name: the rollout waits for it deferrably (EndpointOperationTrigger
polls `operation_status` on the triggerer; a first deploy provisions machines, often 10-20
minutes, and must not hold a worker slot). `deploy` and `undeploy` poll to completion here
(with the registry's retries on 429/5xx), for callers that hold no worker slot long. A
deploy that fails raises EndpointError with Vertex AI's own message and leaves the split as
it was (Vertex AI applies a split only with a successful deploy).

`validation()` is a second, private Endpoint (`<endpoint id>-validation`, no request
logging: its requests are no one's traffic) where model_rollout deploys the challenger
alone, in the configured serving container, for the infrastructure validation and the load
test before it takes any live request; `predict` answers through Vertex AI's prediction
service (PredictionServiceClient, same transport and seam).
"""

from __future__ import annotations

import time

from ct_platform.backends.local_endpoint import rescale
from ct_platform.backends.vertex import TIMEOUT, _client, _transient_retry, log
from ct_platform.contracts import endpoint as contract
from ct_platform.labels import label_slug

DEPLOY_TIMEOUT = 3600.0  # seconds: a first deploy provisions machines (often 10-20 min)


class VertexEndpoint:
  def __init__(self, project: str, region: str, model_name: str, api_endpoint: str = '',
               gcp_conn_id: str = 'google_cloud_default', impersonation_chain: str = '',
               endpoint_id: str = '', machine_type: str = 'n1-standard-2',
               min_replicas: int = 1, max_replicas: int = 1, log_table: str = '',
               log_sampling_rate: float = 1.0, purpose: str = 'serving'):
    if purpose not in ('serving', 'validation'):
      raise ValueError(f'purpose: {purpose!r} is not serving or validation')
    self.project, self.region = project, region
    self.model_name = model_name
    self.model_id = label_slug(model_name)
    self.endpoint_id = endpoint_id or self.model_id
    self.purpose = purpose
    self.api_endpoint = api_endpoint
    self.gcp_conn_id, self.impersonation_chain = gcp_conn_id, impersonation_chain
    self.machine_type = machine_type
    self.min_replicas, self.max_replicas = min_replicas, max_replicas
    self.log_table = log_table or f'bq://{project}.ct_monitoring.prediction_log'
    self.log_sampling_rate = log_sampling_rate

  def config(self) -> dict:
    """What a trigger serializes to rebuild this endpoint (backends.endpoint_from_config)."""
    return {'kind': 'vertex', 'kwargs': {
        'project': self.project, 'region': self.region, 'model_name': self.model_name,
        'api_endpoint': self.api_endpoint, 'gcp_conn_id': self.gcp_conn_id,
        'impersonation_chain': self.impersonation_chain, 'endpoint_id': self.endpoint_id,
        'machine_type': self.machine_type, 'min_replicas': self.min_replicas,
        'max_replicas': self.max_replicas, 'log_table': self.log_table,
        'log_sampling_rate': self.log_sampling_rate, 'purpose': self.purpose}}

  @classmethod
  def from_settings(cls, settings):
    return cls(project=settings.project, region=settings.region,
               model_name=settings.model_name, api_endpoint=settings.vertex_api_endpoint,
               gcp_conn_id=settings.gcp_conn_id,
               impersonation_chain=settings.impersonation_chain,
               endpoint_id=settings.vertex_endpoint_id,
               machine_type=settings.serving_machine_type,
               log_table=settings.prediction_log_table)

  def validation(self) -> VertexEndpoint:
    """The private validation Endpoint beside this one (same machines, no logging). Its id
    follows Vertex AI's rule for ids that start with a letter (at most 63 of [a-z0-9-]); a
    numeric endpoint id (at most 9 digits, and no suffix allowed) gives way to the model's."""
    base = self.endpoint_id if not self.endpoint_id[:1].isdigit() else self.model_id
    kwargs = dict(self.config()['kwargs'], purpose='validation',
                  endpoint_id=f'{base[:52].rstrip("-")}-validation')
    return VertexEndpoint(**kwargs)

  @property
  def location(self) -> str:
    return f'projects/{self.project}/locations/{self.region}'

  @property
  def resource(self) -> str:
    return f'{self.location}/endpoints/{self.endpoint_id}'

  def _client(self, kind: str = 'endpoint'):
    return _client(kind, self.region, self.api_endpoint, self.gcp_conn_id,
                   self.impersonation_chain)

  @property
  def predict_url(self) -> str:
    """The REST :predict URL (what a load test's clients post to)."""
    host = self.api_endpoint or f'{self.region}-aiplatform.googleapis.com'
    host = host if '://' in host else f'https://{host}'
    return f'{host.rstrip("/")}/v1/{self.resource}:predict'

  def authorization(self) -> str | None:
    """An `Authorization` header value for predict_url's clients (None: anonymous, as
    the tests' connection is)."""
    import google.auth.transport.requests
    from google.auth.credentials import AnonymousCredentials

    from ct_platform.backends.vertex import _credentials

    credentials = _credentials(self.gcp_conn_id, self.impersonation_chain)
    if isinstance(credentials, AnonymousCredentials):
      return None
    credentials.refresh(google.auth.transport.requests.Request())
    return f'Bearer {credentials.token}'

  def predict(self, instances: list) -> tuple[list, str]:
    """(predictions, the deployed model id that answered) for `instances` (JSON values)."""
    from google.protobuf import json_format, struct_pb2

    values = [json_format.ParseDict(i, struct_pb2.Value()) for i in instances]
    response = self._client('prediction').predict(
        endpoint=self.resource, instances=values, retry=_transient_retry(), timeout=TIMEOUT)
    return ([json_format.MessageToDict(p) for p in response._pb.predictions],
            response.deployed_model_id)

  def deployed_id(self, version) -> str:
    return str(int(version))

  # -- reading ----------------------------------------------------------------------------

  def _get(self, client):
    from google.api_core import exceptions

    try:
      return client.get_endpoint(name=self.resource, retry=_transient_retry(), timeout=TIMEOUT)
    except exceptions.NotFound:
      return None

  def _state(self, endpoint) -> contract.EndpointState:
    models = tuple(contract.DeployedModel(m.id, m.model_version_id or m.id, m.model)
                   for m in endpoint.deployed_models)
    return contract.EndpointState(self.endpoint_id, models, dict(endpoint.traffic_split))

  def state(self) -> contract.EndpointState | None:
    endpoint = self._get(self._client())
    return self._state(endpoint) if endpoint is not None else None

  # -- changing ---------------------------------------------------------------------------

  def _ensure(self, client):
    """The endpoint, created (with request-response logging) when it does not exist."""
    from google.cloud import aiplatform_v1

    endpoint = self._get(client)
    if endpoint is not None:
      return endpoint
    if self.purpose == 'validation':
      log.info('creating the validation endpoint %s (no request logging)', self.resource)
      body = aiplatform_v1.Endpoint(
          display_name=f'{self.model_name}-validation',
          labels={'ct_model': self.model_id, 'ct_purpose': 'validation'})
    else:
      log.info('creating endpoint %s with request-response logging to %s', self.resource,
               self.log_table)
      body = aiplatform_v1.Endpoint(
          display_name=self.model_name, labels={'ct_model': self.model_id},
          predict_request_response_logging_config=aiplatform_v1.PredictRequestResponseLoggingConfig(
              enabled=True, sampling_rate=self.log_sampling_rate,
              bigquery_destination=aiplatform_v1.BigQueryDestination(
                  output_uri=self.log_table)))
    operation = client.create_endpoint(parent=self.location, endpoint=body,
                                       endpoint_id=self.endpoint_id,
                                       retry=_transient_retry(), timeout=TIMEOUT)
    return self._wait(operation, 'create endpoint')

  def _wait(self, operation, what: str):
    from google.api_core import exceptions

    try:
      return operation.result(timeout=DEPLOY_TIMEOUT, retry=_transient_retry())
    except exceptions.GoogleAPICallError as e:
      raise contract.EndpointError(f'{what} on {self.resource} failed: {e.message}') from e

  def deploy(self, version, artifact_uri: str, traffic_percent: int) -> contract.EndpointState:
    """Deploys version `version` of the registry's Model beside the others at
    traffic_percent (the others keep their proportions in the rest), and waits."""
    operation = self.begin_deploy(version, artifact_uri, traffic_percent)
    if operation is not None:
      self.wait_operation(operation, f'deploy of version {version}')
    return self.state()

  def wait_operation(self, name: str, what: str, timeout: float = DEPLOY_TIMEOUT) -> None:
    """Polls an operation begin_deploy started until it is done (1 s, growing to 15 s)."""
    deadline = time.monotonic() + timeout
    pause = 1.0
    while True:
      done, error = self.operation_status(name)
      if done and error:
        raise contract.EndpointError(f'{what} on {self.resource} failed: {error}')
      if done:
        return
      if time.monotonic() + pause > deadline:
        raise contract.EndpointError(f'{what} on {self.resource}: operation {name} not done '
                                     f'after {timeout:.0f} s')
      time.sleep(pause)
      pause = min(15.0, pause * 1.5)

  def begin_deploy(self, version, artifact_uri: str, traffic_percent: int) -> str | None:
    """Starts deploying version `version` at traffic_percent; returns the long-running
    operation's name to wait for (None: it was deployed already and only its share moved).
    """
    from google.cloud import aiplatform_v1

    if not 0 <= int(traffic_percent) <= 100:
      raise contract.EndpointError(f'traffic_percent: {traffic_percent!r} is not 0-100')
    client = self._client()
    endpoint = self._ensure(client)
    mid = self.deployed_id(version)
    others = {k: v for k, v in endpoint.traffic_split.items() if k != mid}
    if not endpoint.deployed_models and int(traffic_percent) != 100:
      raise contract.EndpointError(f'traffic_percent: {traffic_percent} for the first model '
                                   f'on {self.resource}; the first deployed model takes 100')
    if any(m.id == mid for m in endpoint.deployed_models):  # deployed: only its share moves
      self.set_traffic({**rescale(others, 100 - int(traffic_percent)),
                        mid: int(traffic_percent)})
      return None
    split = {**rescale(others, 100 - int(traffic_percent)), '0': int(traffic_percent)}
    deployed = aiplatform_v1.DeployedModel(
        id=mid, model=f'projects/{self.project}/locations/{self.region}/models/'
                      f'{self.model_id}@{int(version)}',
        display_name=f'{self.model_name}-v{int(version)}',
        dedicated_resources=aiplatform_v1.DedicatedResources(
            machine_spec=aiplatform_v1.MachineSpec(machine_type=self.machine_type),
            min_replica_count=self.min_replicas, max_replica_count=self.max_replicas))
    log.info('deploying %s as %s on %s at %d%%', deployed.model, mid, self.resource,
             traffic_percent)
    operation = client.deploy_model(endpoint=self.resource, deployed_model=deployed,
                                    traffic_split=split, retry=_transient_retry(),
                                    timeout=TIMEOUT)
    return operation.operation.name

  def operation_status(self, name: str) -> tuple[bool, str | None]:
    """(done, Vertex AI's error message or None) of a long-running operation."""
    operation = self._client().get_operation({'name': name}, retry=_transient_retry(),
                                             timeout=TIMEOUT)
    if not operation.done:
      return False, None
    if operation.HasField('error') and operation.error.code:
      return True, f'{operation.error.message} (code {operation.error.code}, {name})'
    return True, None

  def set_traffic(self, split: dict) -> contract.EndpointState:
    from google.cloud import aiplatform_v1
    from google.protobuf import field_mask_pb2

    client = self._client()
    endpoint = self._get(client)
    if endpoint is None:
      raise contract.EndpointError(f'{self.resource}: no endpoint yet (deploy a model first)')
    ids = [m.id for m in endpoint.deployed_models]
    full = {**{i: 0 for i in ids}, **{str(k): int(v) for k, v in split.items()}}
    unknown = sorted(set(full) - set(ids))
    if unknown or sum(full.values()) != 100:
      raise contract.EndpointError(f'traffic split {split} on {self.resource}: '
                                   + (f'{unknown} not deployed (deployed: {ids})' if unknown
                                      else f'sums to {sum(full.values())}, not 100'))
    updated = client.update_endpoint(
        endpoint=aiplatform_v1.Endpoint(name=self.resource, traffic_split=full),
        update_mask=field_mask_pb2.FieldMask(paths=['traffic_split']),
        retry=_transient_retry(), timeout=TIMEOUT)
    return self._state(updated)

  def undeploy(self, version) -> contract.EndpointState:
    self.wait_operation(self.begin_undeploy(version), f'undeploy of {version}')
    return self.state()

  def begin_undeploy(self, version) -> str:
    """Starts undeploying `version`; returns the operation's name. A model that takes
    traffic is refused unless it is the endpoint's last one (then the split ends empty,
    as Vertex AI does for the last deployed model)."""
    client = self._client()
    endpoint = self._get(client)
    mid = self.deployed_id(version)
    ids = [m.id for m in endpoint.deployed_models] if endpoint is not None else []
    if mid not in ids:
      raise contract.EndpointError(f'{mid} is not deployed on {self.resource}')
    if endpoint.traffic_split.get(mid, 0) and ids != [mid]:
      raise contract.EndpointError(f'{mid} takes {endpoint.traffic_split[mid]}% of the '
                                   f'traffic on {self.resource}: move it before undeploying')
    operation = client.undeploy_model(endpoint=self.resource, deployed_model_id=mid,
                                      retry=_transient_retry(), timeout=TIMEOUT)
    return operation.operation.name

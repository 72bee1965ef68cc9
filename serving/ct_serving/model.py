"""The one model name the server answers for, and the deployed models behind it.

EndpointModel is a kserve.Model: KServe's REST server calls its predict with the parsed V1
body. It holds a Snapshot of the endpoint (deployed models loaded, the traffic split), picks
the deployed model of each request, checks the instances against that model's inputs, and
logs the request and the response. Importing this module imports kserve, which parses the
command line: the server's main imports it after reading its own arguments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from pathlib import Path

import kserve

from ct_serving import endpoint as endpoint_lib
from ct_serving import spec as spec_lib
from ct_serving.prediction_log import PredictionLog

log = logging.getLogger('ct_serving')
WATCH_SECONDS = 0.5


@dataclasses.dataclass
class LoadedModel:
  deployed: endpoint_lib.DeployedModel
  spec: spec_lib.InputSpec
  signature: object

  @classmethod
  def load(cls, deployed: endpoint_lib.DeployedModel) -> 'LoadedModel':
    import tensorflow as tf

    loaded = tf.saved_model.load(deployed.saved_model_dir)
    signature = loaded.signatures['serving_default']
    signature._ct_keepalive = loaded  # the signature's variables live on the loaded object
    model = cls(deployed, spec_lib.spec_from_signature(signature), signature)
    model.warm_up()
    return model

  def warm_up(self, calls: int = 3) -> None:
    """A few calls before the model takes traffic, as TF Serving's warmup records do: the
    first calls of a freshly loaded SavedModel are several times slower, and a canary's
    p99 would measure that instead of the model. A model that fails here still loads
    (its requests will answer 500, which the log records)."""
    zero = {'float': 0.0, 'int': 0, 'string': ''}
    try:
      examples = spec_lib.to_examples([{f.name: zero[f.kind] for f in self.spec.features}],
                                      self.spec)
      for _ in range(calls):
        self.predict(examples)
    except Exception as e:  # noqa: BLE001
      log.warning('warm-up of %s failed: %s: %s', self.deployed.id, type(e).__name__, e)

  def predict(self, examples: list[bytes]) -> list[float]:
    import tensorflow as tf

    outputs = self.signature(examples=tf.constant(examples))
    (tensor,) = outputs.values()
    return [float(x) for x in tensor.numpy().reshape(-1)]


@dataclasses.dataclass(frozen=True)
class Snapshot:
  """What serves right now; replaced whole, so a request sees one split from start to end."""
  state: endpoint_lib.EndpointState
  models: dict
  router: endpoint_lib.Router
  mtime_ns: int


class EndpointModel(kserve.Model):
  def __init__(self, name: str, endpoint_file, prediction_log: PredictionLog,
               key_field: str = 'unique_key', max_instances: int = 1000,
               seed: int | None = None):
    super().__init__(name)
    self.endpoint_file = Path(endpoint_file)
    self.prediction_log = prediction_log
    self.key_field, self.max_instances = key_field, max_instances
    self._seed = seed
    self._random = random.Random(seed)
    self.snapshot: Snapshot | None = None

  # -- the endpoint file ------------------------------------------------------------------

  def load(self) -> bool:
    self.reload()
    self.ready = True
    return True

  def reload(self) -> None:
    """Loads what the endpoint file says (reusing models already loaded), then swaps."""
    mtime = self.endpoint_file.stat().st_mtime_ns
    state = endpoint_lib.read(self.endpoint_file)
    old = self.snapshot.models if self.snapshot else {}
    models = {}
    for deployed in state.deployed_models:
      same = old.get(deployed.id)
      models[deployed.id] = (same if same is not None and same.deployed == deployed
                             else LoadedModel.load(deployed))
    self.snapshot = Snapshot(state, models, endpoint_lib.Router(state.traffic_split,
                                                                self._seed), mtime)
    log.info('endpoint %s: %s', self.endpoint_file, json.dumps(state.traffic_split))

  async def watch(self) -> None:
    while True:
      await asyncio.sleep(WATCH_SECONDS)
      try:
        mtime = self.endpoint_file.stat().st_mtime_ns
      except OSError as e:  # removed or unreadable: keep serving what was deployed
        if self.snapshot.mtime_ns != -1:
          log.error('endpoint %s: %s; still serving the previous state', self.endpoint_file, e)
          self.snapshot = dataclasses.replace(self.snapshot, mtime_ns=-1)
        continue
      if mtime == self.snapshot.mtime_ns:
        continue
      try:
        await asyncio.to_thread(self.reload)
      except Exception as e:  # keep serving the last good state, say why (once per change)
        log.error('endpoint %s not applied, still serving the previous state: %s',
                  self.endpoint_file, e)
        self.snapshot = dataclasses.replace(self.snapshot, mtime_ns=mtime)

  def metadata(self) -> dict:
    snap = self.snapshot
    return {'name': self.name, 'endpoint': snap.state.as_dict(),
            'inputs': {mid: m.spec.as_dict() for mid, m in snap.models.items()},
            'example_key_field': self.key_field,
            'prediction_log': {'folder': str(self.prediction_log.folder),
                               'sample_rate': self.prediction_log.sample_rate}}

  # -- a request --------------------------------------------------------------------------

  def reject(self, message: str, payload=None, request_id: int | None = None) -> None:
    """Logs a refused request (HTTP 400) with its reason."""
    instances = payload.get('instances') if isinstance(payload, dict) else None
    self.prediction_log.add(
        endpoint=self.name, deployed_model_id=None, model_version_id=None,
        request_id=request_id or self._request_id(), status_code=400, error=message,
        request_payload=[json.dumps(i) for i in instances] if isinstance(instances, list)
        else None, response_payload=None, latency_ms=None)

  def _request_id(self) -> int:
    return self._random.getrandbits(63)

  async def predict(self, payload, headers=None):
    from kserve.errors import InvalidInput

    started = time.perf_counter()
    request_id = self._request_id()
    if isinstance(payload, (bytes, str)):  # sent without Content-Type: application/json
      try:
        payload = json.loads(payload)
      except ValueError as e:
        message = f'the body is not JSON: {e}'
        self.reject(message, None, request_id)
        raise InvalidInput(message) from None
    snap = self.snapshot
    try:
      deployed_id = snap.router.pick()
    except LookupError as e:
      raise InvalidInput(str(e)) from e
    model = snap.models[deployed_id]
    try:
      instances, _ = spec_lib.check_request(payload, model.spec, self.key_field,
                                            self.max_instances)
    except spec_lib.RequestError as e:
      self.reject(str(e), payload, request_id)
      raise InvalidInput(str(e)) from None
    examples = spec_lib.to_examples(instances, model.spec)
    try:
      # in a thread even when it is the only request: run on the loop, it holds back the
      # requests still unread in their sockets (32 clients: p99 80 -> 200 ms)
      scores = await asyncio.to_thread(model.predict, examples)
    except Exception as e:  # the model failed (HTTP 500): the log says which and why
      self.prediction_log.add(
          endpoint=self.name, deployed_model_id=deployed_id,
          model_version_id=model.deployed.model_version_id, request_id=request_id,
          request_payload=[json.dumps(i) for i in payload['instances']],
          response_payload=None, latency_ms=(time.perf_counter() - started) * 1000,
          status_code=500, error=f'{type(e).__name__}: {e}'[:2000])
      raise
    predictions = [[s] for s in scores]  # TF Serving's shape for an [N, 1] output
    latency_ms = (time.perf_counter() - started) * 1000
    if self.prediction_log.sampled():
      self.prediction_log.add(
          endpoint=self.name, deployed_model_id=deployed_id,
          model_version_id=model.deployed.model_version_id, request_id=request_id,
          request_payload=[json.dumps(i) for i in payload['instances']],
          response_payload=[json.dumps(p) for p in predictions],
          latency_ms=latency_ms, status_code=200, error=None)
    return {'predictions': predictions, 'deployed_model_id': deployed_id,
            'model_version_id': model.deployed.model_version_id,
            'request_id': str(request_id)}

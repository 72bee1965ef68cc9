"""The model server: KServe's ModelServer (REST only) with one model name whose requests go to
the models deployed on the local endpoint, by its traffic split.

  python -m ct_serving.server --endpoint-file .local/serving/endpoint.json \
      --log-dir .local/serving/prediction_log [--deploy-champion .local/registry]

Routes (TF Serving / KServe V1, what Vertex AI's prebuilt TensorFlow containers accept):
  POST /v1/models/NAME:predict   {"instances": [{raw features}, ...]} -> {"predictions": [...]}
  GET  /v1/models/NAME           readiness;  GET /v1/models  the model names;  GET /  liveness
  GET  /v1/models/NAME/metadata  deployed models, traffic split, each model's input features
The response also names the deployed model that answered (as Vertex AI's does).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from ct_serving import endpoint as endpoint_lib
from ct_serving.prediction_log import PredictionLog

log = logging.getLogger('ct_serving')


async def read_body(receive, limit: float = float('inf')) -> bytes | None:
  """An ASGI request's body, None if the client went away; reading stops once it is over
  `limit` bytes (what was read is returned, longer than the limit)."""
  chunks, size, more = [], 0, True
  while more and size <= limit:
    message = await receive()
    if message['type'] != 'http.request':
      return None
    chunks.append(message.get('body', b''))
    size += len(chunks[-1])
    more = message.get('more_body', False)
  return b''.join(chunks)


class BodyLimit:
  """Refuses a body over max_body_bytes with a 400 before KServe parses it: by its
  Content-Length, or, for a chunked body (which has none), while it arrives. A plain ASGI
  middleware: Starlette's @app.middleware('http') costs a task group and a streamed
  response per request, a fifth of the event loop's time at one client."""

  def __init__(self, app, model, max_body_bytes: int):
    self.app, self.model, self.max_body_bytes = app, model, max_body_bytes

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http' or scope['method'] not in ('POST', 'PUT'):
      return await self.app(scope, receive, send)
    size = dict(scope['headers']).get(b'content-length')
    if size is not None:
      if size.isdigit() and int(size) > self.max_body_bytes:
        return await self.refuse(int(size), scope, receive, send)
      return await self.app(scope, receive, send)
    body = await read_body(receive, self.max_body_bytes)
    if body is None:  # the client went away
      return
    if len(body) > self.max_body_bytes:
      return await self.refuse(len(body), scope, receive, send, at_least=True)
    whole = [{'type': 'http.request', 'body': body, 'more_body': False}]

    async def receive_again():
      return whole.pop() if whole else await receive()

    return await self.app(scope, receive_again, send)

  async def refuse(self, size: int, scope, receive, send, at_least: bool = False) -> None:
    from starlette.responses import JSONResponse

    message = (f'request body is {"over " if at_least else ""}{size} bytes, over the limit '
               f'of {self.max_body_bytes} bytes (--max-body-bytes)')
    self.model.reject(message)
    await JSONResponse(status_code=400, content={'error': message})(scope, receive, send)


class PredictRoute:
  """POST /v1/models/NAME:predict straight into KServe's data plane, as KServe's
  V1Endpoints.predict does it (model ready, decode, the model's __call__ with its metrics,
  encode; errors answered by the app's own KServe exception handlers), without FastAPI's
  routing, dependency solving and per-route wrappers: at one instance per request those cost
  more than the HTTP server itself (make bench-serving: p50 at one client 2.3-3.4 ms ->
  1.3-2.0 ms). Every other route goes to KServe's app."""

  def __init__(self, app, fastapi_app, dataplane, model_name: str):
    self.app, self.fastapi_app, self.dataplane = app, fastapi_app, dataplane
    self.path = f'/v1/models/{model_name}:predict'
    self.model_name = model_name

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http' or scope['method'] != 'POST' or scope['path'] != self.path:
      return await self.app(scope, receive, send)
    import orjson
    from kserve.errors import ModelNotReady

    body = await read_body(receive)
    if body is None:  # the client went away
      return
    headers = {k.decode('latin-1'): v.decode('latin-1') for k, v in scope['headers']}
    try:
      if not await self.dataplane.model_ready(self.model_name, True):
        raise ModelNotReady(self.model_name)
      request, attributes = self.dataplane.decode(body=body, headers=headers)
      response, response_headers = await self.dataplane.infer(
          model_name=self.model_name, request=request, headers=headers)
      response, more_headers = self.dataplane.encode(
          model_name=self.model_name, response=response, headers=headers,
          req_attributes=attributes)
    except Exception as e:  # noqa: BLE001 - answered as KServe's REST server answers it
      handlers = self.fastapi_app.exception_handlers  # most specific class first, as Starlette
      handler = next(handlers[t] for t in type(e).__mro__ if t in handlers)
      return await (await handler(None, e))(scope, receive, send)
    response_headers.update(more_headers)
    response_headers.pop('content-length', None)
    if not isinstance(response, dict):  # a CloudEvent's bytes, a stream: KServe's own answer
      from starlette.responses import Response, StreamingResponse
      answer = (Response(content=response, headers=response_headers)
                if isinstance(response, (bytes, str))
                else StreamingResponse(content=response))
      return await answer(scope, receive, send)
    content = orjson.dumps(response)
    out = [(b'content-type', b'application/json'),
           (b'content-length', str(len(content)).encode())]
    out += [(k.encode('latin-1'), str(v).encode('latin-1'))
            for k, v in response_headers.items() if k.lower() != 'content-type']
    await send({'type': 'http.response.start', 'status': 200, 'headers': out})
    await send({'type': 'http.response.body', 'body': content})


def add_routes(app, model, max_body_bytes: int, dataplane) -> None:
  from fastapi.responses import JSONResponse

  # the last added runs first: the body limit, then the predict route, then KServe's app
  app.add_middleware(PredictRoute, fastapi_app=app, dataplane=dataplane, model_name=model.name)
  app.add_middleware(BodyLimit, model=model, max_body_bytes=max_body_bytes)

  async def metadata(model_name: str):
    if model_name != model.name:
      return JSONResponse(status_code=404, content={'error': f'model {model_name} not found'})
    return model.metadata()

  app.add_api_route('/v1/models/{model_name}/metadata', metadata, methods=['GET'])


def parse_args(argv=None):
  p = argparse.ArgumentParser(prog='python -m ct_serving.server', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--endpoint-file', required=True)
  p.add_argument('--log-dir', required=True, help='the prediction log folder')
  p.add_argument('--deploy-champion', metavar='REGISTRY_DIR', default='',
                 help='when the endpoint file does not exist, deploy this registry\'s champion')
  p.add_argument('--model-name', default='chicago-taxi-tipper')
  p.add_argument('--host', default='127.0.0.1')
  p.add_argument('--port', type=int, default=int(os.environ.get('SERVE_PORT', '8501')))
  p.add_argument('--log-sample-rate', type=float, default=1.0)
  p.add_argument('--max-instances', type=int, default=1000)
  p.add_argument('--max-body-bytes', type=int, default=1_500_000)  # Vertex AI's 1.5 MB
  p.add_argument('--example-key-field', default='unique_key')
  p.add_argument('--seed', type=int, default=None, help='fixes the traffic split\'s draws')
  p.add_argument('--access-log', action='store_true',
                 help='uvicorn\'s access log line per request (off: the prediction log has '
                 'every request)')
  p.add_argument('--latency-log', action='store_true',
                 help='KServe\'s per-request timing lines (kserve.trace) at INFO; the '
                 'prediction log has every request\'s latency either way')
  return p.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(message)s')
  endpoint_file = Path(args.endpoint_file)
  if not endpoint_file.exists():
    if not args.deploy_champion:
      raise SystemExit(f'serve: {endpoint_file} does not exist (give --deploy-champion)')
    from ct_serving.registry import endpoint_for_champion
    endpoint_lib.write(endpoint_file, endpoint_for_champion(args.deploy_champion,
                                                            args.model_name))
  sys.argv = sys.argv[:1]  # kserve.model_server parses the command line when imported
  import kserve
  from kserve.model_server import app
  from kserve.protocol.rest.server import RESTServer

  from ct_serving.model import EndpointModel

  prediction_log = PredictionLog(args.log_dir, sample_rate=args.log_sample_rate)
  model = EndpointModel(args.model_name, endpoint_file, prediction_log,
                        key_field=args.example_key_field, max_instances=args.max_instances,
                        seed=args.seed)
  model.load()
  server = kserve.ModelServer(http_port=args.port, enable_grpc=False, workers=1,
                              grace_period=10)
  server.register_model(model)
  if not args.latency_log:  # a line per request and stage, formatted on the event loop
    logging.getLogger('kserve.trace').setLevel(logging.WARNING)
  add_routes(app, model, args.max_body_bytes, server.dataplane)
  rest = RESTServer('kserve.model_server:app', server.dataplane,
                    server.model_repository_extension, args.port, grace_period=10)
  rest.config.host = args.host
  if not args.access_log:  # uvicorn decides per connection by the logger's handlers
    access = logging.getLogger('uvicorn.access')
    access.handlers, access.propagate = [], False
  # uvicorn re-raises the stop signal after its graceful shutdown; with these handlers the
  # re-raise returns here, and the log is drained before the process ends.
  for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda *_: None)

  async def serve():
    watcher = asyncio.create_task(model.watch())
    try:
      await rest.start()
    finally:
      watcher.cancel()

  import uvloop  # a faster loop than asyncio's (KServe's own runner asks uvicorn for asyncio)

  try:
    uvloop.run(serve())
  finally:
    prediction_log.close()
    log.info('prediction log: %d rows in %s', prediction_log.rows_written, args.log_dir)
  return 0


if __name__ == '__main__':
  sys.exit(main())

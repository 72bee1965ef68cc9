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


def add_routes(app, model, max_body_bytes: int) -> None:
  from fastapi.responses import JSONResponse

  @app.middleware('http')
  async def refuse_big_bodies(request, call_next):
    size = request.headers.get('content-length')
    if size is not None and size.isdigit() and int(size) > max_body_bytes:
      message = (f'request body is {int(size)} bytes, over the limit of {max_body_bytes} '
                 f'bytes (--max-body-bytes)')
      model.reject(message)
      return JSONResponse(status_code=400, content={'error': message})
    return await call_next(request)

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
  add_routes(app, model, args.max_body_bytes)
  rest = RESTServer('kserve.model_server:app', server.dataplane,
                    server.model_repository_extension, args.port, grace_period=10)
  rest.config.host = args.host
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

  try:
    asyncio.run(serve())
  finally:
    prediction_log.close()
    log.info('prediction log: %d rows in %s', prediction_log.rows_written, args.log_dir)
  return 0


if __name__ == '__main__':
  sys.exit(main())

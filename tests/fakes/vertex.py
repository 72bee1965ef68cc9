"""A small Vertex AI REST server on loopback, answering in the API's own JSON shapes.

The real google-cloud-aiplatform clients (REST transport, `api_endpoint` pointed here)
talk to it; it records every request. Pipeline jobs move through a scripted list of
states, one per GET; `fail_next` answers the next GETs with error codes; a job that
reaches SUCCEEDED may run `on_succeeded` (the dags test writes the run summary there,
as the pipeline's last step would). Models: upload (a long-running operation polled
at /ui/...), get by version or alias, mergeVersionAliases, listVersions. Endpoints:
create, get, deployModel / undeployModel (long-running operations that finish after
`deploy_polls` polls; `fail_deploy` makes the next deploy's operation fail, `deploy_503`
answers the next N deployModel calls 503, `operation_503` the next N operation GETs),
PATCH of the traffic split, and :predict, answered by the deployed model's stand-in
serving container: `serving_backends` maps a deployed model id to the URL of a real model
server speaking the TF Serving REST shape (the local model server), as Vertex AI's
prebuilt TensorFlow container does.
"""

from __future__ import annotations

import itertools
import json
import re

from fakes.http import RecordingJsonServer

DEFAULT_SCRIPT = ('PIPELINE_STATE_RUNNING', 'PIPELINE_STATE_SUCCEEDED')


def _error(code, status, message):
  return code, {'error': {'code': code, 'message': message, 'status': status}}


class FakeVertex(RecordingJsonServer):
  def __init__(self):
    super().__init__()
    self.jobs = {}           # name -> job json
    self.scripts = {}        # job id -> remaining states
    self.default_script = list(DEFAULT_SCRIPT)
    self.fail_next = []      # status codes for the next GETs of pipeline jobs
    self.fail_upload = False
    self.fail_cancel = 0     # the next N cancels answer 503
    self.fail_merge = 0      # the next N mergeVersionAliases answer 503
    self.models = {}         # model name -> {version id: model json}
    self.endpoints = {}      # endpoint name -> endpoint json
    self.fail_deploy = ''    # the next deploy's operation fails with this message
    self.deploy_503 = 0      # the next N deployModel calls answer 503
    self.operation_503 = 0   # the next N operation GETs answer 503
    self.deploy_polls = 1    # polls before a deploy / undeploy operation is done
    self._pending = {}       # operation name -> [polls left, what to do when done]
    self.serving_backends = {}  # deployed model id -> a model server's :predict URL
    self.ops = {}
    self.on_succeeded = None
    # how a job that reaches FAILED failed: the job's error and its failed tasks, as
    # Vertex reports them (default: the Trainer's own code raised)
    self.failure = {'error': {'code': 9, 'message': 'The DAG failed because some tasks '
                                                    'failed. The failed tasks are: [trainer].'},
                    'tasks': [{'taskName': 'trainer', 'error': {
                        'code': 9, 'message': 'The replica workerpool0-0 exited with a '
                                              'non-zero status of 1: ValueError: NaN loss'}}]}
    self._seq = itertools.count(1)

  # --- what tests read -------------------------------------------------------------
  def calls(self, method, pattern):
    return [entry for entry in self.log
            if entry[0] == method and re.search(pattern, entry[1])]

  def creates(self):
    return self.calls('POST', r'/pipelineJobs$')

  # --- routes ---------------------------------------------------------------------
  def route(self, method, path, query, body):
    m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+)/pipelineJobs', path)
    if method == 'POST' and m:
      job_id = query['pipelineJobId'][0]
      name = f'{m.group(1)}/pipelineJobs/{job_id}'
      if name in self.jobs:
        return _error(409, 'ALREADY_EXISTS', f'{name} already exists')
      self.jobs[name] = dict(body, name=name, state='PIPELINE_STATE_PENDING',
                             createTime='2026-01-01T00:00:00Z')
      self.scripts.setdefault(job_id, list(self.default_script))
      return 200, self.jobs[name]
    m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+/pipelineJobs/([^/:]+))(:cancel)?',
                     path)
    if m:
      name, job_id, cancel = m.groups()
      job = self.jobs.get(name)
      if job is None:
        return _error(404, 'NOT_FOUND', f'{name} not found')
      if cancel:
        if self.fail_cancel:
          self.fail_cancel -= 1
          return _error(503, 'UNAVAILABLE', 'try again')
        if job['state'] in ('PIPELINE_STATE_SUCCEEDED', 'PIPELINE_STATE_FAILED',
                            'PIPELINE_STATE_CANCELLED'):
          return _error(400, 'FAILED_PRECONDITION', 'the job has finished')
        job['state'] = 'PIPELINE_STATE_CANCELLING'
        self.scripts[job_id] = ['PIPELINE_STATE_CANCELLED']
        return 200, {}
      if self.fail_next:
        code = self.fail_next.pop(0)
        return _error(code, {429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE'}.get(
            code, 'INTERNAL'), 'try again')
      script = self.scripts.get(job_id) or []
      if script:
        job['state'] = script.pop(0)
        if job['state'] == 'PIPELINE_STATE_FAILED':
          job['error'] = dict(self.failure['error'])
          job['jobDetail'] = {'taskDetails': [
              dict(t, state='FAILED', taskId=str(i)) for i, t in enumerate(
                  self.failure['tasks'])] + [{'taskName': 'statisticsgen', 'taskId': '99',
                                              'state': 'SUCCEEDED'}]}
        if job['state'] == 'PIPELINE_STATE_SUCCEEDED' and self.on_succeeded:
          self.on_succeeded(job)
      return 200, job
    return self.route_models(method, path, query, body)

  def _resolve(self, name):
    base, _, ref = name.partition('@')
    ref = ref or 'default'
    for vid, model in self.models.get(base, {}).items():
      if vid == ref or ref in model['versionAliases']:
        return model
    return None

  def route_models(self, method, path, query, body):
    m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+)/models:upload', path)
    if method == 'POST' and m:
      if body.get('parentModel'):
        name = body['parentModel']
        if name not in self.models:
          return _error(404, 'NOT_FOUND', 'parent model not found')
      else:
        name = f'{m.group(1)}/models/{body["modelId"]}'
        if name in self.models:
          return _error(409, 'ALREADY_EXISTS', 'model exists')
      op = f'{name}/operations/{next(self._seq)}'
      if self.fail_upload:
        self.ops[op] = {'name': op, 'done': True,
                        'error': {'code': 3, 'message': 'artifact_uri holds no saved model'}}
        return 200, {'name': op, 'done': False}
      self.models.setdefault(name, {})
      vid = str(len(self.models[name]) + 1)
      aliases = list(body['model'].get('versionAliases', [])) + (['default'] if vid == '1'
                                                                   else [])
      self.models[name][vid] = dict(body['model'], name=name, versionId=vid,
                                    versionAliases=aliases)
      self.ops[op] = {'name': op, 'done': True, 'response': {
          '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse',
          'model': name, 'modelVersionId': vid}}
      return 200, {'name': op, 'done': False}
    m = re.fullmatch(r'/(?:v1|ui)/(projects/.+/operations/[^/:]+)', path)
    if method == 'GET' and m:
      name = m.group(1)
      if self.operation_503:
        self.operation_503 -= 1
        return _error(503, 'UNAVAILABLE', 'the service is busy')
      pending = self._pending.get(name)
      if pending:
        pending[0] -= 1
        if pending[0] <= 0:
          del self._pending[name]
          pending[1]()
        else:
          return 200, {'name': name, 'done': False}
      return 200, self.ops[name]
    if '/endpoints' in path:
      return self.route_endpoints(method, path, query, body)
    m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+/models/[^/:]+)'
                     r'(:listVersions|:mergeVersionAliases)?', path)
    if m:
      name, verb = m.groups()
      if verb == ':listVersions':
        return 200, {'models': list(self.models.get(name, {}).values())}
      target = self._resolve(name)
      if target is None:
        return _error(404, 'NOT_FOUND', f'model {name} not found')
      if verb == ':mergeVersionAliases' and self.fail_merge:
        self.fail_merge -= 1
        return _error(503, 'UNAVAILABLE', 'try again')
      if verb == ':mergeVersionAliases':
        for alias in body['versionAliases']:
          for other in self.models[name.partition('@')[0]].values():
            other['versionAliases'] = [a for a in other['versionAliases'] if a != alias]
          target['versionAliases'].append(alias)
      return 200, target
    return _error(404, 'NOT_FOUND', f'no route {method} {path}')


def _endpoint_routes(fake, method, path, query, body):
  m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+)/endpoints', path)
  if method == 'POST' and m:
    name = f'{m.group(1)}/endpoints/{query["endpointId"][0]}'
    if name in fake.endpoints:
      return _error(409, 'ALREADY_EXISTS', f'endpoint {name} exists')
    fake.endpoints[name] = dict(body, name=name, deployedModels=[], trafficSplit={})
    op = f'{name}/operations/{next(fake._seq)}'
    fake.ops[op] = {'name': op, 'done': True, 'response': dict(
        fake.endpoints[name], **{'@type': 'type.googleapis.com/google.cloud.aiplatform.v1.'
                                          'Endpoint'})}
    return 200, {'name': op, 'done': False}
  m = re.fullmatch(r'/v1/(projects/[^/]+/locations/[^/]+/endpoints/[^/:]+)'
                   r'(:deployModel|:undeployModel|:predict)?', path)
  if not m:
    return _error(404, 'NOT_FOUND', f'no route {method} {path}')
  name, verb = m.groups()
  endpoint = fake.endpoints.get(name)
  if endpoint is None:
    return _error(404, 'NOT_FOUND', f'endpoint {name} not found')
  if method == 'GET' and not verb:
    return 200, endpoint
  if verb == ':predict':
    return _predict(fake, endpoint, body)
  if method == 'PATCH' and not verb:
    if query.get('updateMask') != ['trafficSplit']:
      return _error(400, 'INVALID_ARGUMENT', f'updateMask {query.get("updateMask")}')
    split = {k: int(v) for k, v in body['trafficSplit'].items()}
    ids = {d['id'] for d in endpoint['deployedModels']}
    if set(split) - ids or sum(split.values()) != 100:
      return _error(400, 'INVALID_ARGUMENT', f'traffic split {split} is invalid')
    endpoint['trafficSplit'] = split
    return 200, endpoint
  op = f'{name}/operations/{next(fake._seq)}'
  if verb == ':deployModel':
    if fake.deploy_503:
      fake.deploy_503 -= 1
      return _error(503, 'UNAVAILABLE', 'the service is busy')
    deployed = dict(body['deployedModel'])
    if fake._resolve(deployed['model']) is None:
      return _error(404, 'NOT_FOUND', f'model {deployed["model"]} not found')
    deployed.setdefault('id', str(next(fake._seq) + 1000))
    deployed['modelVersionId'] = deployed['model'].partition('@')[2]
    split = {(deployed['id'] if k == '0' else k): int(v)
             for k, v in body['trafficSplit'].items()}
    if sum(split.values()) != 100:
      return _error(400, 'INVALID_ARGUMENT', f'traffic split {split} does not sum to 100')
    failure = fake.fail_deploy
    fake.fail_deploy = ''

    def done():
      if failure:  # a deploy that fails leaves the endpoint as it was
        fake.ops[op] = {'name': op, 'done': True, 'error': {'code': 13, 'message': failure}}
        return
      endpoint['deployedModels'].append(deployed)
      endpoint['trafficSplit'] = split
      fake.ops[op] = {'name': op, 'done': True, 'response': {
          '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.DeployModelResponse',
          'deployedModel': deployed}}
  else:
    mid = body['deployedModelId']
    last = [d['id'] for d in endpoint['deployedModels']] == [mid]
    if endpoint['trafficSplit'].get(mid) and not last:  # the last one may take it along
      return _error(400, 'FAILED_PRECONDITION', f'{mid} still takes traffic')

    def done():
      endpoint['deployedModels'] = [d for d in endpoint['deployedModels'] if d['id'] != mid]
      endpoint['trafficSplit'] = {k: v for k, v in endpoint['trafficSplit'].items()
                                  if k != mid}
      fake.ops[op] = {'name': op, 'done': True, 'response': {
          '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse'}}
  fake._pending[op] = [fake.deploy_polls, done]
  return 200, {'name': op, 'done': False}


FakeVertex.route_endpoints = _endpoint_routes


def _predict(fake, endpoint, body):
  """Routes by the traffic split to the deployed model's serving container."""
  import random
  import urllib.error
  import urllib.request

  split = {k: v for k, v in endpoint['trafficSplit'].items() if v}
  if not split:
    return _error(400, 'FAILED_PRECONDITION', f'{endpoint["name"]} has no deployed model '
                                              f'that takes traffic')
  (mid,) = random.choices(list(split), weights=list(split.values()))
  url = fake.serving_backends.get(mid)
  if url is None:
    return _error(500, 'INTERNAL', f'no serving container for deployed model {mid}')
  request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                   headers={'Content-Type': 'application/json'})
  try:
    with urllib.request.urlopen(request, timeout=60) as r:
      answer = json.loads(r.read())
  except urllib.error.HTTPError as e:
    return _error(e.code, 'INVALID_ARGUMENT' if e.code == 400 else 'INTERNAL',
                  e.read().decode(errors='replace')[:500])
  return 200, dict(answer, deployedModelId=mid)


def write_compiled_pipeline(root, schema='2.0.0'):
  """A compiled pipeline folder shaped like `make compile`'s, with tiny specs."""
  from pathlib import Path

  root = Path(root)
  for variant, extra in (('first_run', []), ('with_baseline', ['baseline_model_uri'])):
    params = {p: {'type': 'STRING'} for p in ['span_uri', 'summary_uri', 'run_id',
                                             'train_args', 'push_destination'] + extra}
    job = {'displayName': 'chicago-taxi-tipper', 'labels': {'tfx_version': '1-16-0'},
           'pipelineSpec': {'schemaVersion': schema, 'pipelineInfo': {'name': 'tipper'},
                            # TFX compiles with the cache off: cachingOptions {} per task;
                            # the steps after validation sit in a condition's sub-DAG
                            'root': {'inputDefinitions': {'parameters': params}, 'dag': {
                                'tasks': {'CsvExampleGen': {'cachingOptions': {}}}}},
                            'components': {'comp-condition-1': {'dag': {'tasks': {
                                'Trainer': {'cachingOptions': {}}}}},
                                           'comp-Trainer': {'executorLabel': 'exec-Trainer'}},
                            'deploymentSpec': {}},
           'runtimeConfig': {'gcsOutputDirectory': 'gs://set-at-submission/pipeline-root'}}
    (root / variant).mkdir(parents=True)
    (root / variant / 'pipeline.json').write_text(json.dumps(job))
  return root


def summary_writer(template_path):
  """on_succeeded: what the pipeline's last step would leave in the bucket: a candidate
  model under the run's pipeline root and the run summary at summary_uri (GCS)."""
  from pathlib import Path

  def write(job):
    from google.cloud import storage

    params = {k: v['stringValue'] for k, v in job['runtimeConfig']['parameters'].items()}
    root = job['runtimeConfig']['gcsOutputDirectory']
    client = storage.Client()

    def put(uri, data):
      bucket, _, name = uri[len('gs://'):].partition('/')
      client.bucket(bucket).blob(name).upload_from_string(data)

    model = f'{root}/candidate/1'
    put(f'{model}/Format-Serving/saved_model.pb', b'fake model')
    summary = json.loads(Path(template_path).read_text())
    summary.update(run_id=params['run_id'], candidate_model_uri=model,
                   baseline_model_uri=params.get('baseline_model_uri') or None)
    summary['span']['uri'] = params['span_uri']
    summary['pipeline']['variant'] = ('with_baseline' if params.get('baseline_model_uri')
                                      else 'first_run')
    if not params.get('baseline_model_uri'):
      summary['metrics']['baseline'] = None
    put(params['summary_uri'], json.dumps(summary))
  return write

"""A small Kubeflow Pipelines v2beta1 API server on loopback (kfp-server-api's JSON).

The real kfp.Client talks to it: healthz, experiments (list by name, create), runs
(create, get, list by display name, terminate). It records requests; runs move through
a scripted list of states, one per read; `fail_next` answers the next run reads with
error codes.
"""

from __future__ import annotations

import itertools
import json
import re

from fakes.http import RecordingJsonServer


def _error(code, message):
  return code, {'error': message, 'code': {404: 5, 503: 14, 400: 3, 403: 7}.get(code, 2),
                'message': message, 'details': []}


class FakeKfp(RecordingJsonServer):
  route_under_lock = False  # a hung request must not hold the others
  def __init__(self):
    super().__init__()
    self.host = self.endpoint  # kfp.Client(host=...)
    self.experiments = {}
    self.runs = {}
    self.scripts = {}
    self.default_script = ['RUNNING', 'SUCCEEDED']
    self.fail_next = []
    self.hang_seconds = 0.0      # each request waits this long first (a hung server)
    # the failed tasks of a run that reaches FAILED (default: the Trainer's own error)
    self.failed_tasks = [{'display_name': 'trainer', 'error': {
        'code': 2, 'message': 'ValueError: NaN loss during training'}}]
    self._ids = itertools.count(1)

  def creates(self):
    return [e for e in self.log if e[0] == 'POST' and e[1] == '/apis/v2beta1/runs']

  def _advance(self, run):
    script = self.scripts.get(run['run_id']) or []
    if script:
      run['state'] = script.pop(0)
      if run['state'] == 'FAILED':
        run['error'] = {'code': 2, 'message': 'Trainer: exit status 1'}
        run['run_details'] = {'task_details': [
            dict(t, state='FAILED') for t in self.failed_tasks] + [
            {'display_name': 'statisticsgen', 'state': 'SUCCEEDED'}]}
    return run

  def route(self, method, path, query, body):
    if self.hang_seconds:
      import time
      time.sleep(self.hang_seconds)
    if path == '/apis/v2beta1/healthz':
      return 200, {'multi_user': False}
    if path == '/apis/v2beta1/experiments':
      if method == 'GET':
        pred = json.loads(query['filter'][0])['predicates'][0]
        name = pred.get('stringValue', pred.get('string_value'))
        found = [e for e in self.experiments.values() if e['display_name'] == name]
        return 200, ({'experiments': found, 'total_size': len(found)} if found else {})
      eid = f'exp-{next(self._ids)}'
      self.experiments[eid] = dict(body, experiment_id=eid, storage_state='AVAILABLE',
                                   created_at='2026-01-01T00:00:00Z')
      return 200, self.experiments[eid]
    if path == '/apis/v2beta1/runs' and method == 'POST':
      rid = f'run-{next(self._ids)}'
      self.runs[rid] = dict(body, run_id=rid, state='PENDING', storage_state='AVAILABLE',
                            created_at='2026-01-01T00:00:00Z')
      self.scripts[rid] = list(self.default_script)
      return 200, self.runs[rid]
    if path == '/apis/v2beta1/runs' and method == 'GET':
      if self.fail_next:
        return _error(self.fail_next.pop(0), 'upstream unavailable')
      pred = json.loads(query['filter'][0])['predicates'][0]
      name = pred.get('stringValue', pred.get('string_value'))
      found = [self._advance(r) for r in self.runs.values()
               if r['display_name'] == name
               and r.get('experiment_id') == query.get('experiment_id', [None])[0]]
      return 200, ({'runs': found, 'total_size': len(found)} if found else {})
    m = re.fullmatch(r'/apis/v2beta1/runs/([^/:]+)(:terminate)?', path)
    if m:
      run = self.runs.get(m.group(1))
      if run is None:
        return _error(404, f'run {m.group(1)} not found')
      if m.group(2):
        run['state'] = 'CANCELING'
        self.scripts[run['run_id']] = ['CANCELED']
        return 200, {}
      return 200, self._advance(run)
    return _error(404, f'no route {method} {path}')

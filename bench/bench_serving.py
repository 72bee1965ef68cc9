"""The model server against the model's own serving function in-process, same rows, one run.

    make bench-serving [REQUESTS=400] [MODEL=<model folder with Format-Serving/>]

The model defaults to the local registry's champion (make run), else the pipeline suite's
first run. For each concurrency (1, 8, 32 clients; one instance per request, keep-alive
HTTP connections) it sends REQUESTS requests to `python -m ct_serving.server` (its own
process, prediction log on) and makes the same number of calls to the SavedModel's
serving_default in this process (the limit for this model on this machine). Prints QPS and
p50/p99 latency of both, then `serving_overhead_vs_inprocess_p50=<server p50 / in-process
p50 at concurrency 1>`.
"""

import argparse
import concurrent.futures
import csv
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'serving'))
sys.path.insert(0, str(REPO / 'tests' / 'serving'))
CONCURRENCY = (1, 8, 32)


def default_model() -> Path:
  registry = REPO / '.local' / 'registry' / 'chicago-taxi-tipper'
  alias = registry / 'aliases' / 'champion.json'
  if alias.is_file():
    return registry / 'versions' / str(json.loads(alias.read_text())['version']) / 'model'
  summary = REPO / 'build' / 'test-output' / 'pipeline-runs' / 'first' / 'run_summary.json'
  if summary.is_file():
    return Path(json.loads(summary.read_text())['candidate_model_uri'])
  raise SystemExit('bench-serving: no model: run `make run` (or give MODEL=...)')


def instances_for(spec, n: int) -> list[dict]:
  casts = {'float': float, 'int': lambda v: int(float(v)), 'string': str}
  with open(REPO / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv', newline='') as f:
    rows = [r for _, r in zip(range(n), csv.DictReader(f))]
  return [{x.name: (casts[x.kind](r[x.name]) if r.get(x.name) not in ('', None) else None)
           for x in spec.features} for r in rows]


def run_level(call, clients: int, requests: int) -> dict:
  """`requests` calls spread over `clients` threads; per-call latency and overall QPS."""
  latencies, lock = [], threading.Lock()
  per_client = [requests // clients + (i < requests % clients) for i in range(clients)]

  def client(count, index):
    state = {}
    for j in range(count):
      started = time.perf_counter()
      call(state, index * 100000 + j)
      with lock:
        latencies.append((time.perf_counter() - started) * 1000)

  started = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(clients) as pool:
    list(pool.map(client, per_client, range(clients)))
  wall = time.perf_counter() - started
  latencies.sort()
  return {'qps': requests / wall, 'p50': statistics.median(latencies),
          'p99': latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--model', default='')
  p.add_argument('--requests', type=int, default=400)
  args = p.parse_args(argv)
  import tensorflow as tf
  from conftest import Server

  from ct_serving import endpoint
  from ct_serving.model import LoadedModel
  from ct_serving.spec import to_examples

  model_dir = Path(args.model) if args.model else default_model()
  work = Path(tempfile.mkdtemp(prefix='bench-serving-'))
  endpoint_file = work / 'endpoint.json'
  deployed = endpoint.DeployedModel('v1', '1', str(model_dir))
  endpoint.write(endpoint_file, endpoint.EndpointState('chicago-taxi-tipper', (deployed,),
                                                       {'v1': 100}))
  loaded = LoadedModel.load(deployed)
  rows = instances_for(loaded.spec, 500)
  bodies = [json.dumps({'instances': [r]}).encode() for r in rows]
  examples = [to_examples([r], loaded.spec) for r in rows]
  print(f'model {model_dir}; {args.requests} requests per level, one instance each')

  def in_process(state, i):
    loaded.signature(examples=tf.constant(examples[i % len(examples)]))

  def over_http(server):
    def call(state, i):
      conn = state.get('conn') or http.client.HTTPConnection('127.0.0.1', server.port)
      state['conn'] = conn
      conn.request('POST', '/v1/models/chicago-taxi-tipper:predict', bodies[i % len(bodies)],
                   {'Content-Type': 'application/json'})
      response = conn.getresponse()
      response.read()
      if response.status != 200:
        raise RuntimeError(f'HTTP {response.status}')
    return call

  results = {}
  # the server as it runs (every request logged) and the same with the log off (what the
  # prediction log costs a request), both up at once and run in turn, ABBA, each figure
  # the mean of its two runs (so neither side gets the quieter minute)
  servers = {'server': Server(endpoint_file, work / 'log-on'),
             'log off': Server(endpoint_file, work / 'log-off', '--log-sample-rate', '0')}
  try:
    for clients in CONCURRENCY:
      run_level(in_process, 1, 20)  # warm (first calls trace)
      results[('in-process', clients)] = run_level(in_process, clients, args.requests)
      runs = {name: [] for name in servers}
      for name in ('server', 'log off', 'log off', 'server'):
        run_level(over_http(servers[name]), 1, 20)
        runs[name].append(run_level(over_http(servers[name]), clients, args.requests))
      for name, pair in runs.items():
        results[(name, clients)] = {k: statistics.mean(r[k] for r in pair) for k in pair[0]}
  finally:
    for server in servers.values():
      server.stop()
  print('\n| clients | server QPS | server p50 ms | server p99 ms | in-process QPS | '
        'in-process p50 ms | in-process p99 ms | log off: QPS | p50 ms | p99 ms |\n'
        '|---|---|---|---|---|---|---|---|---|---|')
  for clients in CONCURRENCY:
    s, i, o = (results[(k, clients)] for k in ('server', 'in-process', 'log off'))
    print(f'| {clients} | {s["qps"]:.0f} | {s["p50"]:.2f} | {s["p99"]:.2f} | {i["qps"]:.0f} | '
          f'{i["p50"]:.2f} | {i["p99"]:.2f} | {o["qps"]:.0f} | {o["p50"]:.2f} | '
          f'{o["p99"]:.2f} |')
  ratio = results[('server', 1)]['p50'] / results[('in-process', 1)]['p50']
  print(f'\nserving_overhead_vs_inprocess_p50={ratio:.2f}')
  print('prediction_log_cost_p50=' + ' '.join(
      f'{c}:{results[("server", c)]["p50"] / results[("log off", c)]["p50"]:.2f}'
      for c in CONCURRENCY) + ' (logged p50 / unlogged p50, per client count)')
  return 0


if __name__ == '__main__':
  sys.exit(main())

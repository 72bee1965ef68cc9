"""The traffic replayer: sends a window of the warehouse's trips to the prediction service,
as live callers would, each with its trip's key (so labels can be joined later).

    python -m ct_platform.replay --start 2016-01-01 --days 30 --rate 50 --seconds 60 \
        [--url http://127.0.0.1:8501] [--batch 1] [--clients 4] [--while-pid PID]

With --while-pid (`make rollout`), it waits for the endpoint to come up, then replays the
window again and again until that process (the rollout) ends.

The features sent are the ones the served model asks for (its metadata route), read
from the source table by the warehouse (DuckDB locally); the example key is the table's
`unique_key`. Rows go round-robin at `rate` requests per second from `clients` threads
until `seconds` pass or the rows run out; a line of progress every 5 s; at the end a
summary (sent, answered, rejected, failed, requests per deployed model).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sys
import threading
import time
import urllib.error
import urllib.request

KEY = 'unique_key'


def served_features(url: str, model: str) -> list[str]:
  with urllib.request.urlopen(f'{url}/v1/models/{model}/metadata', timeout=10) as r:
    meta = json.loads(r.read())
  names = set()
  for spec in meta['inputs'].values():  # per deployed model: {feature: {type, nullable}}
    names |= set(spec)
  return sorted(names)


def window_rows(settings, features: list[str], start: dt.date, days: int,
                limit: int | None = None) -> list[dict]:
  """The window's trips as instances: the features the model is served, derived by the
  training window's own query (so they mean what they meant in training), and the key."""
  import sqlglot

  from ct_platform.backends import warehouse_for
  from ct_platform.window import TrainingWindow

  warehouse = warehouse_for(settings)
  window = TrainingWindow(start, start + dt.timedelta(days=days), 'replay')
  query = (sqlglot.parse_one(warehouse.window_sql(), read='bigquery').select(KEY)
           .order_by('trip_start_timestamp'))
  if limit:
    query = query.limit(int(limit))
  text = query.sql(dialect='bigquery')
  names = list(warehouse.column_types(text, window))
  missing = sorted(set(features) - set(names))
  if missing:
    raise ValueError(f'the served model asks for {missing}, which the training window '
                     f'query does not produce')
  keep = features + [KEY]
  return [{k: v for k, v in zip(names, row) if k in keep}
          for row in warehouse.query_rows(text, window)]


def _json_value(value):
  if isinstance(value, (dt.date, dt.datetime)):
    return value.isoformat()
  return value


def replay(url: str, model: str, rows: list[dict], rate: float, seconds: float,
           batch: int = 1, clients: int = 4, progress=print) -> dict:
  """Sends rows in requests of `batch` instances; returns the counts."""
  path = f'{url}/v1/models/{model}:predict'
  requests = [rows[i:i + batch] for i in range(0, len(rows), batch)]
  counts = collections.Counter()
  by_model = collections.Counter()
  lock = threading.Lock()
  started = time.monotonic()
  next_index = [0]

  def worker():
    while True:
      with lock:
        i = next_index[0]
        next_index[0] += 1
      if i >= len(requests) or time.monotonic() - started >= seconds:
        return
      due = started + i / rate
      if due > time.monotonic():
        time.sleep(due - time.monotonic())
      body = json.dumps({'instances': [{k: _json_value(v) for k, v in r.items()}
                                       for r in requests[i]]}).encode()
      req = urllib.request.Request(path, data=body,
                                   headers={'Content-Type': 'application/json'})
      try:
        with urllib.request.urlopen(req, timeout=30) as r:
          answer = json.loads(r.read())
        with lock:
          counts['answered'] += 1
          by_model[answer.get('deployed_model_id')] += 1
      except urllib.error.HTTPError as e:
        with lock:
          counts['rejected' if e.code < 500 else 'failed'] += 1
      except OSError:
        with lock:
          counts['failed'] += 1

  threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
  for t in threads:
    t.start()
  last = time.monotonic()
  while any(t.is_alive() for t in threads):
    time.sleep(0.2)
    if time.monotonic() - last >= 5:
      last = time.monotonic()
      with lock:
        progress(f'replay: {sum(counts.values())} of {len(requests)} requests sent '
                 f'({dict(counts)}; by model {dict(by_model)})')
  elapsed = time.monotonic() - started
  return {'requests': len(requests), 'sent': sum(counts.values()), **counts,
          'by_deployed_model': dict(by_model), 'seconds': round(elapsed, 2),
          'rate': round(sum(counts.values()) / elapsed, 2) if elapsed else None}


def main(argv=None) -> int:
  from ct_platform.config import load_settings

  p = argparse.ArgumentParser(prog='python -m ct_platform.replay', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--start', required=True, type=dt.date.fromisoformat,
                 help='first day of the window (YYYY-MM-DD)')
  p.add_argument('--days', type=int, default=30)
  p.add_argument('--rate', type=float, default=50.0, help='requests per second')
  p.add_argument('--seconds', type=float, default=60.0)
  p.add_argument('--batch', type=int, default=1, help='instances per request')
  p.add_argument('--clients', type=int, default=4)
  p.add_argument('--limit', type=int, default=None, help='at most this many rows')
  p.add_argument('--url', default='', help='default: http://127.0.0.1:<serve_port>')
  p.add_argument('--while-pid', type=int, default=None,
                 help='wait for the endpoint, then replay until this process ends')
  args = p.parse_args(argv)
  settings = load_settings(use_variable=False)
  url = args.url or f'http://127.0.0.1:{settings.serve_port}'
  if args.while_pid:
    return _while_alive(args, settings, url)
  features = served_features(url, settings.model_name)
  rows = window_rows(settings, features, args.start, args.days, args.limit)
  if not rows:
    raise SystemExit(f'replay: no trips in {args.start} + {args.days} days')
  print(f'replay: {len(rows)} trips from {args.start} ({args.days} days) to {url}, '
        f'{args.rate:g} requests/s for at most {args.seconds:g} s')
  result = replay(url, settings.model_name, rows, args.rate, args.seconds, args.batch,
                  args.clients)
  print(json.dumps(result))
  return 0 if result.get('answered') else 1


def _alive(pid: int) -> bool:
  import os
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  try:  # a zombie child of ours is not alive
    return os.waitpid(pid, os.WNOHANG) == (0, 0)
  except ChildProcessError:
    return True


def _while_alive(args, settings, url) -> int:
  rows, total = None, collections.Counter()
  while _alive(args.while_pid):
    if rows is None:
      try:
        rows = window_rows(settings, served_features(url, settings.model_name), args.start,
                           args.days, args.limit)
        print(f'replay: {len(rows)} trips from {args.start} to {url} at {args.rate:g}/s '
              f'while process {args.while_pid} runs')
      except OSError:  # the rollout has not started the server yet
        time.sleep(1)
        continue
    result = replay(url, settings.model_name, rows, args.rate, 10, args.batch, args.clients,
                    progress=lambda _: None)
    total.update(result['by_deployed_model'])
    print(f'replay: {sum(total.values())} answered so far, by model {dict(total)}', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())

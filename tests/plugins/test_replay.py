"""The traffic replayer: a window's trips from the warehouse (the training query's features,
plus the key) sent to a prediction endpoint at a rate; counted by answer."""

import datetime as dt
import http.server
import json
import threading

import pytest

from ct_platform import replay
from ct_platform.config import load_settings


@pytest.fixture
def settings(duckdb_warehouse, tmp_path):
  return load_settings({'local_dir': str(tmp_path),
                        'warehouse_path': str(duckdb_warehouse.path)}, use_variable=False)


def test_window_rows_carry_the_served_features_derived_as_in_training_and_the_key(settings):
  rows = replay.window_rows(settings, ['fare', 'payment_type', 'trip_start_hour'],
                            dt.date(2016, 5, 14), 3)
  assert [r['unique_key'] for r in rows] == ['b', 'a']  # in time order; c is on the end bound
  assert rows[1] == {'fare': 12.45, 'payment_type': 'Credit Card', 'trip_start_hour': 19,
                     'unique_key': 'a'}
  with pytest.raises(ValueError, match=r"asks for \['tip_ratio'\], which the training"):
    replay.window_rows(settings, ['fare', 'tip_ratio'], dt.date(2016, 5, 14), 3)


class StandInEndpoint(http.server.BaseHTTPRequestHandler):
  """Answers like the model server: v1/v2 alternately, 400 for a fare over 100."""
  seen: list = []

  def do_POST(self):  # noqa: N802
    body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
    StandInEndpoint.seen.append(body)
    bad = any((i.get('fare') or 0) > 100 for i in body['instances'])
    answer = ({'error': 'instances[0].fare: too big'} if bad else
              {'predictions': [[0.5]] * len(body['instances']),
               'deployed_model_id': f'v{1 + len(StandInEndpoint.seen) % 2}'})
    data = json.dumps(answer).encode()
    self.send_response(400 if bad else 200)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, *args):
    pass


def test_replay_sends_every_row_with_its_key_and_counts_the_answers():
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), StandInEndpoint)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  StandInEndpoint.seen = []
  rows = [{'fare': float(i), 'unique_key': f'k{i}'} for i in range(40)] + [
      {'fare': 500.0, 'unique_key': 'huge'}]
  try:
    result = replay.replay(f'http://127.0.0.1:{server.server_port}', 'm', rows, rate=400,
                           seconds=30, batch=2, clients=3, progress=lambda _: None)
  finally:
    server.shutdown()
  assert result['requests'] == result['sent'] == 21
  assert result['answered'] == 20 and result['rejected'] == 1
  assert sum(result['by_deployed_model'].values()) == 20
  keys = sorted(i['unique_key'] for body in StandInEndpoint.seen for i in body['instances'])
  assert keys == sorted(r['unique_key'] for r in rows)


def test_replay_stops_when_its_time_is_up():
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), StandInEndpoint)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  rows = [{'fare': 1.0, 'unique_key': str(i)} for i in range(10_000)]
  try:
    result = replay.replay(f'http://127.0.0.1:{server.server_port}', 'm', rows, rate=50,
                           seconds=1, clients=2, progress=lambda _: None)
  finally:
    server.shutdown()
  assert 0 < result['sent'] < 200  # about 50 in its one second, never the 10,000

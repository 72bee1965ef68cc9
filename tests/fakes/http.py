"""What every fake API server here shares: a threaded HTTP server on a free loopback port
that decodes JSON requests, records them as (method, path, query, body) and answers
with the (status, JSON) its `route` returns. Also the GCS emulator, started the same way.
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class RecordingJsonServer:
  """Subclasses define route(method, path, query, body) -> (status, dict)."""

  content_type = 'application/json; charset=UTF-8'
  route_under_lock = True  # False: route may block (long polls) without holding others

  def __init__(self):
    self.log = []  # (method, path, query, body); paths unquoted ('@' arrives as %40)
    self._lock = threading.Lock()
    fake = self

    class Handler(BaseHTTPRequestHandler):
      protocol_version = 'HTTP/1.1'

      def _do(self):
        n = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(n) if n else b''
        body = json.loads(raw) if raw else None
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        with fake._lock:
          fake.log.append((self.command, path, query, body))
          if fake.route_under_lock:
            status, response = fake.route(self.command, path, query, body)
        if not fake.route_under_lock:
          status, response = fake.route(self.command, path, query, body)
        data = json.dumps(response).encode()
        self.send_response(status)
        self.send_header('Content-Type', fake.content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _do

      def log_message(self, *args):
        pass

    self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.port = self.server.server_address[1]
    self.endpoint = f'http://127.0.0.1:{self.port}'
    threading.Thread(target=self.server.serve_forever, daemon=True).start()

  def route(self, method, path, query, body):
    raise NotImplementedError

  def close(self):
    self.server.shutdown()
    self.server.server_close()


def free_port() -> int:
  """A loopback port nothing listens on now."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@contextmanager
def gcs_emulator():
  """gcp-storage-emulator serving the GCS JSON API on a free loopback port: yields its URL
  (google-cloud-storage finds it through STORAGE_EMULATOR_HOST)."""
  from gcp_storage_emulator.server import create_server

  port = free_port()
  server = create_server('127.0.0.1', port, in_memory=True)
  server.start()
  try:
    yield f'http://127.0.0.1:{port}'
  finally:
    server.stop()


def create_test_bucket(test_name: str) -> str:
  """A bucket named after the test (one per test, valid GCS name) on the emulator that
  STORAGE_EMULATOR_HOST points at; returns its name."""
  from google.cloud import storage as gcs

  name = f'ct-{test_name[:40].lower().replace("_", "-")}x'
  name = ''.join(c for c in name if c.isalnum() or c == '-').replace('--', '-')
  gcs.Client().create_bucket(name)
  return name

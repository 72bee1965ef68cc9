"""The local model server, as the rollout sees it: up or not, and started when it is not.

`make serve` starts the same process in the foreground. The rollout starts it detached (its
own session, so a task that ends does not take it along), with its output in
<serving_dir>/server.log and its pid in server.pid, and waits until it answers. The
server reads the endpoint file (what is deployed, the split) and picks up each change
by itself: the rollout only writes that file.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from ct_platform.config import REPO_ROOT, Settings


def serving_env() -> dict:
  """The environment a serving-env process (the server, ct_serving.checks) runs with."""
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(REPO_ROOT / 'serving'))


def base_url(settings: Settings) -> str:
  return f'http://127.0.0.1:{settings.serve_port}'


def status(settings: Settings) -> dict | None:
  """The model's status route (its deployed models and split), or None when down."""
  try:
    with urllib.request.urlopen(f'{base_url(settings)}/v1/models/{settings.model_name}',
                                timeout=5) as r:
      return json.loads(r.read()) if r.status == 200 else None
  except (OSError, ValueError):
    return None


def served_split(settings: Settings) -> dict | None:
  """The traffic split the running server applies now (its metadata route)."""
  try:
    with urllib.request.urlopen(
        f'{base_url(settings)}/v1/models/{settings.model_name}/metadata', timeout=5) as r:
      return json.loads(r.read())['endpoint']['traffic_split']
  except (OSError, ValueError, KeyError):
    return None


def wait_for_split(settings: Settings, split: dict, timeout: float = 60) -> None:
  """Until the server applies `split` (it re-reads the endpoint file twice a second)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if served_split(settings) == split:
      return
    time.sleep(0.25)
  raise RuntimeError(f'the model server applies {served_split(settings)}, not {split}, '
                     f'{timeout} s after the endpoint file changed')


def ensure_running(settings: Settings, timeout: float = 300) -> dict:
  """Starts the server on settings.serve_port unless one answers there; returns
  {'url', 'started', 'pid'}. Raises RuntimeError with the server's last output if it
  exits or does not answer within timeout."""
  if status(settings) is not None:
    return {'url': base_url(settings), 'started': False, 'pid': None}
  root = settings.serving_root
  root.mkdir(parents=True, exist_ok=True)
  output = root / 'server.log'
  with open(output, 'ab') as out:
    proc = subprocess.Popen(
        [settings.serving_python_path, '-m', 'ct_serving.server', '--endpoint-file',
         str(settings.endpoint_file), '--log-dir', str(settings.prediction_log_dir),
         '--port', str(settings.serve_port), '--model-name', settings.model_name],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=serving_env(),
        start_new_session=True)
  (root / 'server.pid').write_text(str(proc.pid))
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(f'the model server exited with {proc.returncode}:\n'
                         f'{output.read_text(errors="replace")[-3000:]}')
    if status(settings) is not None:
      return {'url': base_url(settings), 'started': True, 'pid': proc.pid}
    time.sleep(0.5)
  raise RuntimeError(f'the model server did not answer on {base_url(settings)} within '
                     f'{timeout} s:\n{output.read_text(errors="replace")[-3000:]}')


def stop(settings: Settings, timeout: float = 60) -> bool:
  """Stops a server this module started (SIGTERM: it drains its log); False if none."""
  import signal

  pid_file = settings.serving_root / 'server.pid'
  if not pid_file.exists():
    return False
  pid = int(pid_file.read_text())
  try:
    os.kill(pid, signal.SIGTERM)
  except ProcessLookupError:
    pid_file.unlink()
    return False
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      os.kill(pid, 0)
    except ProcessLookupError:
      break
    try:  # our own child when started from this process (tests): reap it
      os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
      pass
    time.sleep(0.2)
  pid_file.unlink()
  return True

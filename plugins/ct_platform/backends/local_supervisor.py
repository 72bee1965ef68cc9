"""Supervises one local pipeline run; started detached by LocalPipelineRunner.submit.

    python local_supervisor.py <run_dir>

Standard library only (it runs with the pipeline env's interpreter). Everything goes
through files in <run_dir>, never process ids, so the worker that submitted, the
triggerer that waits and this process may live in different containers sharing a
mount:
    request.json   what to run (command, env), written by submit
    state.json     PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED (atomic rewrite)
    heartbeat      touched every few seconds while the supervisor lives
    cancel         a cancel request: the supervisor stops the pipeline and records it
    runner.log     the pipeline's output
It keeps running if the Airflow worker dies.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import time

HEARTBEAT_SECONDS = 2.0
TERMINATE_GRACE_SECONDS = 20.0


def now():
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def write_state(run_dir, **state):
  path = os.path.join(run_dir, 'state.json')
  tmp = path + '.tmp'
  previous = {}
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
  previous.update(state, updated_at=now())
  with open(tmp, 'w') as f:
    json.dump(previous, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def beat(run_dir):
  path = os.path.join(run_dir, 'heartbeat')
  with open(path, 'w') as f:
    f.write(now())
  os.utime(path)


def tail(path, lines=40):
  try:
    with open(path, errors='replace') as f:
      return ''.join(f.readlines()[-lines:])
  except OSError:
    return ''


def stop(proc):
  """SIGTERM the pipeline's process group, then SIGKILL after a grace period."""
  try:
    os.killpg(proc.pid, signal.SIGTERM)
  except ProcessLookupError:
    return
  deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
  while proc.poll() is None and time.monotonic() < deadline:
    time.sleep(0.2)
  if proc.poll() is None:
    try:
      os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
    proc.wait()


def main(run_dir):
  with open(os.path.join(run_dir, 'request.json')) as f:
    request = json.load(f)
  log_path = os.path.join(run_dir, 'runner.log')
  cancel_path = os.path.join(run_dir, 'cancel')
  beat(run_dir)
  if os.path.exists(cancel_path):
    write_state(run_dir, state='CANCELLED', message='cancelled before it started')
    return 0
  env = dict(os.environ, **request.get('env', {}))
  with open(log_path, 'ab') as log:
    proc = subprocess.Popen(request['command'], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=run_dir,
                            start_new_session=True)
  write_state(run_dir, state='RUNNING', started_at=now(), supervisor_host=os.uname()[1])
  # The supervisor goes when its pipeline goes: a SIGTERM to it stops the pipeline.
  signal.signal(signal.SIGTERM, lambda *_: (stop(proc), write_state(
      run_dir, state='CANCELLED', message='supervisor terminated'), sys.exit(143)))
  last_beat = 0.0
  while proc.poll() is None:
    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
      beat(run_dir)
      last_beat = time.monotonic()
    if os.path.exists(cancel_path):
      with open(cancel_path) as f:
        reason = f.read().strip() or 'cancel requested'
      stop(proc)
      write_state(run_dir, state='CANCELLED', message=reason, finished_at=now())
      return 0
    time.sleep(0.2)
  rc = proc.returncode
  beat(run_dir)
  if rc == 0:
    write_state(run_dir, state='SUCCEEDED', exit_code=0, finished_at=now(),
                message='pipeline finished')
  else:
    write_state(run_dir, state='FAILED', exit_code=rc, finished_at=now(),
                message=f'pipeline exited with code {rc}', log_tail=tail(log_path))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1]))

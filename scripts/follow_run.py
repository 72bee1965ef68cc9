"""Shows `airflow dags test` progress for `make run`: one line per task start/end
(the full log goes to a file) until the run finishes."""

import os
import re
import sys
import time

EVENT = re.compile(r'\[DAG TEST\] (start|end) task task_id=([a-z_]+)')


def running(pid: int) -> bool:
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().split(') ')[1][0] != 'Z'
  except (FileNotFoundError, IndexError):
    return False


def main(log_path: str, pid: int) -> int:
  started, offset = time.monotonic(), 0
  while True:
    alive = running(pid)
    if os.path.exists(log_path):
      with open(log_path, errors='replace') as f:
        f.seek(offset)
        chunk = f.read()
        offset = f.tell()
      for line in chunk.splitlines():
        m = EVENT.search(line)
        if m:
          note = '  (the TFX pipeline runs now; it takes a few minutes)' if (
              m.group(1) == 'start' and m.group(2) == 'run_pipeline') else ''
          print(f'  [{time.monotonic() - started:5.0f} s] {m.group(1):<5} {m.group(2)}{note}',
                flush=True)
        if 'DagRun Finished' in line:
          return 0
    if not alive:
      return 0
    time.sleep(1)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1], int(sys.argv[2])))

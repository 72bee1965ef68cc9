"""Small file helpers the backends share (local files; gs:// goes through storage.py).

The local supervisor (backends/local_supervisor.py) keeps its own copies: it runs as a
script in the pipeline env, standard library only, where ct_platform is not importable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes, create_only: bool = False) -> str:
  """Writes via a temporary file and a rename: readers see the old file or the new one,
  never half of it (also after a crash). create_only links instead of renaming, so an
  existing file is never replaced (FileExistsError), also by a concurrent writer."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    if create_only:
      try:
        os.link(tmp, path)
      except FileExistsError:
        raise FileExistsError(f'{path} exists and must not be replaced') from None
    else:
      os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)
  dir_fd = os.open(path.parent, os.O_RDONLY)  # the rename itself survives a power cut
  try:
    os.fsync(dir_fd)
  finally:
    os.close(dir_fd)
  return str(path)


def atomic_write_text(path, text: str, create_only: bool = False) -> str:
  return atomic_write_bytes(path, text.encode(), create_only=create_only)


def atomic_write_json(path, data, **dumps_kwargs) -> str:
  return atomic_write_text(path, json.dumps(data, **dumps_kwargs))


def tail(path, lines: int = 40) -> str:
  """The last lines of a text file; '' if it cannot be read."""
  try:
    with open(path, errors='replace') as f:
      return ''.join(f.readlines()[-lines:])
  except OSError:
    return ''


def split_chain(impersonation_chain) -> list[str] | None:
  """The impersonation_chain setting ('a@x,b@y') as the Google provider's hooks take it."""
  chain = [s.strip() for s in str(impersonation_chain or '').split(',') if s.strip()]
  return chain or None

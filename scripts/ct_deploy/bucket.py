"""The Composer bucket (gs://NAME) or a local folder laid out like it; storage.py does the I/O."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from ct_deploy import DeployError
from ct_platform import storage

Remote = storage.ObjectInfo


def crc32c_b64(data: bytes) -> str:
  import google_crc32c
  return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def same_content(remote: storage.ObjectInfo, data: bytes) -> bool:
  """Whether the bucket's object holds these bytes, by its md5 (crc32c for composite
  objects, which carry no md5)."""
  if remote.size != len(data):
    return False
  if remote.md5:
    return remote.md5 == storage.md5_b64(data)
  if remote.crc32c:
    return remote.crc32c == crc32c_b64(data)
  return False


class Bucket:
  """Objects by their name in the bucket (dags/x.py); the deploy runs outside Airflow, with
  Application Default Credentials (STORAGE_EMULATOR_HOST points them at an emulator)."""

  def __init__(self, root: str, creds=storage.APPLICATION_DEFAULT):
    self.root = root
    self.creds = creds
    self.local = not storage.is_gcs(root)

  def uri(self, name: str = '') -> str:
    if self.local:
      return str(Path(self.root) / name) if name else self.root + os.sep
    return f'{self.root}/{name}'

  def list(self, prefix: str, recursive: bool = True) -> dict[str, Remote]:
    found = storage.list_objects(self.uri(prefix), self.creds, recursive=recursive)
    return {prefix + name: info for name, info in found.items()}

  def read(self, name: str) -> bytes | None:
    return storage.read_bytes(self.uri(name), self.creds)

  def write(self, name: str, data: bytes, create_only: bool = False) -> None:
    try:
      # Our uploads are idempotent (same bytes), so they are retried; create_only makes
      # the bucket itself refuse to replace an object of an immutable folder.
      storage.write_bytes(self.uri(name), data, self.creds, create_only=create_only,
                          idempotent=True)
    except FileExistsError as e:
      raise DeployError(f'{self.uri(name)} appeared while deploying (immutable): {e}') from e

  def delete(self, name: str) -> None:
    storage.delete(self.uri(name), self.creds)
    if self.local:  # drop folders this left empty, up to the bucket root
      root, parent = Path(self.root), Path(self.uri(name)).parent
      while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def open_bucket(target: str, source: Path | None = None) -> Bucket:
  if storage.is_gcs(target):
    name, _, rest = target[len('gs://'):].partition('/')
    if not name or rest.strip('/'):
      raise DeployError(f'--bucket {target!r}: give the Composer bucket itself (gs://NAME), '
                        f'not a folder in it; the layout (dags/, plugins/, data/) is fixed')
    return Bucket(f'gs://{name}')
  root = Path(target).resolve()
  if source is not None and root == Path(source).resolve():
    raise DeployError(f'--bucket {target!r} is the source tree itself')
  return Bucket(str(root))

"""Files in the bucket: a local folder (the embedded default) or gs:// (production).

One small set of operations on URIs, so spans, drift outputs, run summaries and reports
work the same on both. gs:// goes through google-cloud-storage with the credentials of
the Airflow Connection `gcp_conn_id` (the provider's GCSHook; impersonation_chain
honoured); STORAGE_EMULATOR_HOST, google-cloud-storage's own setting, points it at an
emulator. Nothing heavy is imported until a gs:// URI is used.

Credentials are the caller's, given explicitly: every function takes `creds`, anything
with `gcp_conn_id` and `impersonation_chain` (the run's Settings, a runner, a warehouse,
or a Credentials); None means the default connection without impersonation, and
APPLICATION_DEFAULT means no Airflow Connection at all (scripts such as the deploy, which
run with Application Default Credentials). Nothing here reads an Airflow Variable.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import mimetypes
import os
import shutil
from functools import lru_cache
from pathlib import Path

from ct_platform.fsutil import atomic_write_bytes, split_chain


def is_gcs(uri) -> bool:
  return str(uri).startswith('gs://')


def split_gcs(uri: str) -> tuple[str, str]:
  bucket, _, path = str(uri)[len('gs://'):].partition('/')
  if not bucket:
    raise ValueError(f'{uri!r} is not a gs://bucket/path URI')
  return bucket, path


def join(base, *parts) -> str:
  if is_gcs(base):
    return '/'.join([str(base).rstrip('/')] + [str(p).strip('/') for p in parts])
  return str(Path(base).joinpath(*parts))


def parent(uri) -> str:
  if is_gcs(uri):
    return str(uri).rstrip('/').rsplit('/', 1)[0]
  return str(Path(uri).parent)


@lru_cache(maxsize=8)
def _client(gcp_conn_id: str | None, impersonation_chain: str, emulator_host: str | None):
  """A google-cloud-storage Client with the Connection's credentials (ADC when the
  connection is None or Airflow is absent). emulator_host is part of the key because the
  client reads STORAGE_EMULATOR_HOST once, when it is made."""
  try:
    if gcp_conn_id is None:
      raise ImportError
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
  except ImportError:  # outside Airflow (scripts): Application Default Credentials
    from google.cloud import storage
    return storage.Client()
  return GCSHook(gcp_conn_id=gcp_conn_id,
                 impersonation_chain=split_chain(impersonation_chain)).get_conn()


@dataclasses.dataclass(frozen=True)
class Credentials:
  gcp_conn_id: str | None = 'google_cloud_default'
  impersonation_chain: str = ''


DEFAULT_CREDENTIALS = Credentials()
APPLICATION_DEFAULT = Credentials(gcp_conn_id=None)


def gcs_client(creds=None):
  creds = creds or DEFAULT_CREDENTIALS
  conn = creds.gcp_conn_id
  if conn is not None:
    conn = conn or DEFAULT_CREDENTIALS.gcp_conn_id
  return _client(conn, creds.impersonation_chain or '', os.environ.get('STORAGE_EMULATOR_HOST'))


def _blob(uri, creds=None):
  bucket, path = split_gcs(uri)
  return gcs_client(creds).bucket(bucket).blob(path)


def exists(uri, creds=None) -> bool:
  if is_gcs(uri):
    return _blob(uri, creds).exists()
  return Path(uri).exists()


def read_text(uri, creds=None) -> str:
  if is_gcs(uri):
    return _blob(uri, creds).download_as_text()
  return Path(uri).read_text()


def read_bytes(uri, creds=None) -> bytes | None:
  """The whole object, None when there is none."""
  if is_gcs(uri):
    from google.api_core.exceptions import NotFound
    try:
      return _blob(uri, creds).download_as_bytes()
    except NotFound:
      return None
  path = Path(uri)
  return path.read_bytes() if path.is_file() else None


def write_bytes(uri, data: bytes, creds=None, content_type: str | None = None,
                create_only: bool = False, idempotent: bool = False) -> str:
  """Writes a whole object (md5-checked on GCS). create_only refuses to replace one
  (FileExistsError; GCS: if_generation_match=0). idempotent: the caller writes the same
  bytes again on a retry, so transient errors are retried."""
  content_type = content_type or mimetypes.guess_type(str(uri))[0] or 'application/octet-stream'
  if is_gcs(uri):
    from google.api_core.exceptions import PreconditionFailed
    from google.cloud.storage.retry import DEFAULT_RETRY
    kwargs = {'retry': DEFAULT_RETRY} if idempotent else {}
    try:
      _blob(uri, creds).upload_from_string(
          data, content_type=content_type, checksum='md5',
          if_generation_match=0 if create_only else None, **kwargs)
    except PreconditionFailed as e:
      raise FileExistsError(f'{uri} exists and must not be replaced ({e})') from e
    return str(uri)
  return atomic_write_bytes(uri, data, create_only=create_only)  # old file or new one


def write_text(uri, text: str, creds=None, content_type='text/plain',
               create_only: bool = False) -> str:
  return write_bytes(uri, text.encode(), creds, content_type, create_only)


def upload_file(local_path, uri, creds=None, content_type='text/csv') -> str:
  if is_gcs(uri):
    _blob(uri, creds).upload_from_filename(str(local_path), content_type=content_type)
    return str(uri)
  Path(uri).parent.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(local_path, uri)
  return str(uri)


def list_names(uri, creds=None) -> list[str]:
  """Names directly under a folder URI (files and sub-folders), sorted."""
  if is_gcs(uri):
    bucket, path = split_gcs(uri)
    prefix = path.rstrip('/') + '/' if path else ''
    blobs = gcs_client(creds).list_blobs(bucket, prefix=prefix, delimiter='/')
    names = [b.name[len(prefix):] for b in blobs]
    names += [p[len(prefix):].rstrip('/') for p in blobs.prefixes]
    return sorted(n for n in names if n)
  path = Path(uri)
  return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def delete_tree(uri, creds=None) -> None:
  if is_gcs(uri):
    bucket, path = split_gcs(uri)
    for blob in gcs_client(creds).list_blobs(bucket, prefix=path.rstrip('/') + '/'):
      blob.delete()
    return
  shutil.rmtree(uri, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
  """What the bucket says about an object: base64 md5 and crc32c (GCS's own encoding;
  composite objects have no md5), size in bytes."""
  md5: str | None
  crc32c: str | None
  size: int


def md5_b64(data: bytes) -> str:
  return base64.b64encode(hashlib.md5(data).digest()).decode()


def list_objects(uri, creds=None, recursive: bool = True) -> dict[str, ObjectInfo]:
  """The objects (not folders) under a folder URI, by name relative to it (posix)."""
  if is_gcs(uri):
    bucket, path = split_gcs(uri)
    prefix = path.rstrip('/') + '/' if path.strip('/') else ''
    blobs = gcs_client(creds).list_blobs(bucket, prefix=prefix,
                                         delimiter=None if recursive else '/')
    return {b.name[len(prefix):]: ObjectInfo(b.md5_hash, b.crc32c, int(b.size or 0))
            for b in blobs if not b.name.endswith('/')}
  base = Path(uri)
  if not base.is_dir():
    return {}
  out = {}
  for path in (base.rglob('*') if recursive else base.iterdir()):
    if path.is_file():
      data = path.read_bytes()
      out[path.relative_to(base).as_posix()] = ObjectInfo(md5_b64(data), None, len(data))
  return out


def delete(uri, creds=None) -> None:
  """Deletes one object; one that is not there is not an error."""
  if is_gcs(uri):
    from google.api_core.exceptions import NotFound
    try:
      _blob(uri, creds).delete()
    except NotFound:
      pass
    return
  Path(uri).unlink(missing_ok=True)

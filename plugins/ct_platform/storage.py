"""Files in the bucket: a local folder (the embedded default) or gs:// (production).

One small set of operations on URIs, so spans, drift outputs, run summaries and reports
work the same on both. gs:// goes through google-cloud-storage with the credentials of
the Airflow Connection `gcp_conn_id` (the provider's GCSHook; impersonation_chain
honoured); STORAGE_EMULATOR_HOST, google-cloud-storage's own setting, points it at an
emulator. Nothing heavy is imported until a gs:// URI is used.

Credentials are the caller's, given explicitly: every function takes `creds`, anything
with `gcp_conn_id` and `impersonation_chain` (the run's Settings, a runner, a warehouse,
or a Credentials); None means the default connection without impersonation. Nothing
here reads an Airflow Variable.
"""

from __future__ import annotations

import dataclasses
import shutil
from functools import lru_cache
from pathlib import Path

from ct_platform.fsutil import atomic_write_text, split_chain


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
def _client(gcp_conn_id: str, impersonation_chain: str):
  """A google-cloud-storage Client with the Connection's credentials."""
  try:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
  except ImportError:  # outside Airflow (scripts): Application Default Credentials
    from google.cloud import storage
    return storage.Client()
  return GCSHook(gcp_conn_id=gcp_conn_id,
                 impersonation_chain=split_chain(impersonation_chain)).get_conn()


@dataclasses.dataclass(frozen=True)
class Credentials:
  gcp_conn_id: str = 'google_cloud_default'
  impersonation_chain: str = ''


DEFAULT_CREDENTIALS = Credentials()


def gcs_client(creds=None):
  creds = creds or DEFAULT_CREDENTIALS
  return _client(creds.gcp_conn_id or DEFAULT_CREDENTIALS.gcp_conn_id,
                 creds.impersonation_chain or '')


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


def write_text(uri, text: str, creds=None, content_type='text/plain',
               create_only: bool = False) -> str:
  """Writes a whole object; create_only refuses to replace one (GCS: if_generation_match=0)."""
  if is_gcs(uri):
    kwargs = {'if_generation_match': 0} if create_only else {}
    _blob(uri, creds).upload_from_string(text, content_type=content_type, **kwargs)
    return str(uri)
  path = Path(uri)
  path.parent.mkdir(parents=True, exist_ok=True)
  if create_only and path.exists():
    raise FileExistsError(f'{uri} exists and must not be replaced')
  return atomic_write_text(path, text)  # readers see the old file or the new one


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

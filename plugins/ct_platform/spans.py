"""Spans: immutable folders of training data, complete only once their manifest exists.

    <bucket>/spans/<window start>-<window end>/<dag run slug>-try<N>/
        part-00000.csv ...
        _MANIFEST.json      written last; nothing reads a span without it

A rerun of the same window writes a new folder; nothing is overwritten. Pruning old
spans is a separate step that never touches a span the champion was trained on.
<bucket> is a local folder or gs:// (ct_platform.storage).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ct_platform import storage

MANIFEST = '_MANIFEST.json'


class SpanError(RuntimeError):
  pass


def span_uri_for(bucket_root: str, window_slug: str, run_slug: str, try_number: int) -> str:
  return storage.join(bucket_root, 'spans', window_slug, f'{run_slug}-try{try_number}')


class SpanWriter:
  """Writes part files, then the manifest. On gs:// (no rename) the manifest, written
  create-only and last, is what makes a span complete."""

  def __init__(self, span_uri: str, settings=None):
    self.uri = str(span_uri)
    self.settings = settings
    if storage.list_names(self.uri, settings):
      raise SpanError(f'span {self.uri} already exists: spans are immutable, a new '
                      f'extract needs a new folder')
    if not storage.is_gcs(self.uri):
      Path(self.uri).mkdir(parents=True, exist_ok=True)
    self.parts = []

  @contextmanager
  def open_part(self, name: str):
    if storage.is_gcs(self.uri):
      with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / name
        with open(local, 'w', newline='') as f:
          yield f
        storage.upload_file(local, storage.join(self.uri, name), self.settings)
    else:
      with open(Path(self.uri) / name, 'w', newline='') as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
    self.parts.append(name)

  def finish(self, info: dict) -> dict:
    manifest = dict(info, uri=self.uri, files=self.parts, complete=True,
                    written_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec='microseconds'))
    storage.write_text(storage.join(self.uri, MANIFEST),
                       json.dumps(manifest, indent=2, sort_keys=True), self.settings,
                       content_type='application/json', create_only=True)
    return manifest


def read_manifest(span_uri: str, settings=None) -> dict:
  path = storage.join(span_uri, MANIFEST)
  if not storage.exists(path, settings):
    raise SpanError(f'span {span_uri} has no {MANIFEST}: it is incomplete (an extract '
                    f'that died midway) and must not be read')
  return json.loads(storage.read_text(path, settings))


def prune_spans(bucket_root: str, keep_per_window: int, protected: set[str],
                settings=None) -> list[str]:
  """Deletes the oldest complete spans beyond keep_per_window in each window folder.

  Never deletes a protected span (the champion's training span) or an incomplete one
  that may still be being written. Returns what it deleted.
  """
  if keep_per_window <= 0:
    return []
  deleted = []
  protected = {str(p).rstrip('/') for p in protected}
  spans_root = storage.join(bucket_root, 'spans')
  for window in storage.list_names(spans_root, settings):
    window_uri = storage.join(spans_root, window)
    complete = []
    for name in storage.list_names(window_uri, settings):
      if name.endswith('.drift') or name == MANIFEST:
        continue
      uri = storage.join(window_uri, name)
      if storage.exists(storage.join(uri, MANIFEST), settings):
        complete.append((read_manifest(uri, settings).get('written_at', ''), uri))
    complete.sort(reverse=True)
    for _, old in complete[keep_per_window:]:
      if old in protected:
        continue
      storage.delete_tree(old, settings)
      storage.delete_tree(old + '.drift', settings)  # its drift outputs
      deleted.append(old)
  return deleted

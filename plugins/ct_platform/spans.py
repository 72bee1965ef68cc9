"""Spans: immutable folders of training data, complete only once their manifest exists.

    <bucket>/spans/<window start>-<window end>/<dag run slug>-try<N>/
        part-00000.csv ...
        _MANIFEST.json      written last; nothing reads a span without it

A rerun of the same window writes a new folder; nothing is overwritten. Pruning old
spans is a separate step that never touches a span the champion was trained on.
(This module handles local folders; gs:// comes with the Google Cloud backends.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

MANIFEST = '_MANIFEST.json'


class SpanError(RuntimeError):
  pass


def span_uri_for(bucket_root: str, window_slug: str, run_slug: str, try_number: int) -> str:
  return str(Path(bucket_root) / 'spans' / window_slug / f'{run_slug}-try{try_number}')


class SpanWriter:
  def __init__(self, span_uri: str):
    self.root = Path(span_uri)
    if self.root.exists() and any(self.root.iterdir()):
      raise SpanError(f'span {self.root} already exists: spans are immutable, a new '
                      f'extract needs a new folder')
    self.root.mkdir(parents=True, exist_ok=True)
    self.parts = []

  @contextmanager
  def open_part(self, name: str):
    path = self.root / name
    with open(path, 'w', newline='') as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    self.parts.append(name)

  def finish(self, info: dict) -> dict:
    manifest = dict(info, uri=str(self.root), files=self.parts, complete=True,
                    written_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'))
    tmp = self.root / (MANIFEST + '.tmp')
    with open(tmp, 'w') as f:
      json.dump(manifest, f, indent=2, sort_keys=True)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, self.root / MANIFEST)
    return manifest


def read_manifest(span_uri: str) -> dict:
  path = Path(span_uri) / MANIFEST
  if not path.exists():
    raise SpanError(f'span {span_uri} has no {MANIFEST}: it is incomplete (an extract '
                    f'that died midway) and must not be read')
  return json.loads(path.read_text())


def prune_spans(bucket_root: str, keep_per_window: int, protected: set[str]) -> list[str]:
  """Deletes the oldest complete spans beyond keep_per_window in each window folder.

  Never deletes a protected span (the champion's training span) or an incomplete one
  that may still be being written. Returns what it deleted.
  """
  if keep_per_window <= 0:
    return []
  deleted = []
  protected = {str(Path(p)) for p in protected}
  for window_dir in sorted((Path(bucket_root) / 'spans').glob('*')):
    complete = [p for p in window_dir.iterdir() if p.is_dir() and (p / MANIFEST).exists()]
    complete.sort(key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True)
    for old in complete[keep_per_window:]:
      if str(old) in protected:
        continue
      shutil.rmtree(old)
      shutil.rmtree(str(old) + '.drift', ignore_errors=True)  # its drift outputs
      deleted.append(str(old))
  return deleted

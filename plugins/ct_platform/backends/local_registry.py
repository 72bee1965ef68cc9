"""The local model registry: versions in folders, the champion alias in one file.

    <root>/<model>/versions/<N>/model/Format-Serving/...   TFX's Model layout, so the
                                                          next run's Evaluator can use
                                                          it as baseline
    <root>/<model>/versions/<N>/metadata.json             metrics, span, run id, ...
    <root>/<model>/versions/<N>/rollouts.json             each rollout's outcome
    <root>/<model>/aliases/champion.json                  {"version": N, ...}

A version number is claimed with mkdir (atomic), the model is copied into it, its
metadata written last; the alias is swapped with write-temp, fsync, rename, so a
reader sees the old champion or the new one, never a torn file. A rejected or failed
candidate never reaches this code.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from ct_platform.backends.registry import (  # noqa: F401  (RegistryError: its home)
  ANY,
  AliasMoved,
  RegistryError,
  check_expected,
)
from ct_platform.fsutil import atomic_write_json
from ct_platform.labels import version_labels

CHAMPION = 'champion'


def _atomic_write_json(path: Path, data: dict) -> None:
  atomic_write_json(path, data, indent=2, sort_keys=True)


class LocalModelRegistry:
  def __init__(self, root, model_name: str):
    self.model_dir = Path(root) / model_name
    self.model_name = model_name

  @classmethod
  def from_settings(cls, settings):
    return cls(settings.registry_root, settings.model_name)

  def _version_dir(self, version: int) -> Path:
    return self.model_dir / 'versions' / str(int(version))

  def versions(self) -> list[int]:
    vdir = self.model_dir / 'versions'
    if not vdir.exists():
      return []
    return sorted(int(p.name) for p in vdir.iterdir()
                  if p.name.isdigit() and (p / 'metadata.json').exists())

  def get_version(self, version: int) -> dict:
    meta = self._version_dir(version) / 'metadata.json'
    if not meta.exists():
      known = self.versions()
      raise RegistryError(f'model {self.model_name!r} has no version {version} '
                          f'(versions: {known or "none"})')
    record = json.loads(meta.read_text())
    record['model_uri'] = str(self._version_dir(version) / 'model')
    rollouts = self._version_dir(version) / 'rollouts.json'
    record['rollouts'] = json.loads(rollouts.read_text()) if rollouts.exists() else []
    return record

  def record_rollout(self, version: int, outcome: dict) -> None:
    import fcntl

    self.get_version(version)  # raises for an unknown version
    path = self._version_dir(version) / 'rollouts.json'
    with open(self._version_dir(version) / '.rollouts.lock', 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      done = json.loads(path.read_text()) if path.exists() else []
      _atomic_write_json(path, done + [dict(outcome, recorded_at=dt.datetime.now(
          dt.timezone.utc).isoformat(timespec='seconds'))])

  def get_alias(self, alias: str = CHAMPION) -> dict | None:
    path = self.model_dir / 'aliases' / f'{alias}.json'
    if not path.exists():
      return None
    pointer = json.loads(path.read_text())
    return dict(self.get_version(pointer['version']), alias=alias,
                alias_set_at=pointer.get('set_at'), alias_reason=pointer.get('reason'))

  def register(self, candidate_model_uri: str, metadata: dict) -> dict:
    """Copies the candidate in as the next version; returns its record."""
    source = Path(candidate_model_uri)
    if not (source / 'Format-Serving' / 'saved_model.pb').exists():
      raise RegistryError(f'candidate {source} is not a TFX Model artifact '
                          f'(no Format-Serving/saved_model.pb)')
    versions_dir = self.model_dir / 'versions'
    versions_dir.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name) for p in versions_dir.iterdir() if p.name.isdigit()]
    version = max(existing, default=0) + 1
    while True:
      try:
        self._version_dir(version).mkdir()  # claims the number, atomically
        break
      except FileExistsError:
        version += 1
    labels = version_labels(metadata)  # Vertex AI's label rules hold here too
    target = self._version_dir(version)
    shutil.copytree(source, target / 'model')
    record = dict(metadata, version=version, model_name=self.model_name, labels=labels,
                  source_model_uri=str(source),
                  registered_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'))
    _atomic_write_json(target / 'metadata.json', record)  # last: the version is complete
    return dict(record, model_uri=str(target / 'model'))

  def set_alias(self, version: int, alias: str = CHAMPION, reason: str = '',
                expected_version=ANY) -> dict:
    """Moves the alias; with expected_version, only if it still points there (checked
    and written under an exclusive lock, so two movers cannot interleave)."""
    import fcntl

    record = self.get_version(version)  # raises for an unknown or incomplete version
    path = self.model_dir / 'aliases' / f'{alias}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f'.{alias}.lock', 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      current = json.loads(path.read_text())['version'] if path.exists() else None
      check_expected(alias, current, expected_version)
      _atomic_write_json(path, {
          'version': int(version), 'reason': reason, 'previous_version': current,
          'set_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')})
    return record

"""Resuming a failed local run from its last completed step (TFX's execution cache).

A retried attempt of a run (same span, another run folder) copies the failed attempt's
MLMD and runs with TFX's cache on: a component whose code, parameters and input artifacts
are those of a completed execution there is not run again; its outputs (in the failed
attempt's folder, which nothing deletes) are reused. So a retry after a failure in the
Evaluator starts at the Evaluator, not at ExampleGen. What keys the reuse:
  - TFX's cache key: the pipeline and node, the executor, every input artifact, every
    parameter (span URI, train args, hyperparameters, eval config, ...). Spans are
    immutable and a new extract writes a new URI, so a new span never reuses a result;
  - the code: TFX hashes a module file but not a module path (ours: `run_fn`,
    `preprocessing_fn` by path), so an attempt resumes only from one whose pipeline code,
    contracts and schema hash the same (CODE_FINGERPRINT in each run folder).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import sqlite3
from pathlib import Path

CODE_FINGERPRINT = 'code_fingerprint.txt'
RESUME_RECORD = 'resume.json'
_PACKAGE = Path(__file__).resolve().parents[1]  # ct_pipeline
_SOURCE_SUFFIXES = {'.py', '.yaml', '.yml', '.json', '.pbtxt'}


def code_fingerprint(contracts_dir: Path, schema_path: str) -> str:
  """sha256 over the pipeline package's sources, the shared contracts, the schema file and
  every installed distribution's version: what a cached step's result depends on beyond
  TFX's own key."""
  h = hashlib.sha256()
  for root in (_PACKAGE, Path(contracts_dir)):
    if not root.is_dir():
      continue
    for path in sorted(root.rglob('*')):
      if path.suffix in _SOURCE_SUFFIXES and '__pycache__' not in path.parts:
        name = f'{root.name}/{path.relative_to(root).as_posix()}'
        h.update(name.encode() + b'\0' + path.read_bytes() + b'\0')
  if schema_path and Path(schema_path).is_file():
    h.update(b'schema\0' + Path(schema_path).read_bytes() + b'\0')
  versions = sorted({f'{d.metadata["Name"]}=={d.version}'.lower()
                     for d in importlib.metadata.distributions() if d.metadata['Name']})
  h.update('\n'.join(versions).encode())
  return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class ResumePlan:
  enabled: bool
  reason: str
  source: str = ''
  first_new_execution_id: int = 0  # executions at or above it are this attempt's


def prepare(previous_dir: str, output_dir: str, metadata_path: str,
            fingerprint: str) -> ResumePlan:
  """Copies the previous attempt's MLMD to metadata_path when it can be resumed from;
  says why not otherwise (the run then starts from the beginning, cache off)."""
  if not previous_dir:
    return ResumePlan(False, 'no earlier attempt')
  previous = Path(previous_dir)
  previous_mlmd = previous / 'metadata.sqlite'
  if Path(previous_dir).resolve() == Path(output_dir).resolve():
    return ResumePlan(False, f'--resume-from {previous_dir} is this run\'s own folder')
  if not previous_mlmd.is_file():
    return ResumePlan(False, f'{previous} has no metadata.sqlite (the earlier attempt '
                      'stopped before its first step)')
  recorded = previous / CODE_FINGERPRINT
  if not recorded.is_file() or recorded.read_text().strip() != fingerprint:
    return ResumePlan(False, f'the pipeline code, contracts, schema or packages changed since '
                      f'{previous.name} ran (its {CODE_FINGERPRINT} differs): nothing of '
                      'it is reused')
  if Path(metadata_path).exists():
    # a resubmit of this attempt (the supervisor restarted it): its own MLMD already
    # holds the copy and whatever this attempt completed since
    return ResumePlan(True, 'resuming, with this attempt\'s own MLMD', str(previous),
                      _next_execution_id(metadata_path))
  try:
    _copy_database(previous_mlmd, metadata_path)
  except sqlite3.Error as e:
    Path(metadata_path).unlink(missing_ok=True)
    return ResumePlan(False, f'{previous_mlmd} could not be copied ({e}): nothing of '
                      f'{previous.name} is reused')
  return ResumePlan(True, f'reusing the completed steps of {previous.name}', str(previous),
                    _next_execution_id(metadata_path))


def _copy_database(source_path: Path, target_path: str) -> None:
  """SQLite's online backup: a consistent copy. Read-only first; a process killed in the
  middle of a write leaves a hot journal that only a writable connection rolls back."""
  for uri in (f'file:{source_path}?mode=ro', f'file:{source_path}'):
    source = sqlite3.connect(uri, uri=True)
    target = sqlite3.connect(target_path)
    try:
      source.backup(target)
      return
    except sqlite3.OperationalError:
      if uri.endswith('?mode=ro'):
        continue
      raise
    finally:
      target.close()
      source.close()


def _next_execution_id(metadata_path: str) -> int:
  con = sqlite3.connect(metadata_path)
  try:
    (top,) = con.execute('SELECT COALESCE(MAX(id), 0) FROM Execution').fetchone()
  except sqlite3.OperationalError:  # an MLMD file without tables yet
    top = 0
  finally:
    con.close()
  return int(top) + 1


def reused_steps(metadata_path: str, first_new_execution_id: int) -> list[str]:
  """The nodes this attempt took from the cache (MLMD state CACHED), in run order."""
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top

  con = sqlite3.connect(metadata_path)
  try:
    # each execution is associated with its node's context, '<pipeline>.<component id>'
    rows = con.execute(
        "SELECT c.name FROM Execution e JOIN Association a ON a.execution_id = e.id "
        "JOIN Context c ON c.id = a.context_id JOIN Type t ON t.id = c.type_id "
        "WHERE t.name = 'node' AND e.id >= ? AND e.last_known_state = ? ORDER BY e.id",
        (first_new_execution_id, metadata_store_pb2.Execution.CACHED)).fetchall()
  finally:
    con.close()
  return [name.split('.', 1)[-1] for (name,) in rows]


def record(output_dir: str, plan: ResumePlan, reused: list[str]) -> None:
  Path(output_dir, RESUME_RECORD).write_text(json.dumps(
      {'resumed': plan.enabled, 'reason': plan.reason, 'from': plan.source,
       'reused_steps': reused}, indent=2) + '\n')
  logging.info('resume: %s; steps reused: %s', plan.reason, ', '.join(reused) or 'none')

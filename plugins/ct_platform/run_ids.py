"""Pipeline run ids: dag_id + run_id + attempt as a safe slug plus a short hash.

Vertex AI accepts job ids matching [a-z][-a-z0-9]{0,127}; Airflow run ids hold '_',
':', '+' and upper case. The hash keeps ids distinct after slugging.
"""

from __future__ import annotations

import hashlib
import re


def slug(text: str, max_len: int = 40) -> str:
  s = re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')
  return s[:max_len].strip('-')


def pipeline_run_id(dag_id: str, run_id: str, attempt: int, try_key: str = '') -> str:
  """try_key: the task instance id of the try that starts this attempt. A new try has a
  new one, so even when the task's state record is gone (retention, a clear that drops
  it) and the attempt number starts at 1 again, the id is new and never re-attaches to
  an old run; a retry that finds the record reuses the recorded id."""
  if attempt < 1:
    raise ValueError(f'attempt: {attempt} (expected >= 1)')
  digest = hashlib.sha256(f'{dag_id}\0{run_id}\0{attempt}\0{try_key}'.encode()).hexdigest()[:8]
  head = f'ct-{slug(dag_id, 30)}-{slug(run_id, 60)}'.strip('-')
  rid = f'{head}-a{attempt}-{digest}'
  assert re.fullmatch(r'[a-z][-a-z0-9]{0,127}', rid), rid
  return rid


def run_slug(run_id: str) -> str:
  """A folder-safe name for an Airflow run id (span folders)."""
  digest = hashlib.sha256(run_id.encode()).hexdigest()[:6]
  return f'{slug(run_id, 60)}-{digest}'

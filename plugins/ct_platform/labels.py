"""Labels as Vertex AI accepts them, for the Vertex registry and the local one alike.

Keys: a lowercase letter, then lowercase letters, digits, _ or - (at most 63); values:
lowercase letters, digits, _ and - (at most 63); at most 64 labels. Labels carry slugs
(run id, its hash, git sha); the full record goes into metadata.json.
"""

from __future__ import annotations

import hashlib
import re

LABEL_KEY = re.compile(r'^[a-z][a-z0-9_-]{0,62}$')
LABEL_VALUE = re.compile(r'^[a-z0-9_-]{0,63}$')


def label_slug(value: str, limit: int = 63) -> str:
  """A label value: lowercase letters, digits, _ and -; long values keep a hash suffix."""
  slug = re.sub(r'[^a-z0-9_-]+', '-', str(value).lower()).strip('-')
  if len(slug) > limit:
    digest = hashlib.sha1(str(value).encode()).hexdigest()[:8]
    slug = slug[:limit - 9].rstrip('-') + '-' + digest
  return slug


def validate_labels(labels: dict) -> dict:
  """Raises ValueError naming the first label Vertex AI would refuse."""
  if len(labels) > 64:
    raise ValueError(f'labels: {len(labels)} labels, at most 64 allowed')
  for key, value in labels.items():
    if not LABEL_KEY.match(str(key)):
      raise ValueError(f'labels: key {key!r} must start with a lowercase letter and hold '
                       f'only lowercase letters, digits, _ and - (at most 63 characters)')
    if not isinstance(value, str) or not LABEL_VALUE.match(value):
      raise ValueError(f'labels.{key}: {value!r} may hold only lowercase letters, digits, '
                       f'_ and - (at most 63 characters)')
  return labels


def version_labels(metadata: dict) -> dict:
  """The labels a registered model version carries: slugs of the run, plus any labels the
  record brings (`labels`), which must already follow the rules."""
  return validate_labels(dict(
      metadata.get('labels') or {},
      ct_run=label_slug(metadata.get('run_id', '')),
      ct_run_hash=hashlib.sha1(str(metadata.get('airflow_run_id', '')).encode())
      .hexdigest()[:12],
      git_sha=label_slug(metadata.get('git_sha') or 'dev')))

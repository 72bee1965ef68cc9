"""Reads the OpenLineage events the file transport wrote (scripts/airflow-local points it at
<local_dir>/lineage/events.jsonl) and follows our chain through them."""

import json
from pathlib import Path


def events(local_dir) -> list[dict]:
  path = Path(local_dir) / 'lineage' / 'events.jsonl'
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
      if path.exists() else []


def completed(local_dir, dag_id: str, task_id: str) -> list[dict]:
  """The COMPLETE events of one task, oldest first."""
  return [e for e in events(local_dir) if e.get('eventType') == 'COMPLETE'
          and e['job']['name'] == f'{dag_id}.{task_id}']


def names(datasets) -> list[tuple[str, str]]:
  return [(d['namespace'], d['name']) for d in datasets]


def one(datasets) -> dict:
  assert len(datasets) == 1, datasets
  return datasets[0]

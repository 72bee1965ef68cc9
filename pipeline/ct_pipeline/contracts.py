"""The files the pipeline shares with the DAG: promotion policy and run-summary schema.

They exist once, in plugins/ct_platform/contracts/ (the Airflow deploy carries them
there); the pipeline image copies that folder to /pipeline/contracts. CT_CONTRACTS_DIR
overrides where they are read from.
"""

import json
import os
from pathlib import Path

import yaml

_REPO_CONTRACTS = Path(__file__).resolve().parents[2] / 'plugins' / 'ct_platform' / 'contracts'
_IMAGE_CONTRACTS = Path('/pipeline/contracts')


def contracts_dir() -> Path:
  if os.environ.get('CT_CONTRACTS_DIR'):
    return Path(os.environ['CT_CONTRACTS_DIR'])
  return _REPO_CONTRACTS if _REPO_CONTRACTS.is_dir() else _IMAGE_CONTRACTS


def load_policy(path=None) -> dict:
  path = Path(path) if path else contracts_dir() / 'promotion_policy.yaml'
  policy = yaml.safe_load(path.read_text())
  metrics = policy.get('metrics') or []
  if not metrics:
    raise ValueError(f'{path}: "metrics" must list at least one metric')
  for i, m in enumerate(metrics):
    for field in ('name', 'class_name', 'lower_bound', 'min_delta'):
      if field not in m:
        raise ValueError(f'{path}: metrics[{i}] lacks "{field}"')
  return policy


def load_summary_schema() -> dict:
  return json.loads((contracts_dir() / 'run_summary.schema.json').read_text())


def validate_summary(summary: dict) -> None:
  """Raises jsonschema.ValidationError naming the offending field."""
  import jsonschema  # pylint: disable=g-import-not-at-top
  jsonschema.validate(summary, load_summary_schema(),
                      format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

"""The files the pipeline shares with the DAG: promotion policy, run-summary schema,
drift thresholds and the layout (variants, runtime parameter names, where files go).

They exist once, in plugins/ct_platform/contracts/ (the Airflow deploy carries them
there); the pipeline image copies that folder to /pipeline/contracts. CT_CONTRACTS_DIR
overrides where they are read from.
"""

import functools
import os
from pathlib import Path

_REPO_CONTRACTS = Path(__file__).resolve().parents[2] / 'plugins' / 'ct_platform' / 'contracts'
_IMAGE_CONTRACTS = Path('/pipeline/contracts')


def contracts_dir() -> Path:
  if os.environ.get('CT_CONTRACTS_DIR'):
    return Path(os.environ['CT_CONTRACTS_DIR'])
  return _REPO_CONTRACTS if _REPO_CONTRACTS.is_dir() else _IMAGE_CONTRACTS


@functools.lru_cache(maxsize=None)
def _load(filename: str, module_name: str):
  """A module of the shared contracts folder, loaded by path (the pipeline env has no
  ct_platform; the folder's rule is that none of its modules imports it)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(module_name, contracts_dir() / filename)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _shared_module():
  """The DAG side's contracts module (plain Python + yaml + jsonschema), so both sides
  apply one set of policy rules."""
  return _load('__init__.py', 'ct_shared_contracts')


def layout():
  """contracts/layout.py: variant names and rule, runtime parameter names, file places."""
  return _load('layout.py', 'ct_shared_layout')


def drift_defaults():
  """contracts/drift_defaults.py: what drift_thresholds.yaml means where it is silent."""
  return _load('drift_defaults.py', 'ct_shared_drift_defaults')


def load_policy(path=None) -> dict:
  """The promotion policy; raises ValueError naming a missing field."""
  return _shared_module().load_policy(Path(path) if path else
                                      contracts_dir() / 'promotion_policy.yaml')


def validate_summary(summary: dict) -> dict:
  """The DAG side's check (contracts.validate_run_summary): raises ContractError, a
  ValueError, naming each offending field; the gate reads with the same function."""
  return _shared_module().validate_run_summary(summary)

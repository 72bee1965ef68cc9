"""The files the DAG shares with the TFX pipeline, and how the DAG reads them.

promotion_policy.yaml    thresholds: the pipeline's Evaluator and the DAG's gate
run_summary.schema.json  the run summary the pipeline's last step writes
drift_thresholds.yaml    drift thresholds: the DAG's evaluate_drift and the pipeline's
                         TFDV drift comparators
layout.py                variant names and the rule choosing one, runtime parameter
                         names, the push destination, where a run's and a span's files go
endpoint.py              the local endpoint's file (deployed models, traffic split): the
                         DAG's endpoint backend writes it, the model server reads it

They live here so that a deploy of plugins/ carries them to Composer; the pipeline
image copies this folder (pipeline/Dockerfile). Only light imports: DAG files may
import this module at parse time.

The rule that makes one folder serve two environments: nothing in contracts/ imports
ct_platform (or anything outside the standard library, PyYAML and jsonschema). The
pipeline env has no ct_platform; it loads these modules by file path
(ct_pipeline/contracts.py), each on its own, so a module here imports no sibling either.
tests/plugins/contracts/test_contracts.py fails if one ever does.
"""

import json
from pathlib import Path

CONTRACTS_DIR = Path(__file__).resolve().parent
POLICY_PATH = CONTRACTS_DIR / 'promotion_policy.yaml'
RUN_SUMMARY_SCHEMA_PATH = CONTRACTS_DIR / 'run_summary.schema.json'


class ContractError(ValueError):
  """A contract file, or a document checked against one, is not what it should be."""


def load_policy(path=POLICY_PATH) -> dict:
  import yaml

  path = Path(path)
  policy = yaml.safe_load(path.read_text())
  metrics = (policy or {}).get('metrics') or []
  if not metrics:
    raise ContractError(f'{path}: "metrics" must list at least one metric')
  for i, m in enumerate(metrics):
    for field in ('name', 'class_name', 'lower_bound', 'min_delta'):
      if field not in m:
        raise ContractError(f'{path}: metrics[{i}] lacks "{field}"')
  for i, s in enumerate(policy.get('slices') or []):
    for field in ('feature', 'max_regression', 'min_examples'):
      if field not in s:
        raise ContractError(f'{path}: slices[{i}] lacks "{field}"')
    confidence = s.get('confidence', 0.95)
    if (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
        or not 0 <= confidence < 1):
      raise ContractError(f'{path}: slices[{i}].confidence: {confidence!r} is not a '
                          'number in [0, 1) (0.95: a regression must be beyond sampling '
                          'noise at 95%; 0: judge the difference alone)')
  return policy


def number_fields(cls, data, where: str, skip=()) -> dict:
  """A policy section's numbers (and switches) for dataclass `cls` ({field: value}, only
  those given): ContractError names an unknown field, a value that is not a non-negative
  number (not true/false, for a switch), or a fraction for a whole-number field. Fields in
  `skip` (sub-sections) are the caller's."""
  import dataclasses

  if not isinstance(data, dict):
    raise ContractError(f'{where}: {data!r} is not a mapping')
  known = {f.name: f for f in dataclasses.fields(cls)}
  out = {}
  for key, value in data.items():
    if key not in known:
      raise ContractError(f'{where}.{key}: unknown; expected one of {sorted(known)}')
    if key in skip:
      continue
    default = known[key].default
    if isinstance(default, bool):
      if not isinstance(value, bool):
        raise ContractError(f'{where}.{key}: {value!r} is not true or false')
      out[key] = value
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
      raise ContractError(f'{where}.{key}: {value!r} is not a non-negative number')
    if isinstance(default, int) and value != int(value):
      raise ContractError(f'{where}.{key}: {value!r} is not a whole number')
    out[key] = int(value) if isinstance(default, int) else float(value)
  return out


def run_summary_schema() -> dict:
  return json.loads(RUN_SUMMARY_SCHEMA_PATH.read_text())


def validate_run_summary(summary: dict) -> dict:
  """Returns the summary, or raises ContractError naming the field and the problem."""
  import jsonschema

  validator = jsonschema.Draft202012Validator(
      run_summary_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
  errors = sorted(validator.iter_errors(summary), key=lambda e: list(e.absolute_path))
  if errors:
    lines = [f'  {"/".join(map(str, e.absolute_path)) or "<top>"}: {e.message}'
             for e in errors[:10]]
    raise ContractError('run summary does not match run_summary.schema.json:\n' +
                        '\n'.join(lines))
  return summary

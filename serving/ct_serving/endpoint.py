"""The local endpoint as the server reads it: the file's contract (deployed models, traffic
split, the checks) is plugins/ct_platform/contracts/endpoint.py, loaded by path (the serving
env has no ct_platform; CT_CONTRACTS_DIR points elsewhere, as in the pipeline image), plus
the Router that applies the split.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

_REPO_CONTRACTS = Path(__file__).resolve().parents[2] / 'plugins' / 'ct_platform' / 'contracts'


def _load_contract():
  folder = Path(os.environ.get('CT_CONTRACTS_DIR') or _REPO_CONTRACTS)
  spec = importlib.util.spec_from_file_location('ct_shared_endpoint', folder / 'endpoint.py')
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up there
  spec.loader.exec_module(module)
  return module


_contract = _load_contract()
EndpointError = _contract.EndpointError
DeployedModel = _contract.DeployedModel
EndpointState = _contract.EndpointState
parse, read, write = _contract.parse, _contract.read, _contract.write
compare_smoke_predictions = _contract.compare_smoke_predictions


class Router:
  """Picks the deployed model of each request by the traffic split (weighted at random,
  as Vertex AI does: one request goes whole to one deployed model)."""

  def __init__(self, split: dict, seed: int | None = None):
    self.ids = [k for k, v in sorted(split.items()) if v > 0]
    self.weights = [split[k] for k in self.ids]
    self._random = random.Random(seed)

  def pick(self) -> str:
    if not self.ids:
      raise LookupError('no deployed model takes traffic (the split is all zeros)')
    return self._random.choices(self.ids, weights=self.weights)[0]

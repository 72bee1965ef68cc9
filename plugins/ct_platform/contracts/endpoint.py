"""The local endpoint's file: which model versions are deployed, how traffic splits.

Written by the orchestration side (backends/local_endpoint.py), read by the model server
(serving/ct_serving, which loads this module by path: standard library only).

One JSON file, shaped like a Vertex AI Endpoint resource (deployedModels + trafficSplit):

  {"endpoint": "chicago-taxi-tipper",
   "deployed_models": [{"id": "v3", "model_version_id": "3", "artifact_uri": ".../model"}],
   "traffic_split": {"v3": 100}}

Whoever deploys writes the file whole (write-then-rename); the server watches it and swaps
to the new state without a restart, so a split change drops no request.
"""

# No `from __future__ import annotations`: loaded by path, outside sys.modules, dataclasses
# could not resolve string annotations.
import dataclasses
import json
import os
import tempfile
from pathlib import Path


class EndpointError(ValueError):
  """The endpoint file is not what it should be; the message names the field."""


@dataclasses.dataclass(frozen=True)
class DeployedModel:
  id: str
  model_version_id: str
  artifact_uri: str       # the model folder holding Format-Serving/ (or the SavedModel itself)

  @property
  def saved_model_dir(self) -> str:
    serving = Path(self.artifact_uri) / 'Format-Serving'
    return str(serving if serving.is_dir() else Path(self.artifact_uri))


@dataclasses.dataclass(frozen=True)
class EndpointState:
  endpoint: str
  deployed_models: tuple[DeployedModel, ...]
  traffic_split: dict

  def as_dict(self) -> dict:
    return {'endpoint': self.endpoint,
            'deployed_models': [dataclasses.asdict(m) for m in self.deployed_models],
            'traffic_split': dict(self.traffic_split)}


def parse(data: dict, source: str = 'endpoint') -> EndpointState:
  if not isinstance(data, dict):
    raise EndpointError(f'{source}: expected a JSON object')
  models = []
  for i, m in enumerate(data.get('deployed_models') or []):
    for field in ('id', 'model_version_id', 'artifact_uri'):
      if not m.get(field):
        raise EndpointError(f'{source}: deployed_models[{i}].{field} is missing')
    models.append(DeployedModel(str(m['id']), str(m['model_version_id']),
                                str(m['artifact_uri'])))
  ids = [m.id for m in models]
  if len(set(ids)) != len(ids):
    raise EndpointError(f'{source}: deployed_models has duplicate ids {ids}')
  split = data.get('traffic_split') or {}
  for key, pct in split.items():
    if key not in ids:
      raise EndpointError(f'{source}: traffic_split.{key}: no deployed model has that id '
                          f'(deployed: {ids})')
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
      raise EndpointError(f'{source}: traffic_split.{key}: {pct!r} is not a whole percent '
                          f'0-100')
  if models and sum(split.values()) != 100:
    raise EndpointError(f'{source}: traffic_split sums to {sum(split.values())}, not 100: '
                        f'{split}')
  return EndpointState(str(data.get('endpoint') or ''), tuple(models), dict(split))


def read(path) -> EndpointState:
  path = Path(path)
  try:
    data = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise EndpointError(f'{path}: cannot be read as JSON ({e})') from e
  return parse(data, str(path))


def write(path, state: EndpointState) -> None:
  """Write-then-rename: the watching server sees the old state or the new one."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  parse(state.as_dict(), str(path))  # never write what the server would refuse
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
  with os.fdopen(fd, 'w') as f:
    json.dump(state.as_dict(), f, indent=2, sort_keys=True)
  os.replace(tmp, path)


# The infrastructure validation's comparison, the same for the local serving stack
# (ct_serving.checks) and a Vertex AI validation endpoint (ct_platform.rollout.steps).
SMOKE_TOLERANCE = 1e-4  # float32 through JSON and back


def compare_smoke_predictions(predictions: list, recorded: list) -> dict:
  """Served predictions (TF Serving's shape: [score] or score each) against the ones the
  pipeline recorded for the same rows: {'rows', 'max_abs_diff', 'problem'}, problem None
  when they agree within SMOKE_TOLERANCE."""
  got = [p[0] if isinstance(p, list) else p for p in predictions]
  out = {'rows': len(got), 'max_abs_diff': None, 'problem': None}
  if len(got) != len(recorded):
    out['problem'] = f'{len(got)} predictions for {len(recorded)} rows'
    return out
  diff = max((abs(a - b) for a, b in zip(got, recorded)), default=0.0)
  out['max_abs_diff'] = diff
  if diff > SMOKE_TOLERANCE:
    out['problem'] = (f'served predictions differ from the pipeline\'s by up to {diff:.6f} '
                      f'(tolerance {SMOKE_TOLERANCE})')
  return out

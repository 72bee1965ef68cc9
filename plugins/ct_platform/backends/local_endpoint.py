"""The local prediction endpoint (the embedded stand-in for a Vertex AI Endpoint).

Its state is one file (contracts/endpoint.py: deployed models + traffic split), which the
model server (serving/ct_serving, `make serve`) watches and applies without a restart.
Every change is a whole new file, written only if the server would accept it.
"""

from __future__ import annotations

from pathlib import Path

from ct_platform.contracts import endpoint as contract


def deployed_id(version) -> str:
  return f'v{int(version)}'


def rescale(split: dict, keep: int) -> dict:
  """The split scaled to sum to `keep` (whole percents, largest remainder first)."""
  total = sum(split.values())
  if not split or keep == 0 or total == 0:
    return {k: 0 for k in split} | ({next(iter(split)): keep} if split and total == 0 else {})
  exact = {k: v * keep / total for k, v in split.items()}
  out = {k: int(x) for k, x in exact.items()}
  for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[:keep - sum(
      out.values())]:
    out[k] += 1
  return out


class LocalEndpoint:
  """:param path: the endpoint file (default <local_dir>/serving/endpoint.json)"""

  def __init__(self, path, name: str = 'chicago-taxi-tipper'):
    self.path, self.name = Path(path), name

  @classmethod
  def from_settings(cls, settings):
    return cls(settings.endpoint_file, settings.model_name)

  def config(self) -> dict:
    """What a trigger serializes to rebuild this endpoint (backends.endpoint_from_config)."""
    return {'kind': 'local', 'kwargs': {'path': str(self.path), 'name': self.name}}

  def deployed_id(self, version) -> str:
    return deployed_id(version)

  def state(self) -> contract.EndpointState | None:
    return contract.read(self.path) if self.path.exists() else None

  def _write(self, models, split) -> contract.EndpointState:
    state = contract.EndpointState(self.name, tuple(models), dict(split))
    contract.write(self.path, state)
    return state

  def deploy(self, version, artifact_uri: str, traffic_percent: int) -> contract.EndpointState:
    """Deploys a version beside the others at traffic_percent; the others keep their
    proportions in the rest. Deploying a deployed version only changes its share."""
    if not 0 <= int(traffic_percent) <= 100:
      raise contract.EndpointError(f'traffic_percent: {traffic_percent!r} is not 0-100')
    current = self.state()
    models = [m for m in (current.deployed_models if current else ())
              if m.id != deployed_id(version)]
    if not models and int(traffic_percent) != 100:
      raise contract.EndpointError(
          f'traffic_percent: {traffic_percent} for the first model on {self.path}; the '
          f'first deployed model takes 100')
    others = {m.id: current.traffic_split.get(m.id, 0) for m in models} if current else {}
    split = rescale(others, 100 - int(traffic_percent))
    split[deployed_id(version)] = int(traffic_percent)
    models.append(contract.DeployedModel(deployed_id(version), str(int(version)),
                                         str(artifact_uri)))
    return self._write(models, split)

  def begin_deploy(self, version, artifact_uri: str, traffic_percent: int) -> None:
    """A local deploy is one file write: done at once, nothing to wait for."""
    self.deploy(version, artifact_uri, traffic_percent)
    return None

  def operation_status(self, name: str) -> tuple[bool, str | None]:
    raise contract.EndpointError(f'operation {name!r}: the local endpoint starts no '
                                 f'long-running operations')

  def set_traffic(self, split: dict) -> contract.EndpointState:
    """The whole split at once (ids of deployed models, summing to 100)."""
    current = self._require()
    return self._write(current.deployed_models, {**{m.id: 0 for m in
                                                    current.deployed_models}, **split})

  def undeploy(self, version) -> contract.EndpointState:
    """Removes a version that takes no traffic (move the traffic first)."""
    current = self._require()
    mid = deployed_id(version)
    if current.traffic_split.get(mid, 0):
      raise contract.EndpointError(f'{mid} takes {current.traffic_split[mid]}% of the traffic '
                                   f'on {self.path}: move it before undeploying')
    return self._write([m for m in current.deployed_models if m.id != mid],
                       {k: v for k, v in current.traffic_split.items() if k != mid})

  def _require(self) -> contract.EndpointState:
    state = self.state()
    if state is None:
      raise contract.EndpointError(f'{self.path}: no endpoint yet (deploy a model first)')
    return state

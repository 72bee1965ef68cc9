"""The local model registry, as the server reads it (the folder layout of
plugins/ct_platform/backends/local_registry.py: <root>/<model>/aliases/<alias>.json and
<root>/<model>/versions/<n>/model/)."""

from __future__ import annotations

import json
from pathlib import Path

from ct_serving import endpoint as endpoint_lib


def endpoint_for_champion(registry_root, model_name: str) -> endpoint_lib.EndpointState:
  """An endpoint serving the local registry's champion at 100% (what `make serve` starts)."""
  alias = Path(registry_root) / model_name / 'aliases' / 'champion.json'
  if not alias.is_file():
    raise SystemExit(f'serve: {alias} does not exist: no champion to serve yet (make run '
                     f'trains and promotes one)')
  version = str(json.loads(alias.read_text())['version'])
  model_dir = Path(registry_root) / model_name / 'versions' / version / 'model'
  deployed = endpoint_lib.DeployedModel(f'v{version}', version, str(model_dir))
  return endpoint_lib.EndpointState(model_name, (deployed,), {deployed.id: 100})

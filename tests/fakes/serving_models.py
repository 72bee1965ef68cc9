"""Stand-in SavedModels for the orchestration tests, built by the serving env (this env has
no TensorFlow): tests/serving/stand_in_models.py, run as a CLI. Each model folder holds
Format-Serving/ and the smoke_rows.json the pipeline's SmokeTest would have recorded."""

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVING_PYTHON = REPO / '.venv-serving' / 'bin' / 'python'


def build(out: Path, *names: str) -> dict:
  """{name: model folder} (names from stand_in_models.MODELS)."""
  proc = subprocess.run(
      [str(SERVING_PYTHON), str(REPO / 'tests' / 'serving' / 'stand_in_models.py'), str(out),
       *names], capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return {k: os.path.abspath(v) for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}


def quick_policy(path: Path, canary: dict | None = None, **serving) -> Path:
  """The shipped promotion policy with a short load test (2 clients, 3 s), `serving`
  overrides and `canary` overrides: what the rollout tests judge with."""
  import yaml

  policy = yaml.safe_load((REPO / 'plugins' / 'ct_platform' / 'contracts' /
                           'promotion_policy.yaml').read_text())
  policy['serving'].update(dict(load_test_users=2, load_test_seconds=3, serving_min_qps=2),
                           **serving)
  policy['serving']['canary'].update(canary or {})
  path.write_text(yaml.safe_dump(policy))
  return path


def stop_server(local_dir: Path) -> None:
  """Stops the model server a rollout started in local_dir (it drains its log)."""
  from ct_platform.config import load_settings
  from ct_platform.rollout import server

  server.stop(load_settings({'local_dir': str(local_dir)}, use_variable=False))

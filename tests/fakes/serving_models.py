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

"""Pipeline-wide settings shared by the runners (the TFX template's configs.py)."""

import os
from pathlib import Path

from ct_pipeline import contracts

# KFP v2 pipeline names must match [a-z0-9][a-z0-9-]{0,127}: no underscores.
PIPELINE_NAME = 'chicago-taxi-tipper'

PACKAGE_DIR = Path(__file__).resolve().parent
# The curated schema (pipeline/schema/schema.pbtxt); in the image /pipeline/schema.
SCHEMA_PATH = str(PACKAGE_DIR.parent / 'schema' / 'schema.pbtxt')
IMAGE_SCHEMA_PATH = '/pipeline/schema/schema.pbtxt'

PREPROCESSING_FN = 'ct_pipeline.models.preprocessing.preprocessing_fn'
RUN_FN = 'ct_pipeline.models.model.run_fn'
TUNER_FN = 'ct_pipeline.models.model.tuner_fn'

TRAIN_NUM_STEPS = 1000
EVAL_NUM_STEPS = 150

# Split by hash of the whole serialized row (CsvExampleGen without a partition feature),
# so identical rows always land in the same split: 60% train, 20% eval (the Trainer's
# validation data and the Tuner's objective), 20% test (held out for the Evaluator and
# the gate: the candidate is never judged on rows it was tuned on; the champion is
# evaluated on the same test rows).
SPLIT_BUCKETS = {'train': 3, 'eval': 1, 'test': 1}
TRAINER_EVAL_SPLIT = 'eval'
EVALUATOR_SPLIT = 'test'

# Compiled-pipeline variants: with the champion as the Evaluator's baseline, or
# without one for the very first run (names and rule: contracts/layout.py).
VARIANTS = contracts.layout().VARIANTS

# Beam for local runs: in_memory, because on the shipped sample multi_processing's worker
# start-up costs more than a few cores save (figures: README, Benchmarks). CT_BEAM_MODE
# switches for big spans.
DEFAULT_BEAM_MODE = os.environ.get('CT_BEAM_MODE', 'in_memory')


def train_args_json(num_steps: int = TRAIN_NUM_STEPS) -> str:
  """The Trainer's train_args runtime parameter: a whole TrainArgs proto as JSON."""
  return contracts.layout().train_args(num_steps)


def push_destination_json(base_directory: str) -> str:
  """The Pusher's push_destination runtime parameter: a PushDestination as JSON."""
  return contracts.layout().push_destination(base_directory)


def beam_pipeline_args(mode: str = DEFAULT_BEAM_MODE, workers: int = 0) -> list:
  if mode not in ('in_memory', 'multi_processing', 'multi_threading'):
    raise ValueError(f'beam mode {mode!r}: expected in_memory, multi_processing or '
                     f'multi_threading')
  if mode == 'in_memory':
    # DirectRunner's default. Empty args also stop TFX from re-packaging itself as an
    # sdist for Beam workers before every Beam component (1-2 s each).
    return []
  # Naming a worker image has the same effect (TFX then assumes the workers have our
  # code, which local worker processes do: they share this venv).
  return [f'--direct_running_mode={mode}',
          f'--direct_num_workers={workers or os.cpu_count() or 1}',
          '--sdk_container_image=local-venv']


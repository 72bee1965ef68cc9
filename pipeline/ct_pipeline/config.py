"""Pipeline-wide settings shared by the runners (the TFX template's configs.py)."""

import json
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

# Beam for local runs, by the span's size (`auto`, the default): in_memory below
# MULTI_PROCESSING_MIN_ROWS rows, where multi_processing's worker start-up and shuffling
# cost more than the cores save; multi_processing from there. Measured on 2 cores, the
# pipeline alone (README, Benchmarks): 150k rows 130 s in_memory vs 168 s; 1.5M rows
# 513 s vs 389 s; the crossover, interpolated on the log scale, about 450k rows.
# CT_BEAM_MODE fixes a mode; CT_BEAM_MULTI_PROCESSING_ROWS moves the crossover (lower it
# with more cores).
BEAM_MODES = ('in_memory', 'multi_processing', 'multi_threading')
MULTI_PROCESSING_MIN_ROWS = int(os.environ.get('CT_BEAM_MULTI_PROCESSING_ROWS', 450_000))
DEFAULT_BEAM_MODE = os.environ.get('CT_BEAM_MODE', 'auto')


def span_rows(span_uri: str) -> int:
  """The span's row count: its manifest's `rows` (the DAG's extract writes one), else
  the lines of its *.csv files less their headers (a line break inside a quoted cell
  counts twice: close enough to pick a Beam mode)."""
  manifest = os.path.join(span_uri, '_MANIFEST.json')
  if os.path.isfile(manifest):
    with open(manifest) as f:
      rows = json.load(f).get('rows')
    if isinstance(rows, int):
      return rows
  total = 0
  for name in sorted(os.listdir(span_uri)):
    if name.endswith('.csv'):
      with open(os.path.join(span_uri, name), 'rb') as f:
        total += max(sum(block.count(b'\n') for block in iter(lambda: f.read(1 << 20), b''))
                     - 1, 0)
  return total


def resolve_beam_mode(mode: str, span_uri: str,
                      min_rows: int = MULTI_PROCESSING_MIN_ROWS) -> tuple:
  """(mode, why) for a local run: `auto` decides by the span's rows."""
  if mode != 'auto':
    return mode, 'as configured'
  rows = span_rows(span_uri)
  if rows >= min_rows:
    return 'multi_processing', f'auto: {rows:,} rows >= {min_rows:,}'
  return 'in_memory', f'auto: {rows:,} rows < {min_rows:,}'


def train_args_json(num_steps: int = TRAIN_NUM_STEPS) -> str:
  """The Trainer's train_args runtime parameter: a whole TrainArgs proto as JSON."""
  return contracts.layout().train_args(num_steps)


def push_destination_json(base_directory: str) -> str:
  """The Pusher's push_destination runtime parameter: a PushDestination as JSON."""
  return contracts.layout().push_destination(base_directory)


def beam_pipeline_args(mode: str = 'in_memory', workers: int = 0) -> list:
  if mode not in BEAM_MODES:
    raise ValueError(f'beam mode {mode!r}: expected in_memory, multi_processing or '
                     f'multi_threading (auto is resolved by resolve_beam_mode)')
  if mode == 'in_memory':
    # DirectRunner's default. Empty args also stop TFX from re-packaging itself as an
    # sdist for Beam workers before every Beam component (1-2 s each).
    return []
  # Naming a worker image has the same effect (TFX then assumes the workers have our
  # code, which local worker processes do: they share this venv).
  return [f'--direct_running_mode={mode}',
          f'--direct_num_workers={workers or os.cpu_count() or 1}',
          '--sdk_container_image=local-venv']


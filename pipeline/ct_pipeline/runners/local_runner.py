"""Runs the pipeline once with TFX's LocalDagRunner (Beam DirectRunner, SQLite MLMD).

This is what the DAG's local backend starts, in the pipeline env, as its own process.
The runtime parameters take the values given here as their defaults.

  python -m ct_pipeline.runners.local_runner --span-uri DIR --output-dir DIR [...]
"""

import argparse
import json
import logging
import os
import sys
import time

from ct_pipeline import config, contracts
from ct_pipeline.runners import resume


def parse_args(argv=None):
  p = argparse.ArgumentParser(
      prog='python -m ct_pipeline.runners.local_runner', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--span-uri', required=True,
                 help='folder with the span CSV files (only *.csv is read)')
  p.add_argument('--output-dir', required=True,
                 help='this run\'s folder: pipeline_root, candidate and summary go here')
  p.add_argument('--metadata-path', default=None,
                 help='SQLite MLMD file (default: <output-dir>/metadata.sqlite)')
  p.add_argument('--summary-uri', default=None,
                 help='where to write run_summary.json (default: <output-dir>/run_summary.json)')
  p.add_argument('--run-id', default='manual', help='recorded in the run summary')
  p.add_argument('--baseline-model-uri', default='',
                 help='the champion (TFX Model layout); empty: the first-run variant')
  p.add_argument('--train-steps', type=int, default=config.TRAIN_NUM_STEPS)
  p.add_argument('--eval-steps', type=int, default=config.EVAL_NUM_STEPS)
  p.add_argument('--hparams', default='{}',
                 help='JSON of model hyperparameters, e.g. {"hidden_units": [8]}')
  p.add_argument('--enable-tuning', action='store_true', help='add the KerasTuner Tuner')
  p.add_argument('--tuning-trials', type=int, default=4, help='random-search trials')
  p.add_argument('--beam-mode', default=config.DEFAULT_BEAM_MODE,
                 choices=['auto', *config.BEAM_MODES],
                 help='auto (default; CT_BEAM_MODE): in_memory below '
                 f'{config.MULTI_PROCESSING_MIN_ROWS:,} span rows, multi_processing from there')
  p.add_argument('--beam-workers', type=int, default=0, help='0: one per core')
  p.add_argument('--pipeline-version', default=os.environ.get('CT_PIPELINE_VERSION', 'dev'))
  p.add_argument('--schema-path', default=config.SCHEMA_PATH)
  p.add_argument('--resume-from', default='', metavar='RUN_DIR',
                 help='a failed earlier attempt\'s run folder: steps whose code, parameters '
                 'and inputs are unchanged are reused from it (TFX\'s cache), so the run '
                 'starts after its last completed step; ignored when the code changed')
  args = p.parse_args(argv)
  if args.train_steps < 1:
    p.error(f'--train-steps must be >= 1, got {args.train_steps}')
  if args.eval_steps < 1:
    p.error(f'--eval-steps must be >= 1, got {args.eval_steps}')
  try:
    args.hparams = json.loads(args.hparams)
  except json.JSONDecodeError as e:
    p.error(f'--hparams is not JSON ({e}): {args.hparams!r}')
  if not os.path.isdir(args.span_uri):
    p.error(f'--span-uri {args.span_uri!r} is not a folder')
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=logging.INFO,
                      format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  from ct_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from ct_pipeline import tfx_api as tfx  # pylint: disable=g-import-not-at-top  (keeps --help fast)

  output_dir = os.path.abspath(args.output_dir)
  os.makedirs(output_dir, exist_ok=True)
  pipeline_root = os.path.join(output_dir, 'pipeline_root')
  layout = contracts.layout()
  summary_uri = args.summary_uri or layout.run_summary_uri(output_dir)
  metadata_path = args.metadata_path or os.path.join(output_dir, 'metadata.sqlite')
  params = pipeline.runtime_parameters(
      span_uri=os.path.abspath(args.span_uri), summary_uri=summary_uri,
      run_id=args.run_id, baseline_model_uri=args.baseline_model_uri,
      train_args=config.train_args_json(args.train_steps),
      push_destination=layout.push_destination(layout.candidate_dir(output_dir)))
  fingerprint = resume.code_fingerprint(contracts.contracts_dir(), args.schema_path)
  plan = resume.prepare(args.resume_from, output_dir, metadata_path, fingerprint)
  # written first: a later attempt resumes from this one only with the same code
  with open(os.path.join(output_dir, resume.CODE_FINGERPRINT), 'w') as f:
    f.write(fingerprint + '\n')
  if args.resume_from:
    logging.info('resume from %s: %s', args.resume_from, plan.reason)
  beam_mode, why = config.resolve_beam_mode(args.beam_mode, args.span_uri)
  logging.info('beam mode: %s (%s)', beam_mode, why)
  p = pipeline.create_pipeline(
      pipeline_root=pipeline_root, params=params,
      with_baseline=bool(args.baseline_model_uri), schema_path=args.schema_path,
      pipeline_version=args.pipeline_version, eval_steps=args.eval_steps,
      hparams=args.hparams, enable_tuning=args.enable_tuning,
      tuning_trials=args.tuning_trials,
      beam_pipeline_args=config.beam_pipeline_args(beam_mode, args.beam_workers),
      enable_cache=plan.enabled,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(metadata_path))
  started = time.monotonic()
  tfx.orchestration.LocalDagRunner().run(p)
  if args.resume_from:
    resume.record(output_dir, plan, resume.reused_steps(metadata_path,
                                                         plan.first_new_execution_id)
                  if plan.enabled else [])
  logging.info('pipeline finished in %.1f s; summary: %s', time.monotonic() - started,
               summary_uri)
  return 0


if __name__ == '__main__':
  sys.exit(main())

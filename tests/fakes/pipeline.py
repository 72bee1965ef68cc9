"""A stand-in for the TFX local runner, for the orchestration tests (seconds, not minutes).

Takes the local runner's arguments, writes the same outputs (a TFX-layout model folder
and a run summary that passes the schema), and behaves as FAKE_PIPELINE_MODE says:
  succeed (default)   sleep FAKE_PIPELINE_SECONDS, then write a blessed summary
  reject              a summary whose candidate is worse than the champion
  fail                exit 3 after printing an error
  fail-first-attempt  fail when the run id is attempt 1 (-a1-), else succeed
  crash-first-attempt SIGKILL itself on attempt 1 (the OOM killer, a node drain), else
                      succeed
  hang                sleep for an hour (to be killed or cancelled)
FAKE_PIPELINE_RELEASE=<file>: before finishing, wait until the file exists (a test that
must act while the run is running releases it when done, whatever the machine's speed).
Every start appends a line to <FAKE_PIPELINE_COUNTER> (one process per submit): run id,
pid, and the --resume-from folder or -.
FAKE_PIPELINE_MODEL=<folder>: the candidate is that stand-in SavedModel (tests/fakes/
serving_models.py) with its smoke rows, so serving and the rollout can load it.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / 'plugins' / 'data'


def main():
  p = argparse.ArgumentParser()
  for flag in ('--span-uri', '--output-dir', '--summary-uri', '--run-id',
               '--pipeline-version', '--baseline-model-uri', '--hparams', '--resume-from'):
    p.add_argument(flag, default='')
  p.add_argument('--train-steps', type=int, default=1000)
  args = p.parse_args()
  counter = os.environ.get('FAKE_PIPELINE_COUNTER')
  if counter:
    with open(counter, 'a') as f:
      f.write(f'{args.run_id} {os.getpid()} {args.resume_from or "-"}\n')
  mode = os.environ.get('FAKE_PIPELINE_MODE', 'succeed')
  if mode == 'fail-first-attempt':
    mode = 'fail' if '-a1-' in args.run_id else 'succeed'
  if mode == 'crash-first-attempt':
    mode = 'crash' if '-a1-' in args.run_id else 'succeed'
  if mode == 'crash':
    import signal
    print(f'fake pipeline {args.run_id}: killed', flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
  print(f'fake pipeline {args.run_id}: mode {mode}', flush=True)
  if mode == 'hang':
    time.sleep(3600)
  time.sleep(float(os.environ.get('FAKE_PIPELINE_SECONDS', '1')))
  release = os.environ.get('FAKE_PIPELINE_RELEASE')
  while release and not Path(release).exists():
    time.sleep(0.5)
  if mode == 'fail':
    print('Traceback (most recent call last):\nValueError: the fake pipeline failed on '
          'purpose', flush=True)
    return 3
  model = Path(args.output_dir) / 'pipeline_root' / 'Trainer' / 'model' / '1'
  (model / 'Format-Serving').mkdir(parents=True, exist_ok=True)
  (model / 'Format-Serving' / 'saved_model.pb').write_bytes(b'fake model ' +
                                                          args.run_id.encode())
  stand_in = os.environ.get('FAKE_PIPELINE_MODEL')
  if stand_in:
    import shutil
    shutil.rmtree(model / 'Format-Serving')
    shutil.copytree(Path(stand_in) / 'Format-Serving', model / 'Format-Serving')
    shutil.copy(Path(stand_in) / 'smoke_rows.json', Path(args.output_dir) / 'smoke_rows.json')
  name = 'rejected' if mode == 'reject' else 'blessed'
  summary = json.loads((DATA / f'run_summary_{name}.json').read_text())
  if stand_in:
    summary['smoke_test']['rows_uri'] = str(Path(args.output_dir) / 'smoke_rows.json')
  summary.update(run_id=args.run_id, candidate_model_uri=str(model),
                 baseline_model_uri=args.baseline_model_uri or None)
  summary['span']['uri'] = args.span_uri
  summary['pipeline']['variant'] = 'with_baseline' if args.baseline_model_uri else 'first_run'
  if not args.baseline_model_uri:
    summary['metrics']['baseline'] = None
    summary['blessing'] = {'evaluated': True, 'blessed': True, 'reasons': []}
  elif mode != 'reject':
    summary['metrics']['baseline'] = summary['metrics']['candidate']
  Path(args.summary_uri).write_text(json.dumps(summary, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""Benchmark: our pipeline vs the TFX taxi template, same data, same invocation.

Both run the whole shipped sample (15,002 rows) with 1000 train steps, each in its
own process under the local runner. Prints wall time (whole process and the
pipeline's own run, as each runner reports it), peak RSS of the process tree, and,
last, pipeline_ratio_vs_template=<ours/template> on pipeline time.

  python bench/bench_pipeline.py --data DIR [--beam-mode in_memory|multi_processing]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(name, cmd, log_path, env):
  """Runs cmd; returns (process seconds, pipeline seconds, peak RSS MB of the tree)."""
  # A fresh measuring process per run, so ru_maxrss of its children is this run's only.
  wrapper = ('import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); '
             'print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, '
             'file=sys.stderr); sys.exit(rc)')
  started = time.monotonic()
  with open(log_path, 'w') as log:
    proc = subprocess.run([sys.executable, '-c', wrapper, *cmd], stdout=log,
                          stderr=subprocess.STDOUT, env=env)
  wall = time.monotonic() - started
  text = Path(log_path).read_text()
  if proc.returncode != 0:
    sys.exit(f'{name} failed (exit {proc.returncode}); log: {log_path}\n{text[-3000:]}')
  rss_kb = int(re.findall(r'MAXRSS_KB (\d+)', text)[-1])
  pipeline_s = float(re.findall(r'pipeline finished in ([0-9.]+) s', text)[-1])
  return wall, pipeline_s, rss_kb / 1024


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--data', required=True, help='folder with the taxi CSV')
  p.add_argument('--train-steps', type=int, default=1000)
  p.add_argument('--beam-mode', default=os.environ.get('CT_BEAM_MODE', 'in_memory'))
  p.add_argument('--work-dir', default=None)
  args = p.parse_args()

  work = Path(args.work_dir or tempfile.mkdtemp(prefix='bench-pipeline-'))
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'), TF_CPP_MIN_LOG_LEVEL='2')
  ours_cmd = [sys.executable, '-m', 'ct_pipeline.runners.local_runner',
              '--span-uri', args.data, '--output-dir', str(work / 'ours'),
              '--train-steps', str(args.train_steps), '--eval-steps', '150',
              '--beam-mode', args.beam_mode, '--run-id', 'bench']
  template_cmd = [sys.executable, str(REPO / 'bench' / 'template_runner.py'),
                  '--data', args.data, '--output-dir', str(work / 'template')]
  print(f'cores: {os.cpu_count()}  rows: '
        f'{sum(1 for _ in open(next(Path(args.data).glob("*.csv")))) - 1}  '
        f'train steps: {args.train_steps}  work dir: {work}', flush=True)
  results = {}
  for name, cmd in (('template', template_cmd), ('ours', ours_cmd)):
    print(f'running {name} ...', flush=True)
    results[name] = measure(name, cmd, work / f'{name}.log', env)
    wall, pipe, rss = results[name]
    print(f'{name:<9} process {wall:6.1f} s  pipeline {pipe:6.1f} s  peak RSS {rss:6.0f} MB',
          flush=True)
  ratio = results['ours'][1] / results['template'][1]
  print(f'pipeline_ratio_vs_template={ratio:.2f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

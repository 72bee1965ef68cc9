"""Benchmark: our pipeline vs the TFX taxi template, same data, same invocation.

Both run the whole shipped sample (15,002 rows) with 1000 train steps, each in its
own process under the local runner. Prints wall time (whole process and the
pipeline's own run, as each runner reports it), peak RSS of the process tree, and,
each component's wall time for both pipelines side by side (from MLMD: each execution's
registration to its last update, so the executor plus its output publishing) and,
last, pipeline_ratio_vs_template=<ours/template> on pipeline time.

  python bench/bench_pipeline.py --data DIR [--beam-mode in_memory|multi_processing]
"""

import argparse
import os
import re
import sqlite3
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


def component_seconds(metadata_path: Path) -> dict:
  """{component id: seconds} of a local run, from its MLMD SQLite file: each execution
  is associated with its node's context (named '<pipeline>.<component id>')."""
  con = sqlite3.connect(f'file:{metadata_path}?mode=ro', uri=True)
  try:
    rows = con.execute(
        "SELECT c.name, e.create_time_since_epoch, e.last_update_time_since_epoch "
        "FROM Execution e JOIN Association a ON a.execution_id = e.id "
        "JOIN Context c ON c.id = a.context_id JOIN Type t ON t.id = c.type_id "
        "WHERE t.name = 'node'").fetchall()
  finally:
    con.close()
  out = {}
  for name, created, updated in rows:
    component = name.split('.', 1)[-1]
    out[component] = out.get(component, 0.0) + (updated - created) / 1000
  return out


def print_components(template: dict, ours: dict) -> None:
  # the template's component ids are ours where both have the component
  names = sorted(set(template) | set(ours), key=lambda n: -max(template.get(n, 0),
                                                                 ours.get(n, 0)))
  print(f'\n{"component":<24} {"template":>9} {"ours":>9}')
  for name in names:
    t, o = template.get(name), ours.get(name)
    print(f'{name:<24} {f"{t:.1f} s" if t is not None else "-":>9} '
          f'{f"{o:.1f} s" if o is not None else "-":>9}')
  print(f'{"sum":<24} {sum(template.values()):7.1f} s {sum(ours.values()):7.1f} s\n')


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--data', required=True, help='folder with the taxi CSV')
  p.add_argument('--train-steps', type=int, default=1000)
  p.add_argument('--beam-mode', default=os.environ.get('CT_BEAM_MODE', 'auto'))
  p.add_argument('--work-dir', default=None)
  args = p.parse_args()

  work = Path(args.work_dir or tempfile.mkdtemp(prefix='bench-pipeline-'))
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'), TF_CPP_MIN_LOG_LEVEL='2')
  ours_cmd = [sys.executable, '-m', 'ct_pipeline.runners.local_runner',
              '--span-uri', args.data, '--output-dir', str(work / 'ours'),
              '--train-steps', str(args.train_steps), '--eval-steps', '150',
              '--beam-mode', args.beam_mode, '--run-id', 'bench']
  # the template's CsvExampleGen reads every file of its folder: the CSVs only
  csv_only = work / 'template-data'
  csv_only.mkdir(parents=True, exist_ok=True)
  for csv in Path(args.data).glob('*.csv'):
    if not (csv_only / csv.name).exists():
      (csv_only / csv.name).symlink_to(csv.resolve())
  template_cmd = [sys.executable, str(REPO / 'bench' / 'template_runner.py'),
                  '--data', str(csv_only), '--output-dir', str(work / 'template')]
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
  print_components(component_seconds(work / 'template' / 'metadata.sqlite'),
                   component_seconds(work / 'ours' / 'metadata.sqlite'))
  ratio = results['ours'][1] / results['template'][1]
  print(f'pipeline_ratio_vs_template={ratio:.2f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

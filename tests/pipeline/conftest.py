"""Shared fixtures for the pipeline tests (run in .venv-pipeline).

One real pipeline run per scenario, shared by every test that reads its outputs:
  first_run    a few hundred rows, few steps, no champion (first-run variant)
  second_run   same span, the first run's model as the Evaluator's baseline
  broken runs  a span with a column missing; text in a numeric column; NaN and infinity
               in numeric columns; an absurd fare and a garbage payment type in a span
               whose every row is duplicated (stopped at validation); a window where
               nobody tips (trained, then judged on a test split with one class)
The good span carries a payment type the 2013-2016 sample lacks but the public table
has (Mobile, from 2017): it must pass validation.
The runs are started as separate processes, the way the DAG's local backend starts
them, all at once, so the suite pays for about one run's wall time, not eight.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TRAIN_STEPS = 60
EVAL_STEPS = 10
SAMPLE_EVERY = 25  # every 25th row of the 15,002: 600 rows over all four years


def sample_csv_path() -> Path:
  """The shipped sample (pipeline/data/taxi_sample/, a copy of the tfx wheel's)."""
  return REPO / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv'


def read_sample(every=SAMPLE_EVERY):
  with open(sample_csv_path(), newline='') as f:
    rows = list(csv.DictReader(f))
  return rows[::every]


def write_span(folder: Path, rows, columns=None) -> Path:
  folder.mkdir(parents=True, exist_ok=True)
  columns = columns or list(rows[0].keys())
  with open(folder / 'part-000.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)
  # A manifest beside the data, as the DAG writes it: must never be read as rows.
  (folder / '_MANIFEST.json').write_text(json.dumps({'rows': len(rows), 'complete': True}))
  return folder


def start_run(span: Path, out: Path, *extra) -> subprocess.Popen:
  out.mkdir(parents=True, exist_ok=True)
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'), TF_CPP_MIN_LOG_LEVEL='2')
  cmd = [sys.executable, '-m', 'ct_pipeline.runners.local_runner', '--span-uri', str(span),
         '--output-dir', str(out), '--train-steps', str(TRAIN_STEPS), '--eval-steps',
         str(EVAL_STEPS), '--run-id', f'test-{out.name}', *extra]
  log = open(out / 'runner.log', 'w')
  return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


class Run:
  def __init__(self, out: Path, proc: subprocess.Popen):
    self.out, self.proc = out, proc

  def wait(self):
    rc = self.proc.wait()
    if rc != 0:
      tail = (self.out / 'runner.log').read_text()[-4000:]
      pytest.fail(f'pipeline run in {self.out} exited {rc}:\n{tail}')
    return self

  @property
  def summary(self) -> dict:
    return json.loads((self.out / 'run_summary.json').read_text())

  @property
  def pipeline_root(self) -> Path:
    return self.out / 'pipeline_root'


@pytest.fixture(scope='session')
def runs_dir():
  """build/test-output/pipeline-runs: the serving suite reads the first run's model from
  here instead of training its own (one real run shared by the suites that read it)."""
  path = REPO / 'build' / 'test-output' / 'pipeline-runs'
  shutil.rmtree(path, ignore_errors=True)
  path.mkdir(parents=True)
  return path


@pytest.fixture(scope='session')
def _started_runs(runs_dir):
  rows = read_sample()
  for r in rows[::13]:
    r['payment_type'] = 'Mobile'  # legitimate, from 2017 on: in the curated domain
  good = write_span(runs_dir / 'span-good', rows)
  missing_column = write_span(runs_dir / 'span-missing-column', rows,
                              [c for c in rows[0] if c != 'payment_type'])
  text_rows = [dict(r) for r in rows]
  for r in text_rows[::7]:
    r['trip_miles'] = 'twelve'
  text_in_numeric = write_span(runs_dir / 'span-text-in-numeric', text_rows)
  nan_rows = [dict(r) for r in rows]
  for r in nan_rows[::9]:
    r['fare'] = 'nan'
  for r in nan_rows[1::11]:
    r['trip_miles'] = 'inf'
  non_finite = write_span(runs_dir / 'span-non-finite', nan_rows)
  odd_rows = [dict(r) for r in rows]
  odd_rows[3]['fare'] = '41000000'
  for r in odd_rows[::50]:
    r['payment_type'] = 'Bitcoin??'
  out_of_range = write_span(runs_dir / 'span-out-of-range',
                            [r for r in odd_rows for _ in (0, 1)])  # every row twice
  no_tips = write_span(runs_dir / 'span-no-tips', [dict(r, tips='0.0') for r in rows])
  return {
      'good_span': good,
      'tuned': Run(runs_dir / 'tuned', start_run(good, runs_dir / 'tuned', '--enable-tuning',
                                                 '--tuning-trials', '2')),
      'first': Run(runs_dir / 'first', start_run(good, runs_dir / 'first')),
      'missing_column': Run(runs_dir / 'missing-column',
                            start_run(missing_column, runs_dir / 'missing-column')),
      'text_in_numeric': Run(runs_dir / 'text-in-numeric',
                             start_run(text_in_numeric, runs_dir / 'text-in-numeric')),
      'non_finite': Run(runs_dir / 'non-finite',
                        start_run(non_finite, runs_dir / 'non-finite')),
      'out_of_range': Run(runs_dir / 'out-of-range',
                          start_run(out_of_range, runs_dir / 'out-of-range')),
      'no_tips': Run(runs_dir / 'no-tips', start_run(no_tips, runs_dir / 'no-tips')),
  }


@pytest.fixture(scope='session')
def good_span(_started_runs):
  return _started_runs['good_span']


@pytest.fixture(scope='session')
def first_run(_started_runs):
  return _started_runs['first'].wait()


@pytest.fixture(scope='session')
def second_run(first_run, good_span, runs_dir):
  baseline = first_run.summary['candidate_model_uri']
  # A deliberately worse candidate (one training step at a tiny learning rate: an
  # untrained model) evaluated against the champion on the same eval split.
  return Run(runs_dir / 'second', start_run(
      good_span, runs_dir / 'second', '--baseline-model-uri', baseline,
      '--train-steps', '1',
      '--hparams', json.dumps({'hidden_units': [2], 'learning_rate': 1e-6}))).wait()


@pytest.fixture(scope='session')
def tuned_run(_started_runs):
  return _started_runs['tuned'].wait()


@pytest.fixture(scope='session')
def missing_column_run(_started_runs):
  return _started_runs['missing_column'].wait()


@pytest.fixture(scope='session')
def text_in_numeric_run(_started_runs):
  return _started_runs['text_in_numeric'].wait()


@pytest.fixture(scope='session')
def non_finite_run(_started_runs):
  return _started_runs['non_finite'].wait()


@pytest.fixture(scope='session')
def out_of_range_run(_started_runs):
  return _started_runs['out_of_range'].wait()


@pytest.fixture(scope='session')
def no_tips_run(_started_runs):
  return _started_runs['no_tips'].wait()

"""The runners' command lines: --help, and specific errors for bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ct_pipeline import config

REPO = Path(__file__).resolve().parents[2]


def _run(module, *args):
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'))
  return subprocess.run([sys.executable, '-m', module, *args], env=env,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('module', ['ct_pipeline.runners.local_runner',
                                    'ct_pipeline.runners.kfp_compile',
                                    'ct_pipeline.schema_bootstrap'])
def test_help(module):
  proc = _run(module, '--help')
  assert proc.returncode == 0 and 'usage:' in proc.stdout


@pytest.mark.parametrize('args, message', [
    (['--train-steps', '0'], '--train-steps must be >= 1, got 0'),
    (['--hparams', '{hidden'], '--hparams is not JSON'),
    (['--beam-mode', 'turbo'], "invalid choice: 'turbo'"),
])
def test_local_runner_rejects_bad_input(tmp_path, args, message):
  proc = _run('ct_pipeline.runners.local_runner', '--span-uri', str(tmp_path),
              '--output-dir', str(tmp_path / 'out'), *args)
  assert proc.returncode == 2 and message in proc.stderr


def test_local_runner_rejects_a_missing_span(tmp_path):
  proc = _run('ct_pipeline.runners.local_runner', '--span-uri', str(tmp_path / 'nope'),
              '--output-dir', str(tmp_path / 'out'))
  assert proc.returncode == 2 and 'is not a folder' in proc.stderr


@pytest.mark.parametrize('image', ['gcr.io/p/tipper:latest', 'gcr.io/p/tipper'])
def test_kfp_compile_refuses_an_unpinned_image(tmp_path, image):
  proc = _run('ct_pipeline.runners.kfp_compile', '--output-dir', str(tmp_path),
              '--image', image)
  assert proc.returncode == 2 and 'explicit tag other than latest' in proc.stderr


def test_beam_args():
  assert config.beam_pipeline_args('in_memory') == []
  args = config.beam_pipeline_args('multi_processing', 2)
  assert '--direct_running_mode=multi_processing' in args
  assert '--direct_num_workers=2' in args
  with pytest.raises(ValueError, match="beam mode 'fast'"):
    config.beam_pipeline_args('fast')

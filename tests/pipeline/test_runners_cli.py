"""The runners' command lines: --help, and specific errors for bad input."""

import json
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


def test_auto_beam_mode_follows_the_span_size(tmp_path):
  # the DAG's extract writes the row count in the span's manifest
  span = tmp_path / 'span'
  span.mkdir()
  (span / '_MANIFEST.json').write_text('{"rows": 600000, "complete": true}')
  assert config.resolve_beam_mode('auto', str(span), min_rows=600_000) == (
      'multi_processing', 'auto: 600,000 rows >= 600,000')
  assert config.resolve_beam_mode('auto', str(span), min_rows=600_001)[0] == 'in_memory'
  # no manifest: the CSV lines less each file's header
  (span / '_MANIFEST.json').unlink()
  (span / 'part-0.csv').write_text('a\n1\n2\n3\n')
  (span / 'part-1.csv').write_text('a\n4\n')
  (span / 'notes.txt').write_text('x\n' * 50)
  assert config.span_rows(str(span)) == 4
  assert config.resolve_beam_mode('auto', str(span), min_rows=5) == (
      'in_memory', 'auto: 4 rows < 5')
  # a fixed mode is kept whatever the size
  assert config.resolve_beam_mode('multi_processing', str(span)) == (
      'multi_processing', 'as configured')
  assert config.DEFAULT_BEAM_MODE == os.environ.get('CT_BEAM_MODE', 'auto')


# Builds the local pipeline as local_runner does and reports whether the Vertex AI client
# library got imported (8 s of a pipeline process's start-up on 2 cores).
_BUILD = '''
import json, sys
from ct_pipeline import pipeline, scale_out
from ct_pipeline.models import model
from ct_pipeline.runners import local_runner
params = pipeline.runtime_parameters(span_uri='/span', summary_uri='/s.json', run_id='r',
                                     baseline_model_uri='', push_destination='/push')
vertex = json.loads(sys.argv[1])
pipeline.create_pipeline(
    pipeline_root='/root', params=params, with_baseline=True, enable_tuning=True,
    vertex_training=scale_out.VertexTraining(**vertex) if vertex else None)
print('IMPORTED', 'google.cloud.aiplatform' in sys.modules)
'''


@pytest.mark.parametrize('vertex, imported', [
    ({}, False),
    ({'project': 'p', 'region': 'us-central1',
      'image': 'us-docker.pkg.dev/p/r/ct-pipeline:abc123'}, True),
])
def test_only_a_vertex_trainer_imports_the_vertex_ai_client(vertex, imported):
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'), TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([sys.executable, '-c', _BUILD, json.dumps(vertex)], env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'IMPORTED {imported}' in proc.stdout

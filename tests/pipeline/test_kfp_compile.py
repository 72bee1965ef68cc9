"""The KFP v2 compile: both variants, their runtime parameters, and the Vertex client."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

REPO = Path(__file__).resolve().parents[2]
IMAGE = 'us-docker.pkg.dev/p/ct/chicago-taxi-tipper:0123abcd'
COMMON_TASKS = {'CsvExampleGen', 'StatisticsGen', 'ImportSchemaGen', 'ExampleValidator',
                'AnomalyCheck', 'Transform', 'Trainer', 'Evaluator', 'Pusher', 'SmokeTest',
                'run_summary', 'stopped_run_summary'}
COMMON_PARAMETERS = {'span_uri', 'summary_uri', 'run_id', 'train_args', 'push_destination'}


def _compile(out, *extra):
  env = dict(os.environ, PYTHONPATH=str(REPO / 'pipeline'))
  return subprocess.run(
      [sys.executable, '-m', 'ct_pipeline.runners.kfp_compile', '--output-dir', str(out),
       '--image', IMAGE, '--pipeline-version', '0123abcd', *extra],
      env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  out = tmp_path_factory.mktemp('compiled')
  proc = _compile(out)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def _job(compiled, variant):
  return json.loads((compiled / variant / 'pipeline.json').read_text())


@pytest.mark.parametrize('variant, extra_tasks, extra_params', [
    ('with_baseline', {'baseline_model_importer'}, {'baseline_model_uri'}),
    ('first_run', set(), set()),
])
def test_pipeline_job_json(compiled, variant, extra_tasks, extra_params):
  job = _job(compiled, variant)
  assert {'displayName', 'pipelineSpec', 'runtimeConfig'} <= set(job)
  spec = json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())
  assert spec.pipeline_info.name == 'chicago-taxi-tipper'
  assert set(spec.root.dag.tasks) == COMMON_TASKS | extra_tasks
  assert set(spec.root.input_definitions.parameters) == COMMON_PARAMETERS | extra_params
  # the image is this build's tag in every executor
  images = {e['container']['image'] for e in
            job['pipelineSpec']['deploymentSpec']['executors'].values() if 'container' in e}
  assert images == {IMAGE}


def test_tasks_after_validation_run_only_without_anomalies(compiled):
  tasks = _job(compiled, 'with_baseline')['pipelineSpec']['root']['dag']['tasks']
  guarded = {'Transform', 'Trainer', 'Evaluator', 'Pusher', 'SmokeTest', 'run_summary',
             'baseline_model_importer'}
  for name in guarded:
    assert "metadata['anomaly_count'] == 0.0" in tasks[name]['triggerPolicy']['condition']
  assert "metadata['anomaly_count'] > 0.0" in (
      tasks['stopped_run_summary']['triggerPolicy']['condition'])
  for name in ('CsvExampleGen', 'StatisticsGen', 'ExampleValidator', 'AnomalyCheck'):
    assert 'triggerPolicy' not in tasks[name]


def _walk_parameter_references(spec):
  """(dag name, task, referenced parameter) for every componentInputParameter."""
  def visit(dag_name, dag):
    for task_name, task in dag.get('tasks', {}).items():
      for value in task.get('inputs', {}).get('parameters', {}).values():
        if 'componentInputParameter' in value:
          yield dag_name, task_name, value['componentInputParameter']
  yield from visit('root', spec['root']['dag'])
  for name, comp in spec['components'].items():
    if 'dag' in comp:
      yield from visit(name, comp['dag'])


@pytest.mark.parametrize('variant', ['with_baseline', 'first_run'])
def test_every_parameter_reference_resolves(compiled, variant):
  spec = _job(compiled, variant)['pipelineSpec']
  declared = {'root': set(spec['root']['inputDefinitions']['parameters'])}
  for name, comp in spec['components'].items():
    declared[name] = set(comp.get('inputDefinitions', {}).get('parameters', {}))
  refs = list(_walk_parameter_references(spec))
  assert refs, 'no runtime parameter reaches any task'
  for dag, task, param in refs:
    assert param in declared[dag], f'{task} in {dag} reads undeclared {param}'
  used = {p for _, _, p in refs}
  assert {'span_uri', 'summary_uri', 'train_args'} <= used


def test_runtime_parameters_reach_the_right_tasks(compiled):
  tasks = _job(compiled, 'with_baseline')['pipelineSpec']['root']['dag']['tasks']

  def params_of(task):
    return {k: v.get('componentInputParameter') for k, v in
            tasks[task].get('inputs', {}).get('parameters', {}).items()}
  assert params_of('CsvExampleGen')['input_base'] == 'span_uri'
  assert params_of('Trainer')['train_args'] == 'train_args'
  assert params_of('Pusher')['push_destination'] == 'push_destination'
  assert params_of('baseline_model_importer')['artifact_uri'] == 'baseline_model_uri'
  for summary in ('run_summary', 'stopped_run_summary'):
    p = params_of(summary)
    assert p['summary_uri'] == 'summary_uri' and p['run_id'] == 'run_id'


def test_yaml_spec_for_open_source_kfp(compiled):
  """The YAML kfp.Client uploads is schema 2.1.0 (all the KFP API server accepts), the
  same pipeline as the 2.0.0 JSON Vertex AI gets."""
  for variant in ('with_baseline', 'first_run'):
    spec = yaml.safe_load((compiled / variant / 'pipeline.yaml').read_text())
    job_spec = _job(compiled, variant)['pipelineSpec']
    assert spec['schemaVersion'] == '2.1.0' and job_spec['schemaVersion'] == '2.0.0'
    assert spec['root']['dag']['tasks'].keys() == job_spec['root']['dag']['tasks'].keys()
    params = spec['root']['inputDefinitions']['parameters']
    assert params.keys() == job_spec['root']['inputDefinitions']['parameters'].keys()
    assert {p['parameterType'] for p in params.values()} == {'STRING'}
  settings = json.loads((compiled / 'settings.json').read_text())
  assert settings['image'] == IMAGE and settings['version'] == '0123abcd'


VERTEX_CHECK = r'''
import json, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
path, params = sys.argv[1], json.loads(sys.argv[2])
job = aiplatform.PipelineJob(
    display_name='ct', template_path=path, pipeline_root='gs://bucket/runs/r1',
    parameter_values=params, job_id='ct-test-1', project='p', location='us-central1',
    credentials=AnonymousCredentials())
cfg = job._gca_resource.runtime_config
print(json.dumps({'root': cfg.gcs_output_directory,
                  'params': {k: v.string_value for k, v in cfg.parameters.items()}}))
'''


def _vertex(path, params):
  python = REPO / '.venv' / 'bin' / 'python'
  if not python.exists():
    pytest.fail('the orchestration env (.venv) is missing: run `make envs`')
  return subprocess.run([str(python), '-c', VERTEX_CHECK, str(path), json.dumps(params)],
                        capture_output=True, text=True, timeout=300)

# the runtime values the DAG passes to a with_baseline run
RUNTIME_VALUES = {
    'span_uri': 'gs://b/spans/s1', 'summary_uri': 'gs://b/runs/r1/summary.json',
    'run_id': 'r1', 'baseline_model_uri': 'gs://b/registry/m/versions/3',
    'train_args': '{"num_steps": 100}',
    'push_destination': '{"filesystem": {"base_directory": "gs://b/runs/r1/c"}}'}


def test_vertex_pipeline_job_accepts_runtime_values(compiled):
  """In the orchestration env (aiplatform + protobuf 6), as the DAG will submit it."""
  params = dict(RUNTIME_VALUES)
  proc = _vertex(compiled / 'with_baseline' / 'pipeline.json', params)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out == {'root': 'gs://bucket/runs/r1', 'params': params}


def test_vertex_pipeline_job_rejects_an_unknown_parameter(compiled):
  proc = _vertex(compiled / 'first_run' / 'pipeline.json',
                 {'span_uri': 'gs://b/s', 'baseline_model_uri': 'gs://b/m'})
  assert proc.returncode != 0
  assert 'baseline_model_uri' in proc.stderr


# -- scale-out by configuration (ct_pipeline/scale_out.py) --------------------------------

SCALE = ['--beam-runner', 'dataflow', '--trainer', 'vertex', '--project', 'ct-proj',
         '--region', 'europe-west4', '--bucket', 'gs://ct-data',
         '--service-account', 'ct-pipeline@ct-proj.iam.gserviceaccount.com',
         '--subnetwork', 'regions/europe-west4/subnetworks/ct', '--no-public-ips',
         '--trainer-accelerator-type', 'NVIDIA_TESLA_T4', '--trainer-accelerator-count', '1',
         '--beam-arg=--disk_size_gb=100']
DATAFLOW = ['--runner=DataflowRunner', '--project=ct-proj', '--region=europe-west4',
            '--temp_location=gs://ct-data/dataflow/tmp', '--experiments=use_runner_v2',
            f'--sdk_container_image={IMAGE}']
TAIL = ['--service_account_email=ct-pipeline@ct-proj.iam.gserviceaccount.com',
        '--subnetwork=regions/europe-west4/subnetworks/ct', '--no_use_public_ips']


@pytest.fixture(scope='module')
def scaled(tmp_path_factory):
  out = tmp_path_factory.mktemp('scaled')
  proc = _compile(out, *SCALE)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def _args(job, executor):
  return job['pipelineSpec']['deploymentSpec']['executors'][executor]['container']['args']


def _beam_args(args):
  return [a for a in args if a.startswith('--') and '=' in a or a == '--no_use_public_ips']


@pytest.mark.parametrize('variant', ['with_baseline', 'first_run'])
def test_dataflow_args_are_compiled_into_every_beam_step(scaled, variant):
  job = _job(scaled, variant)
  extra = ['--disk_size_gb=100']  # --beam-arg: last everywhere, so it wins everywhere
  standard = DATAFLOW + ['--machine_type=n1-standard-4', '--max_num_workers=10'] + TAIL
  heavy = DATAFLOW + ['--machine_type=n1-highmem-4', '--max_num_workers=20'] + TAIL
  for name in ('CsvExampleGen', 'StatisticsGen'):
    assert _beam_args(_args(job, f'{name}_executor')) == standard + extra, name
  for name in ('Transform', 'Evaluator'):
    # the pipeline's args, then the component's own: Beam takes the last value of a flag
    assert _beam_args(_args(job, f'{name}_executor')) == standard + extra + heavy + extra, name


def test_the_trainer_runs_on_vertex_ai_training_with_the_pipeline_image(scaled):
  job = _job(scaled, 'with_baseline')
  assert _args(job, 'Trainer_executor')[1] == (
      'tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor')
  config = json.loads(job['pipelineSpec']['root']['dag']['tasks']['Trainer']['inputs']
                      ['parameters']['custom_config']['runtimeValue']['constantValue']
                      ['stringValue'])
  assert config['ai_platform_enable_vertex'] is True
  assert config['ai_platform_vertex_region'] == 'europe-west4'
  assert config['ai_platform_training_args'] == {
      'project': 'ct-proj', 'service_account': 'ct-pipeline@ct-proj.iam.gserviceaccount.com',
      'worker_pool_specs': [{
          'machine_spec': {'machine_type': 'n1-standard-8', 'accelerator_type':
                           'NVIDIA_TESLA_T4', 'accelerator_count': 1},
          'replica_count': 1, 'container_spec': {'image_uri': IMAGE}}]}
  assert config['hparams'] == {}
  settings = json.loads((scaled / 'settings.json').read_text())
  assert (settings['beam_runner'], settings['trainer']) == ('dataflow', 'vertex')


def test_the_default_compile_has_no_scale_out_args(compiled):
  job = _job(compiled, 'with_baseline')
  for name, executor in job['pipelineSpec']['deploymentSpec']['executors'].items():
    args = executor.get('container', {}).get('args', [])
    assert not [a for a in args if a.startswith(('--runner', '--project', '--machine_type'))], name
  assert _args(job, 'Trainer_executor')[1] == 'tfx.components.trainer.executor.GenericExecutor'


def test_the_scaled_compile_is_a_job_vertex_ai_accepts(scaled):
  params = dict(RUNTIME_VALUES)
  proc = _vertex(scaled / 'with_baseline' / 'pipeline.json', params)
  assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize('extra, message', [
    (['--beam-runner', 'dataflow', '--project', 'p1'],
     "--bucket '': Dataflow needs a gs:// data bucket"),
    (['--beam-runner', 'dataflow', '--project', 'p1', '--bucket', 'gs://b', '--region', 'eu'],
     "dataflow region: 'eu' is not a region like us-central1"),
    (['--trainer', 'vertex', '--project', 'p1', '--trainer-accelerator-type', 'NVIDIA_TESLA_T4'],
     "accelerator: type 'NVIDIA_TESLA_T4' and count 0: give both or neither"),
    (['--trainer', 'vertex'], 'vertex training project: empty'),
])
def test_bad_scale_out_settings_are_refused_naming_the_setting(tmp_path, extra, message):
  proc = _compile(tmp_path, *extra)
  assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
  assert not (tmp_path / 'with_baseline').exists()

"""Compiles the pipeline for Vertex AI Pipelines / Kubeflow Pipelines (KFP v2 IR).

One compile per code version, two variants (with the champion as baseline, and the
first-run variant without one). Per variant it writes:
  <output-dir>/<variant>/pipeline.json   the PipelineJob (displayName, pipelineSpec,
                                          runtimeConfig) that Vertex AI takes
  <output-dir>/<variant>/pipeline.yaml   the pipelineSpec alone, which kfp.Client
                                          uploads to open-source KFP (.yaml only)
  <output-dir>/settings.json             image, version, runtime parameter names
Everything that changes per run is a runtime parameter; the output location is the
job's pipeline_root, set at submission.

  python -m ct_pipeline.runners.kfp_compile --output-dir build/pipeline --image IMAGE
"""

import argparse
import json
import os
import sys
import tempfile

from ct_pipeline import config, contracts

# Placeholder root compiled into runtimeConfig.gcsOutputDirectory; every submission
# gives its own pipeline_root.
COMPILE_TIME_ROOT = 'gs://set-at-submission/pipeline-root'


def parse_args(argv=None):
  p = argparse.ArgumentParser(prog='python -m ct_pipeline.runners.kfp_compile',
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--output-dir', default='build/pipeline')
  p.add_argument('--image', required=True,
                 help='the pipeline image, pinned to this build\'s tag (never :latest)')
  p.add_argument('--pipeline-version', default=os.environ.get('CT_PIPELINE_VERSION', 'dev'))
  p.add_argument('--schema-path', default=config.IMAGE_SCHEMA_PATH,
                 help='the curated schema as seen inside the image')
  p.add_argument('--eval-steps', type=int, default=config.EVAL_NUM_STEPS)
  p.add_argument('--enable-tuning', action='store_true')
  p.add_argument('--beam-arg', action='append', default=[],
                 help='one more Beam pipeline arg for every Beam step')
  scale = p.add_argument_group('scale-out (ct_pipeline/scale_out.py)')
  scale.add_argument('--beam-runner', choices=['direct', 'dataflow'], default='direct',
                     help='dataflow: the Beam steps run on Dataflow')
  scale.add_argument('--trainer', choices=['default', 'vertex'], default='default',
                     help='vertex: the Trainer runs on Vertex AI Training')
  scale.add_argument('--project', default=os.environ.get('CT_PROJECT', ''))
  scale.add_argument('--region', default=os.environ.get('CT_REGION', 'us-central1'))
  scale.add_argument('--temp-location', default='',
                     help='Dataflow staging/temp folder (default <--bucket>/dataflow/tmp)')
  scale.add_argument('--bucket', default=os.environ.get('CT_BUCKET', ''),
                     help='the data bucket, gs://NAME')
  scale.add_argument('--service-account', default='',
                     help='Dataflow workers\' and the training job\'s service account')
  scale.add_argument('--subnetwork', default='')
  scale.add_argument('--no-public-ips', action='store_true')
  scale.add_argument('--dataflow-machine-type', default='n1-standard-4')
  scale.add_argument('--dataflow-max-workers', type=int, default=10)
  scale.add_argument('--dataflow-heavy-machine-type', default='n1-highmem-4',
                     help='Transform\'s and the Evaluator\'s machines')
  scale.add_argument('--dataflow-heavy-max-workers', type=int, default=20)
  scale.add_argument('--trainer-machine-type', default='n1-standard-8')
  scale.add_argument('--trainer-accelerator-type', default='')
  scale.add_argument('--trainer-accelerator-count', type=int, default=0)
  args = p.parse_args(argv)
  from ct_pipeline import scale_out

  try:
    scale_out.check_image(args.image, '--image')
    args.dataflow, args.vertex_training = scale_out_settings(args)
  except ValueError as e:
    p.error(str(e))
  return args


def scale_out_settings(args):
  """(scale_out.Dataflow or None, scale_out.VertexTraining or None) from the CLI."""
  from ct_pipeline import scale_out

  dataflow = training = None
  if args.beam_runner == 'dataflow':
    if not args.temp_location and not args.bucket.startswith('gs://'):
      raise ValueError(f'--bucket {args.bucket!r}: Dataflow needs a gs:// data bucket (or '
                       f'--temp-location)')
    dataflow = scale_out.Dataflow(
        project=args.project, region=args.region,
        temp_location=args.temp_location or f'{args.bucket.rstrip("/")}/dataflow/tmp',
        image=args.image, service_account=args.service_account,
        subnetwork=args.subnetwork, no_public_ips=args.no_public_ips,
        machine_type=args.dataflow_machine_type, max_workers=args.dataflow_max_workers,
        heavy_machine_type=args.dataflow_heavy_machine_type,
        heavy_max_workers=args.dataflow_heavy_max_workers)
  if args.trainer == 'vertex':
    training = scale_out.VertexTraining(
        project=args.project, region=args.region, image=args.image,
        machine_type=args.trainer_machine_type,
        accelerator_type=args.trainer_accelerator_type,
        accelerator_count=args.trainer_accelerator_count,
        service_account=args.service_account)
  return dataflow, training


def compile_variant(with_baseline: bool, args) -> dict:
  import yaml  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  from ct_pipeline import pipeline  # pylint: disable=g-import-not-at-top

  variant = contracts.layout().variant_for(with_baseline)
  out_dir = os.path.join(args.output_dir, variant)
  os.makedirs(out_dir, exist_ok=True)
  p = pipeline.create_pipeline(
      pipeline_root=COMPILE_TIME_ROOT, params=pipeline.runtime_parameters(),
      with_baseline=with_baseline, schema_path=args.schema_path,
      pipeline_version=args.pipeline_version, eval_steps=args.eval_steps,
      enable_tuning=args.enable_tuning,
      beam_pipeline_args=(args.dataflow.args() if args.dataflow else []) + args.beam_arg,
      # a component's own args come after the pipeline's (Beam keeps a flag's last
      # value), so --beam-arg goes after the heavy steps' own too: it wins everywhere
      component_beam_args=({name: extra + args.beam_arg for name, extra in
                            args.dataflow.component_args().items()}
                           if args.dataflow else None),
      vertex_training=args.vertex_training)
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=args.image),
      output_dir=out_dir, output_filename='pipeline.json')
  runner.run(p, write_out=True)
  job = json.load(open(os.path.join(out_dir, 'pipeline.json')))
  # Open-source KFP's API server accepts pipeline spec schema 2.1.0 only (TFX writes
  # 2.0.0 by default, which Vertex AI takes): the YAML kfp.Client uploads is a 2.1 compile.
  with tempfile.TemporaryDirectory() as tmp:
    tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=args.image, use_pipeline_spec_2_1=True),
        output_dir=tmp, output_filename='pipeline.json').run(p, write_out=True)
    spec_2_1 = json.load(open(os.path.join(tmp, 'pipeline.json')))['pipelineSpec']
  with open(os.path.join(out_dir, 'pipeline.yaml'), 'w') as f:
    yaml.safe_dump(spec_2_1, f, sort_keys=False)
  return {
      'json': os.path.join(variant, 'pipeline.json'),
      'yaml': os.path.join(variant, 'pipeline.yaml'),
      'parameters': sorted(job['pipelineSpec']['root']['inputDefinitions']['parameters']),
  }


def main(argv=None) -> int:
  args = parse_args(argv)
  variants = {v: compile_variant(v == 'with_baseline', args) for v in config.VARIANTS}
  settings = {'pipeline_name': config.PIPELINE_NAME, 'version': args.pipeline_version,
              'image': args.image, 'variants': variants,
              'beam_runner': args.beam_runner, 'trainer': args.trainer}
  with open(os.path.join(args.output_dir, 'settings.json'), 'w') as f:
    json.dump(settings, f, indent=2, sort_keys=True)
  for name, v in variants.items():
    print(f'{name}: {os.path.join(args.output_dir, v["json"])} parameters={v["parameters"]}')
  return 0


if __name__ == '__main__':
  sys.exit(main())

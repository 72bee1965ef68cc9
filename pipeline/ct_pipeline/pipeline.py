"""The TFX pipeline definition, shared by the local runner and the KFP v2 compiler.

    CsvExampleGen(span_uri, *.csv; train / eval / test by row hash) -> StatisticsGen
      -> ExampleValidator(curated schema)
      -> AnomalyCheck
         anomaly_count == 0: Transform -> [Tuner] -> Trainer -> Evaluator(policy,
                             [champion via Importer]) -> Pusher(candidate folder)
                             -> SmokeTest -> RunSummary
         anomaly_count > 0:  StoppedRunSummary

What changes from run to run is a RuntimeParameter (span location, champion URI,
train args, push destination, summary location, run id); the output location is the
run's pipeline_root. Nothing here resolves a baseline from MLMD: the caller passes
the champion (the latest blessed model can be a candidate the gate rejected).
"""

import json
from typing import List, Optional

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2

from ct_pipeline import config, contracts
from ct_pipeline import tfx_api as tfx
from ct_pipeline.components import csv_example_gen
from ct_pipeline.components.anomaly_check import ANOMALY_COUNT_PROPERTY, AnomalyCheck
from ct_pipeline.components.run_summary import RunSummary, StoppedRunSummary
from ct_pipeline.components.smoke_test import SmokeTest
from ct_pipeline.eval_config import build_eval_config


def runtime_parameters(span_uri='', summary_uri='', run_id='manual',
                       baseline_model_uri='', train_args=None, push_destination=''):
  """The pipeline's runtime parameters (names: contracts/layout.py); their defaults are
  what LocalDagRunner uses."""
  names = contracts.layout()
  defaults = {
      names.SPAN_URI: span_uri, names.SUMMARY_URI: summary_uri, names.RUN_ID: run_id,
      names.BASELINE_MODEL_URI: baseline_model_uri,
      names.TRAIN_ARGS: train_args or config.train_args_json(),
      names.PUSH_DESTINATION: push_destination}
  return {name: data_types.RuntimeParameter(name=name, ptype=str, default=defaults[name])
          for name in names.RUNTIME_PARAMETERS}


def create_pipeline(
    pipeline_root: str,
    params: dict,
    with_baseline: bool,
    schema_path: str = config.SCHEMA_PATH,
    pipeline_name: str = config.PIPELINE_NAME,
    pipeline_version: str = 'dev',
    policy: Optional[dict] = None,
    eval_steps: int = config.EVAL_NUM_STEPS,
    hparams: Optional[dict] = None,
    enable_tuning: bool = False,
    tuning_trials: int = 4,
    smoke_test_examples: int = 20,
    beam_pipeline_args: Optional[List[str]] = None,
    metadata_connection_config=None,
    component_beam_args: Optional[dict] = None,
    vertex_training=None,
    enable_cache: bool = False,
) -> tfx.dsl.Pipeline:
  """Builds the pipeline; `params` comes from runtime_parameters().

  enable_cache: TFX's execution cache, on only for a retried attempt resuming from a failed
  one (runners/resume.py): a first attempt always runs every step.

  component_beam_args: {component id: beam_pipeline_args} on top of the pipeline's
  (scale_out.Dataflow.component_args: the heavy components' machines);
  vertex_training: a scale_out.VertexTraining to run the Trainer on Vertex AI Training.
  """
  policy = policy or contracts.load_policy()
  variant = contracts.layout().variant_for(with_baseline)

  # CsvExampleGen's examples and split, read by Arrow and encoded in C++ (5x to 10x
  # faster; components/csv_example_gen.py); the id stays CsvExampleGen
  example_gen = FileBasedExampleGen(
      custom_executor_spec=executor_spec.BeamExecutorSpec(csv_example_gen.Executor),
      input_base=params['span_uri'],
      # Only *.csv: a manifest or marker beside the data is never read as rows. Both
      # configs are explicit, as a runtime input_base on Vertex needs (tfx#4129).
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='span', pattern='*.csv')]),
      output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
          splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                  for name, buckets in config.SPLIT_BUCKETS.items()]))
  ).with_id('CsvExampleGen')
  statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'])
  anomaly_check = AnomalyCheck(anomalies=example_validator.outputs['anomalies'])
  components = [example_gen, statistics_gen, schema_gen, example_validator,
                anomaly_check]

  summary_params = dict(
      summary_uri=params['summary_uri'], run_id=params['run_id'],
      span_uri=params['span_uri'], pipeline_name=pipeline_name,
      pipeline_version=pipeline_version, variant=variant,
      policy_json=json.dumps(policy, sort_keys=True))
  if with_baseline:
    summary_params['baseline_model_uri'] = params['baseline_model_uri']

  anomaly_count = anomaly_check.outputs['verdict'].future()[0].custom_property(
      ANOMALY_COUNT_PROPERTY)

  with tfx.dsl.Cond(anomaly_count == 0):
    transform = tfx.components.Transform(
        examples=example_gen.outputs['examples'],
        schema=schema_gen.outputs['schema'],
        # analyze train; transform what the Trainer reads (the Evaluator and the smoke
        # test read the raw test split through the model's own transform signature)
        splits_config=tfx.proto.SplitsConfig(
            analyze=['train'], transform=['train', config.TRAINER_EVAL_SPLIT]),
        preprocessing_fn=config.PREPROCESSING_FN,
        # Transform's own pre- and post-transform statistics and anomalies are read by
        # nothing here (StatisticsGen and ExampleValidator already judge the raw span,
        # and the gate stops on their anomalies); they cost 12 of its 32 s on the sample
        disable_statistics=True,
        # tf.Transform's TF1 graph mode: the TF2 path traces the 16-feature
        # preprocessing_fn as tf.functions several times over (analysis graph, each
        # phase, the saved transform_fn); graph mode builds it once. 23 -> 15 s on the
        # sample, the same AUC; the Trainer's transform layer, the serving signature and
        # the serving env load its transform_fn as they load the TF2 one
        force_tf_compat_v1=True)
    components.append(transform)

    trainer_args = dict(
        run_fn=config.RUN_FN,
        examples=transform.outputs['transformed_examples'],
        transform_graph=transform.outputs['transform_graph'],
        schema=schema_gen.outputs['schema'],
        # The whole TrainArgs as one runtime parameter (a RuntimeParameter inside
        # the proto does not compile).
        train_args=params['train_args'],
        eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
        custom_config={'hparams': hparams or {}})
    if enable_tuning:
      tuner = tfx.components.Tuner(
          tuner_fn=config.TUNER_FN,
          examples=transform.outputs['transformed_examples'],
          transform_graph=transform.outputs['transform_graph'],
          train_args=tfx.proto.TrainArgs(num_steps=100),
          eval_args=tfx.proto.EvalArgs(num_steps=20),
          custom_config={'max_trials': tuning_trials})
      components.append(tuner)
      trainer_args['hyperparameters'] = tuner.outputs['best_hyperparameters']
    if vertex_training is not None:
      # only here: importing it imports google.cloud.aiplatform (ct_pipeline.tfx_api)
      from tfx.v1.extensions import google_cloud_ai_platform as gcp
      trainer_args['custom_config'].update({
          gcp.ENABLE_VERTEX_KEY: True, gcp.VERTEX_REGION_KEY: vertex_training.region,
          gcp.TRAINING_ARGS_KEY: vertex_training.job_spec()})
      trainer = gcp.Trainer(**trainer_args)
    else:
      trainer = tfx.components.Trainer(**trainer_args)
    components.append(trainer)

    evaluator_args = dict(
        examples=example_gen.outputs['examples'],
        model=trainer.outputs['model'],
        example_splits=[config.EVALUATOR_SPLIT],
        eval_config=build_eval_config(policy))
    summary_inputs = {}
    if with_baseline:
      # The champion, passed by the caller. tfx_version makes the Evaluator look in
      # <uri>/Format-Serving (TFX's Model layout) on every runner.
      baseline = tfx.dsl.Importer(
          source_uri=params['baseline_model_uri'],
          artifact_type=tfx.types.standard_artifacts.Model,
          custom_properties={'tfx_version': '1.16.0'}).with_id('baseline_model_importer')
      components.append(baseline)
      evaluator_args['baseline_model'] = baseline.outputs['result']
      summary_inputs['baseline_model'] = baseline.outputs['result']
    evaluator = tfx.components.Evaluator(**evaluator_args)
    components.append(evaluator)

    # To a candidate folder of this run, never to production: promotion is the
    # DAG's decision. Pusher skips unblessed models.
    pusher = tfx.components.Pusher(
        model=trainer.outputs['model'],
        model_blessing=evaluator.outputs['blessing'],
        push_destination=params['push_destination'])
    components.append(pusher)

    smoke_test = SmokeTest(model=trainer.outputs['model'],
                           examples=example_gen.outputs['examples'],
                           split=config.EVALUATOR_SPLIT,
                           num_examples=smoke_test_examples)
    components.append(smoke_test)

    run_summary = RunSummary(
        examples=example_gen.outputs['examples'],
        statistics=statistics_gen.outputs['statistics'],
        anomalies=example_validator.outputs['anomalies'],
        model=trainer.outputs['model'],
        evaluation=evaluator.outputs['evaluation'],
        blessing=evaluator.outputs['blessing'],
        smoke_test=smoke_test.outputs['result'],
        pushed_model=pusher.outputs['pushed_model'],
        **summary_inputs, **summary_params).with_id('run_summary')
    components.append(run_summary)

  with tfx.dsl.Cond(anomaly_count > 0):
    stopped_summary = StoppedRunSummary(
        examples=example_gen.outputs['examples'],
        statistics=statistics_gen.outputs['statistics'],
        anomalies=example_validator.outputs['anomalies'],
        **summary_params).with_id('stopped_run_summary')
    components.append(stopped_summary)

  for component in components:
    extra = (component_beam_args or {}).get(component.id)
    if extra:
      component.with_beam_pipeline_args(extra)

  return tfx.dsl.Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=beam_pipeline_args or [])

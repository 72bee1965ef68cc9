"""The parts of TFX's public v1 API this package uses, taken from where tfx.v1 takes them.

`from tfx import v1 as tfx` also imports tfx.v1.extensions, and with it
google.cloud.aiplatform: 8.4 s of every local pipeline process's start-up on 2 cores, for a
Trainer extension only `trainer: vertex` uses (pipeline.py imports it then). Call sites
read as they would with tfx.v1 (`tfx.components.Trainer`, `tfx.dsl.Cond`, ...). The KFP
compile (runners/kfp_compile.py) still imports tfx.v1: it needs the Kubeflow runner.
"""

from types import SimpleNamespace

from tfx.components.evaluator.component import Evaluator
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.pusher.component import Pusher
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.transform.component import Transform
from tfx.components.tuner.component import Tuner, TunerFnResult
from tfx.dsl.components.common.importer import Importer
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.io import fileio
from tfx.orchestration import metadata as _metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.proto.transform_pb2 import SplitsConfig
from tfx.types import standard_artifacts

components = SimpleNamespace(
    CsvExampleGen=CsvExampleGen, Evaluator=Evaluator,
    ExampleValidator=ExampleValidator, FnArgs=FnArgs, ImportSchemaGen=ImportSchemaGen,
    Pusher=Pusher, SchemaGen=SchemaGen, StatisticsGen=StatisticsGen, Trainer=Trainer,
    Transform=Transform, Tuner=Tuner, TunerFnResult=TunerFnResult)
dsl = SimpleNamespace(Cond=Cond, Importer=Importer, Pipeline=Pipeline,
                      io=SimpleNamespace(fileio=fileio))
orchestration = SimpleNamespace(
    LocalDagRunner=LocalDagRunner,
    metadata=SimpleNamespace(
        sqlite_metadata_connection_config=_metadata.sqlite_metadata_connection_config))
proto = SimpleNamespace(EvalArgs=EvalArgs, SplitsConfig=SplitsConfig, TrainArgs=TrainArgs)
types = SimpleNamespace(standard_artifacts=standard_artifacts)

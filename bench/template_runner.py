"""The TFX taxi template from the installed tfx package, with every component on.

Its pipeline.py leaves most components commented out (a tutorial's steps); we take
its source as installed, enable every `components.append(...)`, and run it with its
own configs (TRAIN_NUM_STEPS 1000, EVAL_NUM_STEPS 150) on the same data.

  python bench/template_runner.py --data DIR --output-dir DIR
"""

import argparse
import os
import re
import sys
import time
import types


def load_template_pipeline_module():
  import tfx.experimental.templates.taxi.pipeline.pipeline as template  # noqa: E402
  source = open(template.__file__).read()
  enabled, count = re.subn(r'#\s*components\.append\(', 'components.append(', source)
  if count < 5:
    raise RuntimeError(f'expected the template to comment out its components, found {count}')
  module = types.ModuleType('template_pipeline_all_components')
  module.__file__ = template.__file__
  exec(compile(enabled, template.__file__, 'exec'), module.__dict__)
  return module, count


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--data', required=True)
  p.add_argument('--output-dir', required=True)
  p.add_argument('--train-steps', type=int, default=None,
                 help='default: the template\'s own TRAIN_NUM_STEPS')
  args = p.parse_args()

  from tfx import v1 as tfx
  from tfx.experimental.templates.taxi.pipeline import configs

  module, enabled = load_template_pipeline_module()
  out = os.path.abspath(args.output_dir)
  pipeline = module.create_pipeline(
      pipeline_name='taxi-template',
      pipeline_root=os.path.join(out, 'pipeline_root'),
      data_path=os.path.abspath(args.data),
      preprocessing_fn='tfx.experimental.templates.taxi.models.preprocessing.preprocessing_fn',
      run_fn='tfx.experimental.templates.taxi.models.keras_model.model.run_fn',
      train_args=tfx.proto.TrainArgs(num_steps=args.train_steps or configs.TRAIN_NUM_STEPS),
      eval_args=tfx.proto.EvalArgs(num_steps=configs.EVAL_NUM_STEPS),
      eval_accuracy_threshold=configs.EVAL_ACCURACY_THRESHOLD,
      serving_model_dir=os.path.join(out, 'serving_model'),
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(os.path.join(out, 'metadata.sqlite')))
  names = [c.id for c in pipeline.components]
  print(f'template components ({enabled} enabled): {", ".join(names)}', flush=True)
  started = time.monotonic()
  tfx.orchestration.LocalDagRunner().run(pipeline)
  print(f'pipeline finished in {time.monotonic() - started:.1f} s', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""Names and places the DAG and the TFX pipeline agree on, written once.

The compiled-pipeline variants and the rule choosing one, the pipeline's runtime
parameter names, the Pusher's push destination, and where a run's files go (its
summary, its candidate model, the gate's report and decision) and where a span's drift
outputs go. Standard library only: the pipeline env loads this file by path (see the
package docstring).
"""

import json

WITH_BASELINE = 'with_baseline'  # the champion is the Evaluator's baseline
FIRST_RUN = 'first_run'          # no champion yet
VARIANTS = (WITH_BASELINE, FIRST_RUN)

# The pipeline's runtime parameters (what changes from run to run without a recompile).
SPAN_URI = 'span_uri'
SUMMARY_URI = 'summary_uri'
RUN_ID = 'run_id'
BASELINE_MODEL_URI = 'baseline_model_uri'
TRAIN_ARGS = 'train_args'
PUSH_DESTINATION = 'push_destination'
RUNTIME_PARAMETERS = (SPAN_URI, SUMMARY_URI, RUN_ID, BASELINE_MODEL_URI, TRAIN_ARGS,
                      PUSH_DESTINATION)

# Files of one run, under the run's own folder (<pipeline_root>/<run_id>/ remotely,
# <pipeline_runs>/<run_id>/ locally)
RUN_SUMMARY_FILE = 'run_summary.json'
CANDIDATE_DIR = 'candidate'
GATE_REPORT_FILE = 'gate_report.html'
GATE_DECISION_FILE = 'gate_decision.json'
# Beside a span (the span folder itself is immutable): <span>.drift/
DRIFT_SUFFIX = '.drift'


def variant_for(baseline_model_uri) -> str:
  """with_baseline when a champion is passed to the Evaluator, else first_run."""
  return WITH_BASELINE if baseline_model_uri else FIRST_RUN


def join(base, *parts) -> str:
  """A path or gs:// URI joined with '/' (both sides build the same string)."""
  return '/'.join([str(base).rstrip('/')] + [str(p).strip('/') for p in parts if str(p)])


def run_summary_uri(run_root) -> str:
  return join(run_root, RUN_SUMMARY_FILE)


def candidate_dir(run_root) -> str:
  """Where the Pusher puts a blessed model: the run's own folder, never production."""
  return join(run_root, CANDIDATE_DIR)


def gate_report_uri(run_root) -> str:
  return join(run_root, GATE_REPORT_FILE)


def gate_decision_uri(run_root) -> str:
  return join(run_root, GATE_DECISION_FILE)


def drift_dir(span_uri) -> str:
  """Drift outputs (profile.json, drift.json, drift_report.html) of a span."""
  return str(span_uri).rstrip('/') + DRIFT_SUFFIX


def push_destination(base_directory) -> str:
  """The Pusher's push_destination runtime parameter: a PushDestination proto as JSON."""
  return json.dumps({'filesystem': {'base_directory': str(base_directory)}})


def train_args(num_steps) -> str:
  """The Trainer's train_args runtime parameter: a whole TrainArgs proto as JSON."""
  return json.dumps({'num_steps': int(num_steps)})

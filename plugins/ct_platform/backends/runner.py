"""The pipeline-runner interface every backend implements (local, Vertex AI, KFP).

    submit(spec) -> run_id        idempotent per run id
    get_state(run_id) -> RunState
    cancel(run_id, reason)
    summary_uri(run_id), console_url(run_id), config()

    mark_lost(run_id, message) -> bool   records a run that died without a verdict

Only SUCCEEDED is success. PAUSED, CANCELLED, FAILED, LOST (died without a verdict)
and NOT_FOUND each fail the await with their own message. A FAILED state says whether a
retry can help (`retryable`): a pipeline that failed in its own code or on its data fails
the same way again, so the task fails at once instead of starting it twice more.
"""

from __future__ import annotations

import dataclasses
import re

ACTIVE = frozenset({'PENDING', 'QUEUED', 'RUNNING', 'CANCELLING'})
TERMINAL = frozenset({'SUCCEEDED', 'FAILED', 'CANCELLED', 'PAUSED', 'LOST'})


@dataclasses.dataclass(frozen=True)
class PipelineRunSpec:
  run_id: str
  span_uri: str
  summary_uri: str
  pipeline_version: str = 'dev'
  baseline_model_uri: str = ''   # the champion; empty: the first-run variant
  train_args: dict | None = None  # TrainArgs as a dict, e.g. {"num_steps": 1000}
  hparams: dict | None = None
  labels: dict | None = None
  # the run id of a failed earlier attempt of this run: steps whose code, parameters and
  # inputs are unchanged may be reused from it (a retry resumes instead of starting over)
  resume_from: str = ''
  # Vertex AI / KFP execution caching for every task of this run. It must be on for a
  # first attempt too: a task run with caching off leaves no cache entry to resume from.
  # It matches only runs on the same span URI, and every extract writes a new one.
  enable_cache: bool = False


@dataclasses.dataclass(frozen=True)
class RunState:
  state: str
  message: str = ''
  log_path: str = ''
  log_tail: str = ''
  # False: the run failed on its code or data (a retry would fail the same way);
  # True: an infrastructure failure (a killed process, preemption) or unknown
  retryable: bool = True

  @property
  def active(self) -> bool:
    return self.state in ACTIVE

  @property
  def succeeded(self) -> bool:
    return self.state == 'SUCCEEDED'

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


# google.rpc codes that mean the platform, not the pipeline: another attempt can succeed.
# (CANCELLED is not here: a cancel is a decision.) A component's own error surfaces as
# FAILED_PRECONDITION (Vertex: "The DAG failed because some tasks failed") or UNKNOWN.
TRANSIENT_CODES = frozenset({4, 8, 10, 13, 14})  # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
                                                 # ABORTED, INTERNAL, UNAVAILABLE
_INFRA_WORDS = re.compile(r'preempt|evict|node (was )?(lost|shut ?down|not ready)|'
                          r'spot vm|stockout|zone .* does not have enough resources|'
                          r'internal error|service unavailable', re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class TaskFailure:
  """One failed task (component) of a remote pipeline run, as its backend reports it."""
  name: str
  code: int | None
  message: str


def classify_failure(run_code: int | None, run_message: str,
                     failed_tasks: list) -> tuple[bool, str]:
  """(retryable, message) for a FAILED remote run.

  Retryable: a failed task or the run itself carries a transient code, or its message
  says preemption, eviction or lost capacity. Not retryable: a component failed with its
  own error (its code or its data: the same span fails the same way). No detail at all:
  FAILED_PRECONDITION and UNKNOWN from a run with tasks are the pipeline's; anything
  else is treated as the platform's (retried).
  """
  infra = [t for t in failed_tasks
           if (t.code in TRANSIENT_CODES) or _INFRA_WORDS.search(t.message or '')]
  described = '; '.join(f'component {t.name} failed: {t.message or "(no message)"}'
                        for t in failed_tasks)
  if infra or run_code in TRANSIENT_CODES or _INFRA_WORDS.search(run_message or ''):
    return True, ('infrastructure failure (retried): ' + (described or run_message or
                                                          f'code {run_code}'))
  if failed_tasks:
    return False, f'{described} (a retry would fail the same way: not retried)'
  if run_code in (2, 9):
    return False, (f'{run_message or "the pipeline failed"} (code {run_code}: the '
                   f'pipeline\'s own failure; not retried)')
  return True, run_message or f'failed with code {run_code}'

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

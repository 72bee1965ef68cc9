"""The local pipeline backend: TFX's LocalDagRunner in .venv-pipeline, detached.

submit() writes <runs>/<run_id>/request.json and starts local_supervisor.py as its
own session (it outlives the Airflow worker); get_state() and cancel() only read and
write files in that folder (see local_supervisor.py), so they work from any process
that shares the mount: worker, triggerer, another container.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from ct_platform.backends.runner import TERMINAL, PipelineRunSpec, RunState
from ct_platform.contracts import layout
from ct_platform.fsutil import atomic_write_json, tail

SUPERVISOR = Path(__file__).resolve().with_name('local_supervisor.py')


@dataclasses.dataclass(frozen=True)
class LocalPipelineRunner:
  """Its fields are its config() (runs_root as a string there)."""
  kind: ClassVar[str] = 'local'

  runs_root: Path
  python: str
  pipeline_source: str
  command: list | None = None  # None: the pipeline env's TFX CLI
  heartbeat_stale_seconds: float = 60.0
  default_train_steps: int = 1000

  def __post_init__(self):
    object.__setattr__(self, 'runs_root', Path(self.runs_root))
    object.__setattr__(self, 'command', list(self.command) if self.command else [
        self.python, '-m', 'ct_pipeline.runners.local_runner'])

  @classmethod
  def from_settings(cls, settings):
    return cls(runs_root=str(settings.runs_root), python=settings.pipeline_python_path,
               pipeline_source=settings.pipeline_source_dir,
               command=list(settings.local_pipeline_command) or None,
               heartbeat_stale_seconds=settings.heartbeat_stale_seconds,
               default_train_steps=settings.train_steps)

  def config(self) -> dict:
    """What a Trigger serializes to rebuild this runner (backends.runner_from_config)."""
    return {'kind': self.kind, 'kwargs': dict(dataclasses.asdict(self),
                                              runs_root=str(self.runs_root))}

  def run_dir(self, run_id: str) -> Path:
    return self.runs_root / run_id

  def summary_uri(self, run_id: str) -> str:
    return layout.run_summary_uri(self.run_dir(run_id))

  def console_url(self, run_id: str) -> str:
    return self.run_dir(run_id).as_uri()

  def submit(self, spec: PipelineRunSpec) -> str:
    """Starts the run; a second submit of the same run id starts nothing."""
    run_dir = self.run_dir(spec.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    request_path = run_dir / 'request.json'
    try:
      fd = os.open(request_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
      return spec.run_id  # already submitted (a retry racing a crash): reconnect
    train_steps = int((spec.train_args or {}).get('num_steps', self.default_train_steps))
    args = ['--span-uri', spec.span_uri, '--output-dir', str(run_dir),
            '--summary-uri', spec.summary_uri or self.summary_uri(spec.run_id),
            '--run-id', spec.run_id, '--train-steps', str(train_steps),
            '--pipeline-version', spec.pipeline_version]
    if spec.baseline_model_uri:
      args += ['--baseline-model-uri', spec.baseline_model_uri]
    if spec.hparams:
      args += ['--hparams', json.dumps(spec.hparams)]
    if spec.resume_from:
      args += ['--resume-from', str(self.run_dir(spec.resume_from))]
    request = {'command': self.command + args, 'spec': dataclasses.asdict(spec),
               'env': {'PYTHONPATH': self.pipeline_source, 'TF_CPP_MIN_LOG_LEVEL': '1',
                       'PYTHONUNBUFFERED': '1'},
               'submitted_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}
    with os.fdopen(fd, 'w') as f:
      json.dump(request, f, indent=2)
    self._write_state(run_dir, {'state': 'PENDING', 'run_id': spec.run_id})
    # The supervisor needs only the standard library; any Python will do.
    python = self.python if os.path.exists(self.python) else sys.executable
    with open(run_dir / 'supervisor.log', 'ab') as log:
      subprocess.Popen([python, str(SUPERVISOR), str(run_dir)], stdout=log,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       start_new_session=True, close_fds=True)
    return spec.run_id

  def get_state(self, run_id: str) -> RunState:
    run_dir = self.run_dir(run_id)
    state_path = run_dir / 'state.json'
    if not state_path.exists():
      return RunState('NOT_FOUND', f'no local pipeline run {run_id} under {self.runs_root}')
    state = json.loads(state_path.read_text())
    name = state.get('state', 'UNKNOWN')
    log_path = str(run_dir / 'runner.log')
    if name in TERMINAL:
      exit_code = state.get('exit_code')
      # exit code > 0: the pipeline itself failed (a component's error on its code or
      # data); < 0: killed by a signal (OOM killer, node drain): worth another attempt
      deterministic = name == 'FAILED' and isinstance(exit_code, int) and exit_code > 0
      message = state.get('message', '')
      if deterministic:
        message += (': the pipeline failed in its own code or on its data (a retry would '
                    'fail the same way), see the log tail')
      return RunState(name, message, log_path=log_path,
                      log_tail=state.get('log_tail') or tail(log_path),
                      retryable=not deterministic)
    heartbeat = run_dir / 'heartbeat'
    reference = heartbeat if heartbeat.exists() else state_path
    age = dt.datetime.now().timestamp() - reference.stat().st_mtime
    if age > self.heartbeat_stale_seconds:
      return RunState('LOST', f'the pipeline process stopped without a verdict: no '
                      f'heartbeat for {age:.0f} s (state was {name})',
                      log_path=log_path, log_tail=tail(log_path))
    return RunState(name, state.get('message', ''), log_path=log_path)

  def mark_lost(self, run_id: str, message: str) -> bool:
    """Records in the run folder that this attempt died without a verdict (state.json
    said RUNNING), and asks a supervisor that comes back to stop. True the first time."""
    run_dir = self.run_dir(run_id)
    state_path = run_dir / 'state.json'
    if not state_path.exists():
      return False
    state = json.loads(state_path.read_text())
    if state.get('state') in TERMINAL:
      return False
    (run_dir / 'cancel').write_text(f'lost: {message}')
    self._write_state(run_dir, dict(
        state, state='LOST', message=message, previous_state=state.get('state'),
        lost_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')))
    return True

  def cancel(self, run_id: str, reason: str = 'cancel requested') -> None:
    run_dir = self.run_dir(run_id)
    if run_dir.exists():
      (run_dir / 'cancel').write_text(reason)

  @staticmethod
  def _write_state(run_dir: Path, state: dict) -> None:
    atomic_write_json(run_dir / 'state.json', state)

"""PipelineRunTrigger: waits for one pipeline run without holding a worker slot.

Polls the backend's get_state (the backend is rebuilt from its serialized config, so
the trigger runs on any triggerer), and yields exactly one event:
    {'status': SUCCEEDED | FAILED | CANCELLED | PAUSED | LOST | NOT_FOUND | TIMEOUT,
     'run_id', 'message', 'log_path', 'log_tail'}
- its own deadline: past it, the trigger cancels the run and yields TIMEOUT
  (Airflow's defer timeout does not call on_kill, so the trigger enforces it);
- on_kill (a user marked the task failed/success or cleared it while deferred)
  cancels the run, unless the task is still deferred (the trigger moved to another
  triggerer); cleanup (triggerer restart, normal exit) leaves it running;
- errors while polling are retried with backoff for up to max_poll_error_seconds;
  an HTTP 4xx other than 408/429 (denied, not found, bad request) is not retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from airflow.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger(__name__)


class PipelineRunTrigger(BaseTrigger):
  def __init__(self, runner_config: dict, run_id: str, deadline: str,
               poll_interval: float = 10.0, max_poll_error_seconds: float = 300.0):
    super().__init__()
    self.runner_config = runner_config
    self.run_id = run_id
    self.deadline = deadline  # ISO 8601, UTC
    self.poll_interval = poll_interval
    self.max_poll_error_seconds = max_poll_error_seconds

  def serialize(self):
    return ('ct_platform.triggers.pipeline_run.PipelineRunTrigger', {
        'runner_config': self.runner_config, 'run_id': self.run_id,
        'deadline': self.deadline, 'poll_interval': self.poll_interval,
        'max_poll_error_seconds': self.max_poll_error_seconds})

  def _runner(self):
    from ct_platform.backends import runner_from_config
    return runner_from_config(self.runner_config)

  async def run(self):
    runner = self._runner()
    deadline = dt.datetime.fromisoformat(self.deadline)
    log.info('waiting for pipeline run %s on the %s backend (deadline %s, polling every '
             '%.1f s)', self.run_id, self.runner_config.get('kind'), self.deadline,
             self.poll_interval)
    first_error_at = None
    backoff = self.poll_interval
    while True:
      if dt.datetime.now(dt.timezone.utc) >= deadline:
        cancelled = await self._cancel(runner, f'deadline {self.deadline} passed')
        yield TriggerEvent({'status': 'TIMEOUT', 'run_id': self.run_id,
                            'message': f'the pipeline run did not finish by {self.deadline}; '
                                       + ('it was cancelled' if cancelled else
                                          'cancelling it FAILED: cancel it by hand'),
                            'log_path': '', 'log_tail': ''})
        return
      try:
        # bounded: a hung connection must not keep the deadline from being checked
        state = await asyncio.wait_for(asyncio.to_thread(runner.get_state, self.run_id),
                                       timeout=max(60.0, self.poll_interval))
        first_error_at, backoff = None, self.poll_interval
      except Exception as e:  # transient backend errors: retry with backoff, bounded
        now = asyncio.get_running_loop().time()
        first_error_at = first_error_at or now
        code = getattr(e, 'code', None)
        if not isinstance(code, int):  # kfp_server_api.ApiException has .status
          code = getattr(e, 'status', None)
        permanent = isinstance(code, int) and 400 <= code < 500 and code not in (408, 429)
        if permanent or now - first_error_at > self.max_poll_error_seconds:
          yield TriggerEvent({'status': 'POLL_ERROR', 'run_id': self.run_id,
                              'message': f'polling failed for {now - first_error_at:.0f} s: '
                                         f'{type(e).__name__}: {e}',
                              'log_path': '', 'log_tail': ''})
          return
        log.warning('polling %s failed (%s); retrying in %.0f s', self.run_id, e, backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 300)
        continue
      if not state.active:
        yield TriggerEvent(dict(state.as_dict(), status=state.state, run_id=self.run_id))
        return
      await asyncio.sleep(self.poll_interval)

  async def _cancel(self, runner, reason: str, attempts: int = 4) -> bool:
    """Cancels with retries (a 503 must not leave the run going); True if it got through."""
    delay = 1.0
    for attempt in range(attempts):
      try:
        await asyncio.wait_for(asyncio.to_thread(runner.cancel, self.run_id, reason),
                               timeout=120)
        return True
      except Exception as e:  # noqa: BLE001
        log.warning('cancelling %s failed (%s: %s)%s', self.run_id, type(e).__name__, e,
                    '; retrying' if attempt + 1 < attempts else '; giving up')
        if attempt + 1 < attempts:
          await asyncio.sleep(delay)
          delay *= 3
    return False

  async def on_kill(self):
    """A user acted on the deferred task: the pipeline run must not go on alone.

    Airflow 3.3 also calls on_kill when a trigger merely moved to another triggerer
    (TriggerRunner.update_triggers cancels the orphaned copy through the user-action
    path, apache/airflow#73454). A user's action has changed the task's state by then
    (failed, success, cleared); a redistribution has not: the task is still deferred,
    and another triggerer is waiting for the same run, so nothing is cancelled.

    The work is shielded: while on_kill runs, the triggerer cancels the trigger's task
    again on its next sync, which would interrupt a slow state read (a loaded machine) and
    leave the pipeline running after the user marked the task failed. The shielded part
    finishes on the triggerer's loop either way.
    """
    self._kill_work = asyncio.ensure_future(self._kill())  # a reference keeps it alive
    await asyncio.shield(self._kill_work)

  async def _kill(self):
    log.info('on_kill for %s: reading the task state', self.run_id)
    state = await self._task_state()
    if state == 'deferred':
      log.warning('on_kill for %s while its task is still deferred: the trigger moved to '
                  'another triggerer (not a user action); the pipeline run goes on',
                  self.run_id)
      return
    await self._cancel(self._runner(), 'the Airflow task was marked failed/success or '
                       f'cleared (task state: {state})')

  async def _task_state(self) -> str | None:
    """The deferred task's current state from the API server, or None if unknown."""
    ti = self.task_instance
    if ti is None:
      return None
    try:
      from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

      states = await asyncio.wait_for(asyncio.to_thread(
          RuntimeTaskInstance.get_task_states, dag_id=ti.dag_id, task_ids=[ti.task_id],
          run_ids=[ti.run_id], map_index=getattr(ti, 'map_index', -1)), timeout=20)
    except Exception as e:  # noqa: BLE001  unknown: treat as the user action it claims
      log.warning('could not read the state of task %s (%s: %s); treating on_kill as a '
                  'user action', ti.task_id, type(e).__name__, e)
      return None
    state = (states.get(ti.run_id) or {}).get(ti.task_id)
    return str(getattr(state, 'value', state)) if state is not None else None

"""EndpointOperationTrigger: waits for an endpoint's long-running operation (a Vertex AI
deploy: machines are provisioned, often 10-20 minutes) without holding a worker slot.

Polls the endpoint backend's operation_status (rebuilt from its serialized config, so the
trigger runs on any triggerer; the blocking client call in a thread) and yields one event:
    {'status': 'DONE' | 'FAILED' | 'TIMEOUT' | 'POLL_ERROR', 'operation', 'message'}
Polling errors (a 503, a reset connection) are retried with backoff for up to
max_poll_error_seconds. Nothing is cancelled on a kill: Vertex AI cannot cancel a deploy,
and the rollout's restore_champion_traffic puts the champion back at 100%.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from airflow.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger(__name__)


class EndpointOperationTrigger(BaseTrigger):
  def __init__(self, endpoint_config: dict, operation: str, what: str, deadline: str,
               poll_interval: float = 15.0, max_poll_error_seconds: float = 300.0):
    super().__init__()
    self.endpoint_config, self.operation, self.what = endpoint_config, operation, what
    self.deadline = deadline  # ISO 8601, UTC
    self.poll_interval, self.max_poll_error_seconds = poll_interval, max_poll_error_seconds

  def serialize(self):
    return ('ct_platform.triggers.endpoint_operation.EndpointOperationTrigger', {
        'endpoint_config': self.endpoint_config, 'operation': self.operation,
        'what': self.what, 'deadline': self.deadline, 'poll_interval': self.poll_interval,
        'max_poll_error_seconds': self.max_poll_error_seconds})

  def _event(self, status: str, message: str) -> TriggerEvent:
    return TriggerEvent({'status': status, 'operation': self.operation, 'message': message})

  async def run(self):
    from ct_platform.backends import endpoint_from_config

    endpoint = endpoint_from_config(self.endpoint_config)
    deadline = dt.datetime.fromisoformat(self.deadline)
    log.info('waiting for %s: operation %s (deadline %s, polling every %.1f s)', self.what,
             self.operation, self.deadline, self.poll_interval)
    first_error_at = None
    pause = self.poll_interval
    while True:
      try:
        done, error = await asyncio.to_thread(endpoint.operation_status, self.operation)
        first_error_at, pause = None, self.poll_interval
      except Exception as e:  # noqa: BLE001  (a transient failure of the poll itself)
        now = dt.datetime.now(dt.timezone.utc)
        first_error_at = first_error_at or now
        if (now - first_error_at).total_seconds() > self.max_poll_error_seconds:
          yield self._event('POLL_ERROR', f'{self.what}: the operation\'s state could not be '
                                          f'read for {self.max_poll_error_seconds:.0f} s: {e}')
          return
        log.warning('%s: polling %s failed (%s); retrying in %.0f s', self.what,
                    self.operation, e, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 120.0)
        continue
      if done:
        yield (self._event('FAILED', f'{self.what} failed: {error}') if error else
               self._event('DONE', f'{self.what} done'))
        return
      if dt.datetime.now(dt.timezone.utc) >= deadline:
        yield self._event('TIMEOUT', f'{self.what}: operation {self.operation} not done by '
                                     f'{self.deadline}')
        return
      await asyncio.sleep(self.poll_interval)

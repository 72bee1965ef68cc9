"""CanaryTrafficTrigger: waits for a canary's live traffic without holding a worker slot.

Polls the prediction log (rollout/log.py: DuckDB over the local Parquet parts, or a
BigQuery query over a Vertex AI Endpoint's logging table; in a thread) and yields one
event, as soon as the challenger has answered min_requests requests, or when the
observation window ends, whichever comes first:
    {'status': 'ENOUGH_REQUESTS' | 'WINDOW_ENDED', 'challenger_requests', 'since', 'at'}
Nothing to cancel on a kill: the canary keeps its share until a task moves it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from airflow.triggers.base import BaseTrigger, TriggerEvent

log = logging.getLogger(__name__)


class CanaryTrafficTrigger(BaseTrigger):
  def __init__(self, log_config: dict, deployed_id: str, since: str, until: str,
               min_requests: int, poll_interval: float = 5.0):
    """log_config: the prediction log's config() (monitoring.window.log_from_config)."""
    super().__init__()
    self.log_config, self.deployed_id = log_config, deployed_id
    self.since, self.until = since, until  # ISO 8601, UTC
    self.min_requests, self.poll_interval = min_requests, poll_interval

  def serialize(self):
    return ('ct_platform.triggers.canary.CanaryTrafficTrigger', {
        'log_config': self.log_config, 'deployed_id': self.deployed_id,
        'since': self.since, 'until': self.until, 'min_requests': self.min_requests,
        'poll_interval': self.poll_interval})

  async def run(self):
    from ct_platform.monitoring.window import log_from_config
    from ct_platform.rollout.log import count_requests

    prediction_log = log_from_config(self.log_config)
    since = dt.datetime.fromisoformat(self.since)
    until = dt.datetime.fromisoformat(self.until)
    log.info('waiting for %d requests answered by %s (canary since %s, window ends %s)',
             self.min_requests, self.deployed_id, self.since, self.until)
    last = -1
    while True:
      n = await asyncio.to_thread(count_requests, prediction_log, self.deployed_id, since)
      now = dt.datetime.now(dt.timezone.utc)
      if n != last:
        log.info('%s answered %d of %d requests', self.deployed_id, n, self.min_requests)
        last = n
      status = ('ENOUGH_REQUESTS' if n >= self.min_requests else
                'WINDOW_ENDED' if now >= until else None)
      if status:
        yield TriggerEvent({'status': status, 'challenger_requests': n,
                            'since': self.since, 'at': now.isoformat()})
        return
      await asyncio.sleep(self.poll_interval)

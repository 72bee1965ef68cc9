"""WaitForCanaryOperator: defers until the canary has enough live traffic or its window ends.

The deployment it waits on comes from XCom (deploy_canary's return value): the deployed
id, when traffic started, the window. The worker slot is free while it waits; the event
comes back as this task's return value for the comparison that follows.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import BaseOperator


class WaitForCanaryOperator(BaseOperator):
  template_fields = ('deployment',)

  def __init__(self, *, deployment, poll_interval: float = 5.0, **kwargs):
    super().__init__(**kwargs)
    self.deployment = deployment
    self.poll_interval = poll_interval

  def execute(self, context):
    from ct_platform.triggers.canary import CanaryTrafficTrigger

    d = self.deployment
    until = dt.datetime.fromisoformat(d['until'])
    self.log.info('canary %s at %s%% since %s; waiting for %d requests or until %s',
                  d['challenger_id'], d['percent'], d['since'], d['min_requests'], d['until'])
    self.defer(
        trigger=CanaryTrafficTrigger(
            log_config=d['log'], deployed_id=d['challenger_id'],
            since=d['since'], until=d['until'], min_requests=d['min_requests'],
            poll_interval=self.poll_interval),
        method_name='execute_complete',
        # past the window (and a margin for the last poll) the task fails, not hangs
        timeout=until - dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10))

  def execute_complete(self, context, event=None):
    self.log.info('canary traffic: %s with %d challenger requests', event['status'],
                  event['challenger_requests'])
    return event

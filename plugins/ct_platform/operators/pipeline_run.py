"""RunTfxPipelineOperator: submit the TFX run on the configured backend, await it.

Crash safety with what Airflow 3.3 provides (the semantics of airflow.sdk's
ResumableJobMixin, for a deferrable operator):
  - the run id goes to the task's task_state_store *before* submitting (it survives
    retries; XCom does not), so no crash window leaves an untracked run;
  - a retry looks the record up: an active run is reconnected to, a succeeded one
    returns at once, a failed / cancelled / lost one starts the next attempt (the
    attempt number is part of the run id: Vertex never reuses a job id), and a paused
    or still-cancelling one is cancelled before the next attempt starts;
  - on success the record stays, marked finished, so clearing a finished task starts
    the next attempt instead of returning (or re-attaching to) the old run;
  - the deadline is fixed when the run is submitted; reconnecting keeps it.
Waiting is deferred to PipelineRunTrigger (no worker slot held); it cancels the run
on a user's mark-failed / mark-success / clear and at its own deadline.
"""

from __future__ import annotations

import datetime as dt
import json

from airflow.sdk import BaseOperator, BaseOperatorLink

STATE_KEY = 'ct_pipeline_run'
CONSOLE_URL_KEY = 'pipeline_console_url'


class PipelineRunLink(BaseOperatorLink):
  """The pipeline run in its backend's console (Vertex AI, KFP) or its local folder."""
  name = 'Pipeline run'

  def get_link(self, operator, *, ti_key):
    from airflow.sdk.execution_time.xcom import XCom
    return XCom.get_value(ti_key=ti_key, key=CONSOLE_URL_KEY) or ''


class PipelineRunFailed(RuntimeError):
  pass


class RunTfxPipelineOperator(BaseOperator):
  template_fields = ('span', 'champion', 'plan', 'hparams')
  ui_color = '#e8f0fe'
  operator_extra_links = (PipelineRunLink(),)

  def __init__(self, *, span, champion=None, plan=None, hparams=None,
               settings_overrides: dict | None = None, **kwargs):
    """span: extract's manifest; champion: the registry record or {}; plan: plan_run's
    output (train_steps); hparams: model hyperparameters for the Trainer."""
    super().__init__(**kwargs)
    self.span = span
    self.champion = champion
    self.plan = plan
    self.hparams = hparams
    self.settings_overrides = settings_overrides or {}
    self._result = None  # the finished run and its settings (its lineage: see ExtractSpan)

  def _settings(self):
    from ct_platform.config import load_settings
    return load_settings(self.settings_overrides)

  def execute(self, context):
    from ct_platform.backends import runner_for
    from ct_platform.backends.runner import PipelineRunSpec
    from ct_platform.contracts import layout
    from ct_platform.run_ids import pipeline_run_id

    settings = self._settings()
    runner = runner_for(settings)
    store = context['task_state_store']
    record = store.get(STATE_KEY)
    attempt = 1
    resume_from = ''
    # a clear after success asks for a new run: it reuses nothing (nor does `rerun`)
    fresh = settings.pipeline_retry != 'resume'
    if record and record.get('finished'):
      # the task succeeded with this run and was cleared since: a clear means a new run
      attempt = int(record['attempt']) + 1
      self.log.info('pipeline run %s finished with an earlier success of this task; '
                    'starting attempt %s', record['run_id'], attempt)
      fresh = True
    elif record:
      state = runner.get_state(record['run_id'])
      self.log.info('recorded pipeline run %s (attempt %s) is %s', record['run_id'],
                    record['attempt'], state.state)
      if state.active and state.state != 'CANCELLING':
        self.log.info('reconnecting to the running pipeline run %s', record['run_id'])
        self._push_link(context, runner, record['run_id'])
        return self._defer(runner, record, settings)
      if state.succeeded:
        return self._finish(context, record)
      if state.state == 'LOST':
        self._record_lost(runner, record, state.message)
      attempt = int(record['attempt']) + 1
      if state.state in ('PAUSED', 'CANCELLING'):
        # never leave a paused (resumable) or half-cancelled run behind a new attempt
        runner.cancel(record['run_id'], f'superseded by attempt {attempt}')
      self.log.info('previous attempt ended %s (%s): starting attempt %s', state.state,
                    state.message, attempt)
      if settings.pipeline_retry == 'resume':
        # its completed steps are reused where code, parameters and inputs are unchanged;
        # NOT_FOUND: a crash between recording and submitting it: resume from what it would
        # have resumed from
        resume_from = (record['run_id'] if state.state != 'NOT_FOUND'
                       else record.get('resume_from', ''))
        fresh = bool(record.get('fresh'))  # a failed fresh run's retry stays fresh
        if resume_from:
          self.log.info('attempt %s resumes from the completed steps of %s (setting '
                        'pipeline_retry: resume)', attempt, resume_from)

    from ct_platform.spans import read_manifest
    read_manifest(self.span['uri'], settings)  # nothing reads a span without its manifest
    dag_run = context['dag_run']
    ti = context.get('ti')
    run_id = pipeline_run_id(dag_run.dag_id, dag_run.run_id, attempt,
                             try_key=str(getattr(ti, 'id', '') or ''))
    champion = self.champion or None
    steps = (self.plan or {}).get('train_steps') or settings.train_steps
    spec = PipelineRunSpec(
        run_id=run_id, span_uri=self.span['uri'], summary_uri=runner.summary_uri(run_id),
        pipeline_version=settings.code_version,
        baseline_model_uri=champion['model_uri'] if champion else '',
        train_args={'num_steps': int(steps)}, hparams=self.hparams or None,
        labels={'dag_id': dag_run.dag_id}, resume_from=resume_from, enable_cache=not fresh)
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
        minutes=settings.pipeline_timeout_minutes)
    record = {'run_id': run_id, 'attempt': attempt, 'summary_uri': spec.summary_uri,
              'resume_from': resume_from, 'fresh': fresh,
              'runner': runner.config()['kind'], 'deadline': deadline.isoformat()}
    store.set(STATE_KEY, record)  # before submitting: a crash now loses nothing
    runner.submit(spec)
    url = self._push_link(context, runner, run_id)
    self.log.info('submitted pipeline run %s (%s variant) on the %s backend: %s',
                  run_id, layout.variant_for(spec.baseline_model_uri), runner.kind, url)
    return self._defer(runner, record, settings)

  @staticmethod
  def _push_link(context, runner, run_id) -> str:
    url = runner.console_url(run_id)  # once: on KFP it is a lookup on the server
    if context.get('ti') is not None:
      context['ti'].xcom_push(key=CONSOLE_URL_KEY, value=url)
    return url

  def _defer(self, runner, record, settings):
    from ct_platform.triggers.pipeline_run import PipelineRunTrigger

    # the deadline is fixed at submit: reconnecting after a crash does not extend it
    deadline = record.get('deadline') or (dt.datetime.now(dt.timezone.utc) + dt.timedelta(
        minutes=settings.pipeline_timeout_minutes)).isoformat()
    self.defer(trigger=PipelineRunTrigger(
        runner_config=runner.config(), run_id=record['run_id'],
        deadline=deadline, poll_interval=settings.poll_interval_seconds),
        method_name='execute_complete')

  def _record_lost(self, runner, record, message) -> None:
    """A lost attempt is written down in its run folder and said, once, before the next."""
    if runner.mark_lost(record['run_id'], message):
      from ct_platform.notify import notify
      notify('pipeline_attempt_lost', f'pipeline run {record["run_id"]} (attempt '
             f'{record["attempt"]}) was lost: {message}', self._settings(),
             run_id=record['run_id'], attempt=record['attempt'])

  def execute_complete(self, context, event=None):
    store = context['task_state_store']
    record = store.get(STATE_KEY)
    event = event or {}
    status = event.get('status')
    if status == 'LOST' and record:
      from ct_platform.backends import runner_for
      self._record_lost(runner_for(self._settings()), record, event.get('message', ''))
    if status != 'SUCCEEDED':
      messages = {
          'FAILED': 'the pipeline run failed',
          'CANCELLED': 'the pipeline run was cancelled',
          'PAUSED': 'the pipeline run is paused, which is not success',
          'LOST': 'the pipeline process died without a verdict',
          'NOT_FOUND': 'the pipeline run is unknown to the backend',
          'TIMEOUT': 'the pipeline run timed out and was cancelled',
          'POLL_ERROR': 'the pipeline run\'s state could not be read',
      }
      tail = event.get('log_tail') or ''
      if status == 'FAILED' and event.get('retryable') is False:
        from airflow.sdk.exceptions import AirflowFailException

        # its code or its data: the same failure again; fail now, with the reason
        raise AirflowFailException(
            f'the pipeline run failed and is not retried: run {event.get("run_id")}: '
            f'{event.get("message", "")}\nlog: {event.get("log_path", "")}'
            + (f'\n--- log tail ---\n{tail}' if tail else ''))
      raise PipelineRunFailed(
          f'{messages.get(status, f"unexpected state {status!r}")}: run '
          f'{event.get("run_id")}: {event.get("message", "")}\nlog: '
          f'{event.get("log_path", "")}' + (f'\n--- log tail ---\n{tail}' if tail else ''))
    return self._finish(context, record)

  def _finish(self, context, record):
    from ct_platform import storage
    from ct_platform.contracts import validate_run_summary

    settings = self._settings()
    path = record['summary_uri']
    if not storage.exists(path, settings):
      raise PipelineRunFailed(f'pipeline run {record["run_id"]} succeeded but wrote no run '
                              f'summary at {path}')
    summary = validate_run_summary(json.loads(storage.read_text(path, settings)))
    # done: kept (marked finished) so a clear starts the next attempt, never this run again
    context['task_state_store'].set(STATE_KEY, dict(record, finished=True))
    self.log.info('pipeline run %s: %s, blessed=%s', record['run_id'], summary['status'],
                  summary['blessing']['blessed'])
    self._result = {'run_id': record['run_id'], 'summary_uri': str(path), 'summary': summary,
                    'runner': record.get('runner', settings.runner), 'settings': settings}
    return {k: self._result[k] for k in ('run_id', 'summary_uri', 'summary')}

  def get_openlineage_facets_on_complete(self, task_instance):
    """OpenLineage: the span (and the champion as baseline) -> the pipeline run ->
    the candidate model (ct_platform.lineage)."""
    from ct_platform import lineage

    if not self._result:
      return lineage.nothing()
    return lineage.pipeline_run(self._result, self.span, self.champion or None,
                                self._result['runner'], self._result['settings'])

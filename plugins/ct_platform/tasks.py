"""What the continuous_training DAG's tasks do, apart from Airflow glue.

Each function takes plain values (and the run's Settings) and returns JSON-able
dicts, so the DAG file stays declarative and these stay testable without a DAG run.
"""

from __future__ import annotations

import json

from ct_platform import run_params
from ct_platform import window as window_lib
from ct_platform.config import Settings
from ct_platform.payloads import (
    ChampionRecord,
    DriftVerdict,
    GateDecision,
    PipelineResult,
    Plan,
    SpanManifest,
)


def plan_run(params: dict, logical_date, run_after, run_id: str, settings: Settings,
             trigger: dict | None = None) -> Plan:
  """The first task: cross-Param rules, then the training window. trigger: what started
  the run (ct_platform.run_trigger.describe)."""
  run_params.validate_run_params(params)
  # a monitoring request retrains on the data its live traffic came from
  requested_end = None if params.get('window_end') else (trigger or {}).get('data_until')
  window = window_lib.resolve_window(
      window_end=params.get('window_end') or requested_end,
      window_days=params.get('window_days'),
      logical_date=logical_date, run_after=run_after,
      default_days=settings.default_window_days,
      max_lead_days=settings.max_window_lead_days)
  if requested_end:
    import dataclasses
    window = dataclasses.replace(window, source='retrain_request')
  return {'window': window.as_dict(), 'run_id': run_id,
          'promotion_mode': params.get('promotion_mode', 'auto'),
          'dry_run': bool(params.get('dry_run')),
          'force_retrain': bool(params.get('force_retrain')),
          'force_promote': bool(params.get('force_promote')),
          'force_promote_reason': params.get('force_promote_reason') or '',
          'force_reject': bool(params.get('force_reject')),
          'force_reject_reason': params.get('force_reject_reason') or '',
          'train_steps': params.get('train_steps'),
          'trigger': trigger or {'kind': 'manual', 'reason': 'manual run', 'events': [],
                                 'requests': [], 'reasons': []},
          'settings': {'warehouse': settings.warehouse, 'runner': settings.runner,
                       'registry': settings.registry, 'profile': settings.profile}}


def window_from_plan(plan: Plan) -> window_lib.TrainingWindow:
  return window_lib.TrainingWindow.from_dict(plan['window'])


def find_champion(settings: Settings) -> ChampionRecord | None:
  from ct_platform.backends import registry_for
  return registry_for(settings).get_alias('champion')


def extract_span(plan: Plan, run_id: str, try_number: int, settings: Settings,
                 context=None, warehouse=None) -> dict:
  from ct_platform import sql
  from ct_platform.backends import warehouse_for
  from ct_platform.run_ids import run_slug
  from ct_platform.spans import span_uri_for

  window = window_from_plan(plan)
  uri = span_uri_for(settings.bucket_root, window.slug, run_slug(run_id), try_number)
  warehouse = warehouse or warehouse_for(settings)
  # before any job: a table without a column the query reads is a clear verdict, not an
  # SQL error three retries later
  sql.check_source_columns('training_window', settings.source_table,
                           warehouse.source_columns())
  return warehouse.extract_span(
      window, uri, {'airflow_run_id': run_id, 'try_number': try_number}, context=context)


def drift_dir_for(span_uri: str) -> str:
  """Drift outputs live next to their span: <span>.drift/ (the span itself is immutable)."""
  from ct_platform.contracts import layout
  return layout.drift_dir(span_uri)


def evaluate_drift(span: SpanManifest, champion: ChampionRecord | None, plan: Plan,
                   settings: Settings) -> DriftVerdict:
  """Profiles the window in the warehouse, compares it with the champion's data, decides.

  Writes profile.json (this window: the next champion's baseline), drift.json and
  drift_report.html next to the span; returns the verdict without the per-feature table.
  """
  from ct_platform import drift
  from ct_platform.backends import warehouse_for
  from ct_platform.drift.report import drift_report_html

  config = drift.load_drift_config()
  warehouse = warehouse_for(settings)
  new = drift.profile_window(warehouse, window_from_plan(plan), config)
  from ct_platform import storage

  out = drift_dir_for(span['uri'])
  try:
    quality = drift.check_data_quality(new, config.max_duplicate_rate)
  except drift.DataQualityError as e:
    # the profile stays beside the span: what the user fixes the load from
    storage.write_text(storage.join(out, 'profile.json'), json.dumps(new, indent=1,
                       sort_keys=True), settings, content_type='application/json')
    storage.write_text(storage.join(out, 'drift.json'), json.dumps(
        {'data_quality_error': str(e), 'window': plan['window']}, indent=1), settings,
        content_type='application/json')
    raise
  baseline, baseline_source = None, None
  if champion:
    recorded = champion.get('drift_baseline') or {}
    baseline, baseline_source = recorded.get('profile'), 'recorded with the champion'
    if baseline is None and champion.get('window'):
      # a champion registered before profiles were recorded: profile its window again
      w = champion['window']
      baseline = drift.profile_window(warehouse, window_lib.TrainingWindow.from_dict(
          w, source=w.get('source', 'champion')), config)
      baseline_source = f'recomputed from the champion\'s window {w["start"]}..{w["end"]}'
  verdict = drift.evaluate(
      baseline, new, config, window_end=plan['window']['end'],
      champion_window_end=(champion or {}).get('window', {}).get('end'),
      force_retrain=plan.get('force_retrain', False))
  verdict['data_quality'] = quality
  storage.write_text(storage.join(out, 'profile.json'), json.dumps(new, indent=1,
                     sort_keys=True), settings, content_type='application/json')
  record = dict(verdict, window=plan['window'], baseline_source=baseline_source,
                champion_version=(champion or {}).get('version'),
                baseline_window=(baseline or {}).get('window'), thresholds=config.path)
  storage.write_text(storage.join(out, 'drift.json'), json.dumps(record, indent=1,
                     sort_keys=True), settings, content_type='application/json')
  storage.write_text(storage.join(out, 'drift_report.html'), drift_report_html(
      verdict, baseline, new, title=f'Drift: window {plan["window"]["start"]}..'
      f'{plan["window"]["end"]} vs champion '
      f'{"v" + str(champion["version"]) if champion else "(none)"}'), settings,
      content_type='text/html')
  summary = {k: verdict[k] for k in ('retrain', 'reason', 'reasons', 'drifted_features',
                                     'champion_age_days', 'data_quality')}
  return dict(summary, report=storage.join(out, 'drift_report.html'),
              json=storage.join(out, 'drift.json'), profile_uri=storage.join(out, 'profile.json'))


def gate(result: PipelineResult, champion: ChampionRecord | None, plan: Plan,
         settings: Settings) -> GateDecision:
  from ct_platform import contracts, gate_report, storage
  from ct_platform import gate as gate_lib
  from ct_platform.contracts import layout

  policy = contracts.load_policy()
  summary = result['summary']
  decision = gate_lib.evaluate(
      summary, champion, policy,
      force_promote=plan['force_promote'], force_promote_reason=plan['force_promote_reason'],
      force_reject=plan['force_reject'], force_reject_reason=plan['force_reject_reason'])
  out_dir = storage.parent(result['summary_uri'])
  report_path = layout.gate_report_uri(out_dir)
  storage.write_text(report_path, gate_report.gate_report_html(
      decision.as_dict(), summary, champion, policy,
      title=f'Promotion gate: run {result["run_id"]}'), settings, content_type='text/html')
  decision_dict = dict(decision.as_dict(), report=report_path, run_id=result['run_id'])
  storage.write_text(layout.gate_decision_uri(out_dir),
                     json.dumps(decision_dict, indent=2), settings,
                     content_type='application/json')
  return decision_dict


def promote(decision: GateDecision, result: PipelineResult, span: SpanManifest, plan: Plan,
            settings: Settings,
            drift: dict | None = None, gated_champion=None, alias: str = 'champion',
            approval: dict | None = None) -> dict:
  """Registers the candidate as a new version and moves the alias (champion, or
  challenger when it goes through a canary first) to it.

  gated_champion: the champion record the candidate was judged against ({} or None:
  there was none). If the champion alias has moved since (a rollback, another run),
  promote stops before registering, and a champion move itself is a compare-and-swap. A
  new challenger replaces a challenger that was never rolled out.
  """
  from ct_platform.backends import registry_for
  from ct_platform.backends.registry import ANY, check_expected

  if alias not in ('champion', 'challenger'):
    raise ValueError(f'alias: {alias!r} is not champion or challenger')

  if not decision['promote']:
    raise RuntimeError(f'refusing to promote: the gate decided {decision["outcome"]}')
  expected = (gated_champion or {}).get('version')
  expected = int(expected) if expected is not None else None
  registry = registry_for(settings)
  now = registry.get_alias('champion')
  check_expected('champion', int(now['version']) if now else None, expected)
  summary = result['summary']
  from ct_platform import storage

  profile = None
  if drift and drift.get('profile_uri') and storage.exists(drift['profile_uri'], settings):
    profile = json.loads(storage.read_text(drift['profile_uri'], settings))
  record = registry.register(summary['candidate_model_uri'], {
      'run_id': result['run_id'], 'airflow_run_id': plan['run_id'],
      'metrics': summary['metrics']['candidate'], 'span': span,
      'window': plan['window'], 'smoke_test': summary['smoke_test'],
      'git_sha': settings.code_version,
      'pipeline': summary['pipeline'], 'override': decision.get('override'),
      # what started the run (schedule, user, upstream Asset, monitoring request and its
      # reasons), who approved it, and each pipeline step's duration
      'trigger': plan.get('trigger'), 'approval': _approval(approval, plan),
      'executor': {'runner': settings.runner, 'pipeline_run_id': result['run_id']},
      'timings': summary.get('timings'),
      # the drift baseline: the data this model was trained on
      'drift_baseline': {'span_uri': span['uri'], 'window': plan['window'],
                         'profile': profile},
  })
  reason = (f'override {decision["override"]["kind"]}: {decision["override"]["reason"]}'
            if decision.get('override') else 'passed the promotion gate')
  registry.set_alias(record['version'], alias, reason=reason,
                     expected_version=expected if alias == 'champion' else ANY)
  return {'version': record['version'], 'model_uri': record['model_uri'],
          'model_name': settings.model_name, 'alias': alias}


def _approval(approval: dict | None, plan: Plan) -> dict:
  """Who let the candidate through: a person (manual mode), or the gate alone."""
  if approval:
    user = approval.get('responded_by_user') or {}
    return {'by': 'person', 'user': user.get('name') if isinstance(user, dict) else user,
            'at': str(approval.get('responded_at') or '')}
  return {'by': 'promotion gate (auto)', 'user': None,
          'forced': plan.get('force_promote_reason') or None}


def rollback(version, settings: Settings) -> dict:
  """Moves the champion alias to an existing version whose smoke test passed and, when the
  endpoint serves, all its traffic (the other versions stay deployed at 0%)."""
  from ct_platform.backends import registry_for

  registry = registry_for(settings)
  record = registry.get_version(int(version))
  smoke = record.get('smoke_test') or {}
  if not smoke.get('passed'):
    raise ValueError(f'version: {version} did not pass its smoke test '
                     f'({smoke.get("message", "no result")}); refusing to make it champion')
  registry.set_alias(int(version), 'champion', reason=f'rollback to version {version}')
  result = {'version': int(version), 'model_uri': record['model_uri']}
  from ct_platform.backends import endpoint_for
  endpoint = endpoint_for(settings)
  if endpoint.state() is not None:  # the champion is served here: move its traffic too
    served = endpoint.deploy(int(version), record['model_uri'], 100)
    result['traffic_split'] = served.traffic_split  # the others stay deployed, at 0%
  return result


# --- the branch rules (the DAG file only wires them) ------------------------------------

def _trigger_reason(plan: Plan | None) -> str | None:
  return ((plan or {}).get('trigger') or {}).get('reason')


def window_has_rows(span: SpanManifest, settings: Settings) -> bool:
  """An empty window ends the run here, successfully, and says so."""
  if span['rows']:
    return True
  from ct_platform.notify import notify
  notify('window_empty', f'window {span["window"]["start"]}..{span["window"]["end"]} has '
         f'no rows in the source table: nothing to train on, the run ends here',
         settings, span=span['uri'])
  return False


def retrain_needed(verdict: DriftVerdict, settings: Settings, plan: Plan | None = None) -> bool:
  """No significant drift and a fresh champion: the run ends here, successfully. A run
  monitoring asked for retrains whatever the drift verdict (still computed and reported)."""
  trigger = (plan or {}).get('trigger') or {}
  if trigger.get('kind') == 'monitoring':
    print(f'retraining: {trigger["reason"]}; the drift verdict was: {verdict["reason"]}')
    return True
  if not verdict['retrain']:
    from ct_platform.notify import notify
    notify('no_retrain', verdict['reason'], settings, report=verdict['report'],
           trigger=_trigger_reason(plan))
  return verdict['retrain']


def promotion_task(champion: ChampionRecord | None, settings: Settings) -> str:
  """promote (the champion alias moves now) or nominate_challenger (rollout: canary, and
  there is a champion to canary against)."""
  return 'nominate_challenger' if settings.rollout == 'canary' and champion else 'promote'


def choose_path(decision: GateDecision, plan: Plan, settings: Settings,
                champion: ChampionRecord | None = None):
  """The task(s) after the gate: end (rejected, dry run), promote (or nominate the
  challenger), or approval first."""
  if not decision['promote']:
    from ct_platform.notify import notify
    notify('candidate_rejected', 'candidate rejected: ' + '; '.join(decision['reasons']),
           settings, report=decision['report'], trigger=_trigger_reason(plan))
    return 'end'
  if plan['dry_run']:
    print('dry_run: the candidate passed the gate; stopping before promotion')
    return 'end'
  target = promotion_task(champion, settings)
  if plan['promotion_mode'] == 'manual':
    return ['request_approval', target]
  return target


def prune_spans(settings: Settings) -> list:
  """The retention step: old spans go, the champion's training span always stays."""
  from ct_platform.spans import prune_spans as prune

  champion = find_champion(settings) or {}
  protected = set()
  if champion.get('drift_baseline', {}).get('span_uri'):
    protected.add(champion['drift_baseline']['span_uri'])
  if champion.get('span', {}).get('uri'):
    protected.add(champion['span']['uri'])
  return prune(settings.bucket_root, settings.span_retention, protected, settings)

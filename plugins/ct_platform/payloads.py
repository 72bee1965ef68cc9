"""The payloads the continuous_training tasks pass each other through XCom, their shape
written down once. They stay plain JSON dicts (XCom's form, and what the UI shows);
these TypedDicts say which keys each holds, for readers and type checkers.

    plan_run        -> Plan
    extract_span    -> SpanManifest
    find_champion   -> ChampionRecord ({} when there is none)
    run_pipeline    -> PipelineResult
    promotion_gate  -> GateDecision
    evaluate_drift  -> DriftVerdict
"""

from __future__ import annotations

from typing import TypedDict


class Window(TypedDict):
  start: str     # ISO date, inclusive
  end: str       # ISO date, exclusive
  days: int
  source: str    # which rule chose `end`: param | logical_date | run_after


class Plan(TypedDict):
  window: Window
  run_id: str
  promotion_mode: str       # auto | manual
  dry_run: bool
  force_retrain: bool
  force_promote: bool
  force_promote_reason: str
  force_reject: bool
  force_reject_reason: str
  train_steps: int | None
  trigger: dict             # what started the run (ct_platform.run_trigger.describe)
  settings: dict            # the backends this run used (shown with the run's XCom)


class SpanManifest(TypedDict, total=False):
  uri: str
  window: Window
  rows: int
  columns: list
  files: list
  complete: bool
  written_at: str
  source_table: str
  warehouse: str            # duckdb | bigquery
  query_parameters: dict
  airflow_run_id: str
  try_number: int


class ChampionRecord(TypedDict, total=False):
  version: int
  model_uri: str
  model_name: str
  metrics: dict
  smoke_test: dict
  span: SpanManifest
  window: Window
  drift_baseline: dict      # {'profile', 'span_uri'}: what the next drift compares with


class PipelineResult(TypedDict):
  run_id: str
  summary_uri: str
  summary: dict             # run_summary.json (contracts/run_summary.schema.json)


class GateDecision(TypedDict):
  promote: bool
  outcome: str              # promote | reject
  reasons: list
  checks: list
  override: dict | None
  report: str
  run_id: str


class DriftVerdict(TypedDict, total=False):
  retrain: bool
  reason: str
  reasons: list
  drifted_features: list
  champion_age_days: int | None
  data_quality: dict
  report: str
  json: str
  profile_uri: str

"""Backends behind the DAG's interfaces, chosen by configuration (ct_platform.config).

    role        interface                local (embedded default)     production
    warehouse   Warehouse.extract_span   DuckDBWarehouse              BigQuery (provider)
    runner      PipelineRunner           LocalPipelineRunner          Vertex AI / KFP
    registry    ModelRegistry            LocalModelRegistry           Vertex AI Model Registry

DAG files never name a backend: tasks call the factories below with the run's
settings. Each factory imports its backend lazily, so nothing heavy loads at parse.
"""

from __future__ import annotations

from ct_platform.config import Settings


def warehouse_for(settings: Settings):
  if settings.warehouse == 'duckdb':
    from ct_platform.backends.duckdb_warehouse import DuckDBWarehouse
    return DuckDBWarehouse(settings.warehouse_file, settings.source_table)
  if settings.warehouse == 'bigquery':
    from ct_platform.backends.bigquery_warehouse import BigQueryWarehouse
    return BigQueryWarehouse.from_settings(settings)
  raise NotImplementedError(f'warehouse backend {settings.warehouse!r} is not built yet '
                            f'(see the Google Cloud backends issue)')


def runner_for(settings: Settings):
  if settings.runner == 'local':
    from ct_platform.backends.local_runner import LocalPipelineRunner
    return LocalPipelineRunner.from_settings(settings)
  if settings.runner == 'vertex':
    from ct_platform.backends.vertex import VertexPipelineRunner
    return VertexPipelineRunner.from_settings(settings)
  if settings.runner == 'kfp':
    from ct_platform.backends.kfp import KfpPipelineRunner
    return KfpPipelineRunner.from_settings(settings)
  raise NotImplementedError(f'runner backend {settings.runner!r} is not built yet')


def runner_from_config(config: dict):
  """Rebuilds a runner from PipelineRunner.config() (what a Trigger serializes)."""
  kind = config.get('kind')
  if kind == 'local':
    from ct_platform.backends.local_runner import LocalPipelineRunner
    return LocalPipelineRunner(**config['kwargs'])
  if kind == 'vertex':
    from ct_platform.backends.vertex import VertexPipelineRunner
    return VertexPipelineRunner(**config['kwargs'])
  if kind == 'kfp':
    from ct_platform.backends.kfp import KfpPipelineRunner
    return KfpPipelineRunner(**config['kwargs'])
  raise ValueError(f'runner config kind {kind!r} is unknown')


def registry_for(settings: Settings):
  if settings.registry == 'local':
    from ct_platform.backends.local_registry import LocalModelRegistry
    return LocalModelRegistry(settings.registry_root, settings.model_name)
  if settings.registry == 'vertex':
    from ct_platform.backends.vertex import VertexModelRegistry
    return VertexModelRegistry.from_settings(settings)
  raise NotImplementedError(f'registry backend {settings.registry!r} is not built yet')

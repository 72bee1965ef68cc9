"""Backends behind the DAG's interfaces, chosen by configuration (ct_platform.config).

    role        interface                local (embedded default)     production
    warehouse   extract_span, profile    DuckDBWarehouse              BigQueryWarehouse
    runner      PipelineRunner           LocalPipelineRunner          VertexPipelineRunner,
                                                                      KfpPipelineRunner (exp.)
    registry    ModelRegistry            LocalModelRegistry           VertexModelRegistry

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
  raise ValueError(f'setting warehouse: {settings.warehouse!r} is not duckdb or bigquery')


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
  raise ValueError(f'setting runner: {settings.runner!r} is not local, vertex or kfp')


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
  raise ValueError(f'setting registry: {settings.registry!r} is not local or vertex')

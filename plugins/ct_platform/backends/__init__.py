"""Backends behind the DAG's interfaces (backends/base.py), chosen by configuration.

    role        interface        local (embedded default)   production
    warehouse   Warehouse        DuckDBWarehouse            BigQueryWarehouse
    runner      PipelineRunner   LocalPipelineRunner        VertexPipelineRunner,
                                                            KfpPipelineRunner (exp.)
    registry    ModelRegistry    LocalModelRegistry         VertexModelRegistry
    endpoint    Endpoint         LocalEndpoint              VertexEndpoint

DAG files never name a backend: tasks call the factories below with the run's
settings. Each class is imported when first asked for, so nothing heavy loads at parse.
"""

from __future__ import annotations

import importlib

from ct_platform.config import Settings

# setting value -> 'module:Class', per role (the setting's name is the role's)
BACKENDS = {
    'warehouse': {'duckdb': 'ct_platform.backends.duckdb_warehouse:DuckDBWarehouse',
                  'bigquery': 'ct_platform.backends.bigquery_warehouse:BigQueryWarehouse'},
    'runner': {'local': 'ct_platform.backends.local_pipeline:LocalPipelineRunner',
               'vertex': 'ct_platform.backends.vertex:VertexPipelineRunner',
               'kfp': 'ct_platform.backends.kfp:KfpPipelineRunner'},
    'registry': {'local': 'ct_platform.backends.local_registry:LocalModelRegistry',
                 'vertex': 'ct_platform.backends.vertex_registry:VertexModelRegistry'},
    'endpoint': {'local': 'ct_platform.backends.local_endpoint:LocalEndpoint',
                 'vertex': 'ct_platform.backends.vertex_endpoint:VertexEndpoint'},
}


def backend_class(role: str, name: str):
  """The class configured as `name` for `role`; ValueError naming the setting if none."""
  table = BACKENDS[role]
  if name not in table:
    choices = ', '.join(table)
    raise ValueError(f'setting {role}: {name!r} is not one of {choices}')
  module, _, cls = table[name].partition(':')
  return getattr(importlib.import_module(module), cls)


def warehouse_for(settings: Settings):
  return backend_class('warehouse', settings.warehouse).from_settings(settings)


def runner_for(settings: Settings):
  return backend_class('runner', settings.runner).from_settings(settings)


def runner_from_config(config: dict):
  """Rebuilds a runner from PipelineRunner.config() (what a Trigger serializes)."""
  kind = config.get('kind')
  if kind not in BACKENDS['runner']:
    raise ValueError(f'runner config kind {kind!r} is unknown')
  return backend_class('runner', kind)(**config['kwargs'])


def registry_for(settings: Settings):
  return backend_class('registry', settings.registry).from_settings(settings)


def endpoint_for(settings: Settings):
  return backend_class('endpoint', settings.endpoint).from_settings(settings)


def endpoint_from_config(config: dict):
  """Rebuilds an endpoint from Endpoint.config() (what a Trigger serializes)."""
  kind = config.get('kind')
  if kind not in BACKENDS['endpoint']:
    raise ValueError(f'endpoint config kind {kind!r} is unknown')
  return backend_class('endpoint', kind)(**config['kwargs'])

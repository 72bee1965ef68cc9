"""Registers what Airflow's API server must know about: the pipeline run's console link.

Airflow finds this module by walking the plugins folder (Composer syncs plugins/ too).
"""

from airflow.plugins_manager import AirflowPlugin

from ct_platform.operators.pipeline_run import PipelineRunLink


class CtPlatformPlugin(AirflowPlugin):
  name = 'ct_platform'
  operator_extra_links = [PipelineRunLink()]

"""Every backend implements its interface (backends/base.py) and the factories find it."""

import inspect

import pytest

from ct_platform import backends
from ct_platform.backends import base

INTERFACE = {'warehouse': base.Warehouse, 'runner': base.PipelineRunner,
             'registry': base.ModelRegistry, 'endpoint': base.Endpoint}


def _members(protocol):
  names = {n for n in vars(protocol) if not n.startswith('_')}
  return names | set(getattr(protocol, '__annotations__', {}))


@pytest.mark.parametrize('role, name', [(r, n) for r, table in backends.BACKENDS.items()
                                        for n in table])
def test_each_backend_has_every_member_of_its_interface(role, name):
  cls = backends.backend_class(role, name)
  protocol = INTERFACE[role]
  for member in _members(protocol):
    if member in getattr(protocol, '__annotations__', {}):
      # a declared attribute: set on the class or by __init__
      source = inspect.getsource(cls)
      assert hasattr(cls, member) or f'self.{member} =' in source, (cls, member)
      continue
    assert callable(getattr(cls, member, None)), f'{cls.__name__} lacks {member}'
    expected = list(inspect.signature(getattr(protocol, member)).parameters)
    actual = list(inspect.signature(getattr(cls, member)).parameters)
    assert actual[:len(expected)] == expected, (cls.__name__, member, actual, expected)
  assert callable(getattr(cls, 'from_settings', None)), cls


def test_an_unknown_backend_names_the_setting_and_the_choices():
  with pytest.raises(ValueError, match="setting runner: 'airflow' is not one of local, "
                                       "vertex, kfp"):
    backends.backend_class('runner', 'airflow')
  with pytest.raises(ValueError, match="runner config kind 'x' is unknown"):
    backends.runner_from_config({'kind': 'x', 'kwargs': {}})


def test_the_local_defaults_come_from_settings(tmp_path):
  from ct_platform.config import load_settings
  settings = load_settings({'local_dir': str(tmp_path)})
  assert isinstance(backends.warehouse_for(settings), base.Warehouse)
  assert isinstance(backends.runner_for(settings), base.PipelineRunner)
  assert isinstance(backends.registry_for(settings), base.ModelRegistry)

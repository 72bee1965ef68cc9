"""The folder registry: versions, the atomic champion alias, rollback checks."""

import json
import multiprocessing
from pathlib import Path

import pytest

from ct_platform.backends.local_registry import AliasMoved, LocalModelRegistry, RegistryError


def make_model(path: Path, content=b'model') -> str:
  (path / 'Format-Serving').mkdir(parents=True)
  (path / 'Format-Serving' / 'saved_model.pb').write_bytes(content)
  return str(path)


def test_register_and_alias(tmp_path):
  reg = LocalModelRegistry(tmp_path / 'reg', 'm')
  assert reg.get_alias() is None
  rec = reg.register(make_model(tmp_path / 'c1'), {'run_id': 'r1', 'smoke_test':
                                                   {'passed': True}})
  assert rec['version'] == 1
  assert Path(rec['model_uri'], 'Format-Serving', 'saved_model.pb').read_bytes() == b'model'
  reg.set_alias(1)
  champion = reg.get_alias()
  assert champion['version'] == 1 and champion['run_id'] == 'r1'
  assert reg.register(make_model(tmp_path / 'c2'), {})['version'] == 2
  assert reg.get_alias()['version'] == 1  # registering is not promoting


def test_rejects_what_is_not_a_tfx_model_and_unknown_versions(tmp_path):
  reg = LocalModelRegistry(tmp_path / 'reg', 'm')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(RegistryError, match='not a TFX Model artifact'):
    reg.register(str(tmp_path / 'empty'), {})
  with pytest.raises(RegistryError, match='has no version 7'):
    reg.set_alias(7)


def _promote(args):
  root, model, n = args
  reg = LocalModelRegistry(root, 'm')
  rec = reg.register(model, {'by': n})
  reg.set_alias(rec['version'])
  return rec['version']


def test_concurrent_promotions_leave_one_valid_champion(tmp_path):
  models = [make_model(tmp_path / f'c{i}', f'model {i}'.encode()) for i in range(8)]
  with multiprocessing.get_context('fork').Pool(4) as pool:
    versions = pool.map(_promote, [(str(tmp_path / 'reg'), m, i)
                                   for i, m in enumerate(models)])
  assert sorted(versions) == list(range(1, 9))  # no version number claimed twice
  alias = tmp_path / 'reg' / 'm' / 'aliases' / 'champion.json'
  pointer = json.loads(alias.read_text())  # parses: not torn
  assert pointer['version'] in versions
  assert not list(alias.parent.glob('*.tmp'))
  reg = LocalModelRegistry(tmp_path / 'reg', 'm')
  champion = reg.get_alias()
  n = champion['by']
  assert Path(champion['model_uri'], 'Format-Serving',
              'saved_model.pb').read_bytes() == f'model {n}'.encode()


def _promote_expecting_none(args):
  root, model, n = args
  reg = LocalModelRegistry(root, 'm')
  rec = reg.register(model, {'by': n})
  try:
    reg.set_alias(rec['version'], expected_version=None)  # each saw no champion
    return rec['version']
  except AliasMoved:
    return None


def test_the_alias_moves_only_from_where_the_caller_saw_it(tmp_path):
  reg = LocalModelRegistry(tmp_path / 'reg', 'm')
  for i in (1, 2, 3):
    reg.register(make_model(tmp_path / f'c{i}'), {'run_id': f'r{i}'})
  reg.set_alias(1, expected_version=None)
  reg.set_alias(2, expected_version=1)
  alias = tmp_path / 'reg' / 'm' / 'aliases' / 'champion.json'
  before = alias.read_bytes()
  with pytest.raises(AliasMoved, match=r"points to version 2 now, not 1 as when this run "
                                       r"read it .*not overwriting it"):
    reg.set_alias(3, expected_version=1)  # a run gated against 1 while 2 took over
  with pytest.raises(AliasMoved, match='points to version 2 now, not None'):
    reg.set_alias(3, expected_version=None)
  assert alias.read_bytes() == before
  assert json.loads(before)['previous_version'] == 1
  reg.set_alias(1, reason='rollback')  # no expectation: a rollback moves it anyway
  assert reg.get_alias()['version'] == 1


def test_concurrent_first_promotions_elect_exactly_one_champion(tmp_path):
  models = [make_model(tmp_path / f'c{i}', f'model {i}'.encode()) for i in range(8)]
  with multiprocessing.get_context('fork').Pool(4) as pool:
    won = pool.map(_promote_expecting_none, [(str(tmp_path / 'reg'), m, i)
                                             for i, m in enumerate(models)])
  winners = [v for v in won if v is not None]
  assert len(winners) == 1
  assert LocalModelRegistry(tmp_path / 'reg', 'm').get_alias()['version'] == winners[0]

"""storage: the same operations on a local folder and on gs:// (gcp-storage-emulator),
with the caller's credentials and never an Airflow Variable."""

import json

import pytest
from fakes.http import create_test_bucket

from ct_platform import storage  # noqa: E402


@pytest.fixture
def bucket(emulator, monkeypatch, request):
  monkeypatch.setenv('STORAGE_EMULATOR_HOST', emulator)
  for conn in ('GOOGLE_CLOUD_DEFAULT', 'RUNNER_CONN'):
    monkeypatch.setenv(f'AIRFLOW_CONN_{conn}', json.dumps(
        {'conn_type': 'google_cloud_platform', 'extra': {'is_anonymous': True,
                                                         'project': 'p1'}}))
  # a read of the Variable would fail the test: storage must not look at it
  import ct_platform.config
  monkeypatch.setattr(ct_platform.config, 'load_settings',
                      lambda *a, **k: pytest.fail('storage read the settings Variable'))
  storage._client.cache_clear()
  yield f'gs://{create_test_bucket(request.node.name)}'
  storage._client.cache_clear()


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_write_read_list_delete_on_both(where, tmp_path, request):
  root = (request.getfixturevalue('bucket') + '/t' if where == 'gcs' else str(tmp_path))
  creds = storage.Credentials('runner_conn', '')
  uri = storage.join(root, 'spans', 'w', 'part-0.csv')
  storage.write_text(uri, 'a,b\n1,2\n', creds)
  assert storage.exists(uri, creds) and storage.read_text(uri, creds) == 'a,b\n1,2\n'
  assert storage.list_names(storage.join(root, 'spans', 'w'), creds) == ['part-0.csv']
  if where == 'local':  # on GCS an ifGenerationMatch=0 precondition (the emulator
    # ignores preconditions)
    with pytest.raises(FileExistsError):
      storage.write_text(uri, 'again', creds, create_only=True)
  storage.delete_tree(storage.join(root, 'spans'), creds)
  assert not storage.exists(uri, creds)


def test_no_credentials_means_the_default_connection(bucket):
  uri = bucket + '/default/x.txt'
  storage.write_text(uri, 'x')  # the default connection, no impersonation, no Variable
  assert storage.read_text(uri) == 'x'
  assert storage.DEFAULT_CREDENTIALS.gcp_conn_id == 'google_cloud_default'


@pytest.mark.parametrize('where', ['local', 'gcs'])
def test_objects_bytes_and_single_deletes_on_both(where, tmp_path, request):
  root = (request.getfixturevalue('bucket') + '/o' if where == 'gcs' else str(tmp_path))
  creds = storage.Credentials('runner_conn', '')
  storage.write_bytes(storage.join(root, 'a.json'), b'{}', creds)
  storage.write_bytes(storage.join(root, 'sub', 'b.bin'), b'\x00\x01', creds)
  found = storage.list_objects(root, creds)
  assert sorted(found) == ['a.json', 'sub/b.bin']
  assert found['sub/b.bin'].size == 2
  assert found['sub/b.bin'].md5 == storage.md5_b64(b'\x00\x01')  # GCS's base64 md5
  assert sorted(storage.list_objects(root, creds, recursive=False)) == ['a.json']
  assert storage.read_bytes(storage.join(root, 'sub', 'b.bin'), creds) == b'\x00\x01'
  assert storage.read_bytes(storage.join(root, 'missing'), creds) is None
  storage.delete(storage.join(root, 'a.json'), creds)
  storage.delete(storage.join(root, 'a.json'), creds)  # already gone: not an error
  assert sorted(storage.list_objects(root, creds)) == ['sub/b.bin']


def test_create_only_never_replaces_a_local_file(tmp_path):
  path = tmp_path / 'manifest.json'
  storage.write_bytes(str(path), b'first', create_only=True)
  with pytest.raises(FileExistsError, match='must not be replaced'):
    storage.write_bytes(str(path), b'second', create_only=True)
  assert path.read_bytes() == b'first'
  assert [p.name for p in tmp_path.iterdir()] == ['manifest.json']  # no temporary left


def test_application_default_credentials_use_no_airflow_connection(bucket, monkeypatch):
  # the deploy runs outside Airflow: no AIRFLOW_CONN_* at all, the client still works
  monkeypatch.delenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT')
  uri = bucket + '/adc/x.txt'
  storage.write_text(uri, 'x', storage.APPLICATION_DEFAULT)
  assert storage.read_text(uri, storage.APPLICATION_DEFAULT) == 'x'

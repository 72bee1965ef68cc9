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

"""The shipped sample is the tfx wheel's, byte for byte; the suite sees only the pipeline side."""

import hashlib
from pathlib import Path

from conftest import sample_csv_path


def test_the_repo_copy_of_the_taxi_sample_is_the_tfx_wheels():
  import tfx  # pylint: disable=g-import-not-at-top
  wheel = (Path(tfx.__file__).parent / 'examples' / 'chicago_taxi_pipeline' / 'data' /
           'simple' / 'data.csv')
  ours = sample_csv_path()
  assert hashlib.sha256(ours.read_bytes()).hexdigest() == hashlib.sha256(
      wheel.read_bytes()).hexdigest(), f'{ours} differs from {wheel}'
  assert sum(1 for _ in ours.open()) == 15003  # the header and 15,002 rows


def test_the_pipeline_suite_cannot_import_the_airflow_side():
  # tests/pipeline/pytest.ini keeps plugins/ off the path: the pipeline reads the shared
  # contracts by path only, as the image does.
  import importlib.util
  assert importlib.util.find_spec('ct_platform') is None
  assert importlib.util.find_spec('ct_pipeline') is not None

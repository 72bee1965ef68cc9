"""requirements.txt is what Composer installs on top of its image: nothing the image pins,
and the image it names runs the Airflow version the local env locks."""

import re

from ci_checks import REPO, locked_version

# Composer images ship these; pinning them in requirements.txt breaks the environment.
IMAGE_OWNED = re.compile(r'^(apache-airflow(-providers-[a-z-]+)?|google-cloud-[a-z-]+|'
                         r'google-api-core|protobuf|grpcio)(\W|$)', re.I)


def _requirements():
  lines = (REPO / 'requirements.txt').read_text().splitlines()
  return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


def test_requirements_pin_every_package_and_nothing_the_image_owns():
  reqs = _requirements()
  assert reqs, 'requirements.txt lists no packages'
  for req in reqs:
    assert re.match(r'^[A-Za-z0-9_.-]+==[\w.]+$', req), f'{req!r} is not pinned with =='
    assert not IMAGE_OWNED.match(req), f'{req!r}: the Composer image already ships it'


def test_the_named_composer_image_runs_the_locally_locked_airflow():
  text = (REPO / 'requirements.txt').read_text()
  images = re.findall(r'composer-3-airflow-(\d+\.\d+\.\d+)-build\.\d+', text)
  assert images, 'requirements.txt names no Composer image'
  assert set(images) == {locked_version('apache-airflow')}
  pinned = re.search(r'^apache-airflow==(\S+)$', (REPO / 'requirements-local.in').read_text(),
                     re.M)
  assert pinned and pinned.group(1) == images[0]


def test_the_serving_env_runs_the_training_tensorflow_or_newer():
  # a SavedModel loads in the TensorFlow that wrote it or a newer one, not an older one
  trained = locked_version('tensorflow', REPO / 'pipeline' / 'requirements.lock')
  served = locked_version('tensorflow', REPO / 'serving' / 'requirements.lock')
  assert tuple(map(int, served.split('.'))) >= tuple(map(int, trained.split('.'))), (
      f'serving/requirements.lock has tensorflow {served}, older than the training {trained}')


def test_the_serving_image_rule_knows_the_training_tensorflow():
  from ct_platform.serving_image import TRAINING_TENSORFLOW
  assert TRAINING_TENSORFLOW == locked_version('tensorflow',
                                               REPO / 'pipeline' / 'requirements.lock')


def test_monitoring_labels_trips_as_the_pipeline_does():
  # the decay check's label (ct_platform.monitoring.window) must be the model's own
  from ct_platform.monitoring import window
  text = (REPO / 'pipeline' / 'ct_pipeline' / 'models' / 'features.py').read_text()
  assert re.search(rf"^LABEL_KEY = '{window.LABEL_COLUMN}'$", text, re.M)
  assert re.search(rf'^BIG_TIP_FRACTION = {window.BIG_TIP_FRACTION}$', text, re.M)


def test_the_pipeline_image_starts_dataflow_workers_with_the_locked_beam():
  # --sdk_container_image is the pipeline image: its Beam boot launcher must be the one of
  # the Beam version the pipeline lock installs, and for the image's Python
  text = (REPO / 'pipeline' / 'Dockerfile').read_text()
  sdk = re.findall(r'^COPY --from=apache/beam_python(\d+\.\d+)_sdk:(\S+) /opt/apache/beam ',
                   text, re.M)
  assert sdk == [('3.10', locked_version('apache-beam', REPO / 'pipeline' / 'requirements.lock'))]
  assert re.search(r'^ENTRYPOINT \["/opt/apache/beam/boot"\]$', text, re.M)

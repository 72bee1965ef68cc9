"""The prediction container must be pinned and run the training TensorFlow or newer."""

import pytest

from ct_platform.serving_image import check_serving_image

PREBUILT = 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.{}'


@pytest.mark.parametrize('image', [
    PREBUILT.format('2-16@sha256:' + 'a' * 64),
    PREBUILT.format('2-17:20250101'),
    'europe-docker.pkg.dev/acme/serving/tipper:7c2e885',
    'localhost:5000/tipper@sha256:' + 'b' * 64,  # a registry port is not a tag
])
def test_pinned_images_of_a_recent_enough_tensorflow_pass(image):
  assert check_serving_image(image) == image


@pytest.mark.parametrize('image, message', [
    (PREBUILT.format('2-16:latest'), "is not pinned \\(tag latest\\)"),
    ('europe-docker.pkg.dev/acme/serving/tipper', 'is not pinned \\(tag none'),
    ('localhost:5000/tipper', 'is not pinned'),
    (PREBUILT.format('2-15@sha256:' + 'c' * 64), 'runs TensorFlow 2.15, older than the '
                                                 'training TensorFlow 2.16.2'),
    ('', 'serving_image is empty'),
])
def test_moving_tags_and_older_tensorflow_are_refused(image, message):
  with pytest.raises(ValueError, match=message):
    check_serving_image(image)

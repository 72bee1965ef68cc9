"""The rule for the prediction container of a registered version (setting serving_image).

It must be pinned (a digest, or a tag other than `latest`: a moving tag serves a different
stack tomorrow than the one validated today), and a Vertex AI prebuilt TensorFlow image
must carry the training TensorFlow or newer (a SavedModel can use ops an older runtime
lacks). TRAINING_TENSORFLOW is pipeline/requirements.lock's (tests/ci checks they agree).
"""

from __future__ import annotations

import re

TRAINING_TENSORFLOW = '2.16.2'
_PREBUILT = re.compile(r'/vertex-ai/prediction/tf2-(?:cpu|gpu)\.(\d+)-(\d+)')


def check_serving_image(image: str, training: str = TRAINING_TENSORFLOW) -> str:
  """Returns the image; raises ValueError naming what is wrong with it."""
  if not image:
    raise ValueError('setting serving_image is empty')
  last = image.rsplit('/', 1)[-1]
  digest = '@sha256:' in image
  tag = last.split('@')[0].rpartition(':')[2] if ':' in last.split('@')[0] else ''
  if not digest and tag in ('', 'latest'):
    raise ValueError(f'setting serving_image: {image!r} is not pinned (tag '
                     f'{tag or "none, i.e. latest"}): give a digest (image@sha256:...) or a '
                     f'fixed tag, so the stack validated is the stack that serves')
  m = _PREBUILT.search(image)
  if m:
    served = (int(m.group(1)), int(m.group(2)))
    trained = tuple(int(x) for x in training.split('.')[:2])
    if served < trained:
      raise ValueError(f'setting serving_image: {image!r} runs TensorFlow '
                       f'{served[0]}.{served[1]}, older than the training TensorFlow '
                       f'{training}; use tf2-cpu.{trained[0]}-{trained[1]} or newer')
  return image

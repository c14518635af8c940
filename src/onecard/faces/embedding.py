"""A face's 128-d descriptor from a picture: dlib's HOG detector, its 68-point landmarks
and its ResNet face-recognition model (weights from the ``face-recognition-models``
package; ``dlib-bin`` runs them).

Contract:
- ``describe(image)`` takes the bytes of a JPEG or PNG (or an RGB ``uint8`` array of
  shape h×w×3) and returns the descriptor (``float32``, 128) of its most confident face.
  A picture that cannot be read, is too large, or has no face raises ``NoFaceFound`` (an
  ``InvalidInput``: 422, nothing written).
- ``decode_image(text)`` — a picture sent as base64 (``NoFaceFound`` when it is not).
- ``check_descriptor(values)`` is the shape check for a descriptor a terminal computed
  itself: 128 finite numbers within ±1, else ``InvalidInput``.
- The models load once per process, on first use (about 2 s; 100 MB of weights).
  Descriptors of one person are usually within 0.6 of each other (Euclidean), of two
  people farther apart: dlib's own measure, the threshold ``Settings.face_threshold``.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from onecard.core.errors import InvalidInput, NoFaceFound
from onecard.faces.sealing import DIMENSIONS

MAX_PIXELS = 24_000_000  # a phone camera's photo; larger is refused before decoding
MAX_SIDE = 1600  # photos are scaled down to this before looking for a face (speed)
# dlib's detector and models are not documented as thread-safe: one picture at a time
# per process (a descriptor takes ~0.2 s; a terminal sending its own descriptor skips it).
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any, Any]:
    import dlib
    import face_recognition_models as weights

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(weights.pose_predictor_model_location()),
        dlib.face_recognition_model_v1(weights.face_recognition_model_location()),
    )


def _pixels(image: bytes | NDArray[np.uint8]) -> NDArray[np.uint8]:
    if isinstance(image, np.ndarray):
        arr = image
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(image)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise NoFaceFound("图片过大")
                im.thumbnail((MAX_SIDE, MAX_SIDE))
                arr = np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise NoFaceFound() from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise NoFaceFound()
    return np.ascontiguousarray(arr)


def decode_image(text: str) -> bytes:
    """A picture sent as base64 in JSON; not base64 is a picture we cannot read (422)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoFaceFound() from exc


def describe(image: bytes | NDArray[np.uint8]) -> NDArray[np.float32]:
    arr = _pixels(image)
    detector, landmarks, model = _models()
    with _LOCK:
        # A face of 80 px or more is found at the picture's own size; only a smaller
        # one needs the detector's 2× upsampling (four times the work).
        boxes, scores, _ = detector.run(arr, 0, 0.0)
        if len(boxes) == 0:
            boxes, scores, _ = detector.run(arr, 1, 0.0)
        if len(boxes) == 0:
            raise NoFaceFound()
        best = max(range(len(boxes)), key=lambda i: scores[i])
        shape = landmarks(arr, boxes[best])
        values = model.compute_face_descriptor(arr, shape)
    return np.asarray(values, dtype=np.float32)


def check_descriptor(values: Sequence[float]) -> NDArray[np.float32]:
    """128 finite numbers, each within ±1 (a dlib descriptor's are; the API's document
    says the same). Nothing else is assumed: a vector no face has is simply far from
    every template."""
    if len(values) != DIMENSIONS or not all(
        isinstance(v, int | float) and math.isfinite(v) and -1.0 <= v <= 1.0 for v in values
    ):
        raise InvalidInput("descriptor 须为 128 个 -1 至 1 之间的实数")
    return np.asarray(values, dtype=np.float32)

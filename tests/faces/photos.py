"""Real photographs that ship inside packages, and the variants face pay must see through.

``skimage.data.astronaut()`` (Eileen Collins) and matplotlib's sample ``grace_hopper.jpg``
(Grace Hopper) are two different people. Each is also given rescaled, mirrored and
gamma-changed; ``coffee()`` is a photograph with no face. Descriptors are computed once
per test session (dlib takes ~0.3 s a picture).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from onecard.faces.embedding import describe

Pixels = NDArray[np.uint8]


def astronaut() -> Pixels:
    from skimage import data

    return np.asarray(data.astronaut(), dtype=np.uint8)


def grace_hopper() -> Pixels:
    from matplotlib.cbook import get_sample_data

    path = get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def coffee() -> Pixels:
    from skimage import data

    return np.asarray(data.coffee(), dtype=np.uint8)


PEOPLE: dict[str, Callable[[], Pixels]] = {"astronaut": astronaut, "grace": grace_hopper}


def rescaled(p: Pixels, factor: float) -> Pixels:
    h, w = p.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(p).resize(size, Image.Resampling.LANCZOS))


def mirrored(p: Pixels) -> Pixels:
    return np.ascontiguousarray(p[:, ::-1])


def gamma(p: Pixels, g: float) -> Pixels:
    return np.asarray(np.clip(255.0 * (p / 255.0) ** g, 0, 255), dtype=np.uint8)


VARIANTS: dict[str, Callable[[Pixels], Pixels]] = {
    "half size": lambda p: rescaled(p, 0.5),
    "1.5× size": lambda p: rescaled(p, 1.5),
    "mirrored": mirrored,
    "darker (γ 1.8)": lambda p: gamma(p, 1.8),
    "lighter (γ 0.55)": lambda p: gamma(p, 0.55),
}


def jpeg(p: Pixels, quality: int = 85, max_side: int | None = None) -> bytes:
    im = Image.fromarray(p)
    if max_side:
        im.thumbnail((max_side, max_side))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


@cache
def descriptor(person: str, variant: str | None = None) -> tuple[float, ...]:
    pixels = PEOPLE[person]()
    if variant is not None:
        pixels = VARIANTS[variant](pixels)
    return tuple(float(v) for v in describe(pixels))

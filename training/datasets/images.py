"""Image reading for training: file paths, tiles of in-memory arrays, a bounded per-process cache."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from dasiamrpn_core.evaluation.frames import read_image as decode_image

CACHE_BYTES = 256 * 1024 * 1024  # per process
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = [0]
_GENERATED: dict[str, callable] = {}


def register_generated(key: str, factory) -> None:
    """Register an image that is built in memory (e.g. a mosaic of array images) under ``key``."""
    _GENERATED[key] = factory


def read_image(key: str) -> np.ndarray:
    """BGR uint8 image for a path (decoded by the evaluation toolkit's ``read_image``, the project's one
    image decoder) or a registered key; raises DatasetError when unreadable. Cached per process."""
    image = _CACHE.get(key)
    if image is not None:
        _CACHE.move_to_end(key)
        return image
    image = _GENERATED[key]() if key in _GENERATED else decode_image(Path(key))
    image = np.ascontiguousarray(image)
    _CACHE[key] = image
    _CACHE_SIZE[0] += image.nbytes
    while _CACHE_SIZE[0] > CACHE_BYTES and len(_CACHE) > 1:
        _, old = _CACHE.popitem(last=False)
        _CACHE_SIZE[0] -= old.nbytes
    return image


def clear_cache() -> None:
    """Forget cached images (e.g. after files changed on disk)."""
    _CACHE.clear()
    _CACHE_SIZE[0] = 0


def image_size(key: str) -> tuple[int, int]:
    """(width, height) of an image."""
    h, w = read_image(key).shape[:2]
    return w, h

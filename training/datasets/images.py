"""Image reading for training: file paths, tiles of in-memory arrays, a bounded per-process cache."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from .records import DatasetError

CACHE_BYTES = 256 * 1024 * 1024  # per process
_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_CACHE_SIZE = [0]
_GENERATED: dict[str, callable] = {}


def register_generated(key: str, factory) -> None:
    """Register an image that is built in memory (e.g. a mosaic of array images) under ``key``."""
    _GENERATED[key] = factory


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def read_image(key: str) -> np.ndarray:
    """BGR uint8 image for a path or a registered key; raises DatasetError when unreadable."""
    image = _CACHE.get(key)
    if image is not None:
        _CACHE.move_to_end(key)
        return image
    if key in _GENERATED:
        image = _GENERATED[key]()
    else:
        path = Path(key)
        if not path.is_file():
            raise DatasetError(f"image not found: {key}")
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.size == 0:
            raise DatasetError(f"unreadable image: {key}")
        if image.dtype != np.uint8:
            image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    image = np.ascontiguousarray(_as_bgr(image))
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

"""Search/template sub-window extraction, exactly as the original ``get_subwindow_tracking``."""
from __future__ import annotations

import cv2
import numpy as np

from .geometry import py2_round


def crop_origin(center: float, side: float) -> float:
    """Top-left pixel of a ``side``-pixel window centred on ``center`` (original rounding)."""
    return py2_round(center - (side + 1) / 2.0)


def get_subwindow(image: np.ndarray, center: tuple[float, float], model_size: int, original_size: float,
                  pad_value: np.ndarray) -> np.ndarray:
    """Crop a square of ``original_size`` pixels around ``center``, pad outside the image with
    ``pad_value`` (per-channel, truncated to uint8 as the original) and resize to ``model_size``.

    Returns an HxWx3 uint8 patch. ``original_size`` must already be an integer (the original
    rounds it before calling).
    """
    sz = int(original_size)
    if sz < 1:
        raise ValueError(f"crop size must be at least 1 pixel, got {original_size}")
    h, w = image.shape[:2]
    xmin = int(crop_origin(center[0], sz))
    ymin = int(crop_origin(center[1], sz))
    xmax, ymax = xmin + sz - 1, ymin + sz - 1
    left, top = max(0, -xmin), max(0, -ymin)
    right, bottom = max(0, xmax - w + 1), max(0, ymax - h + 1)
    if left or top or right or bottom:
        patch = np.empty((sz, sz, image.shape[2]), dtype=np.uint8)
        patch[:] = pad_value
        # the part of the window that lies inside the image
        sx0, sy0 = max(xmin, 0), max(ymin, 0)
        sx1, sy1 = min(xmax + 1, w), min(ymax + 1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - ymin:sy1 - ymin, sx0 - xmin:sx1 - xmin] = image[sy0:sy1, sx0:sx1]
    else:
        patch = image[ymin:ymax + 1, xmin:xmax + 1]
    if sz != model_size:
        patch = cv2.resize(patch, (model_size, model_size))
    return np.ascontiguousarray(patch)

"""Affine crops of a target with context (template and search), with boxes mapped into the crop.

Coordinates: boxes are 0-based (x, y, w, h) with pixel ``i`` covering ``[i, i + 1)``; a crop of
side ``size`` covers ``[0, size)`` and its centre is ``size / 2``.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def context_side(w: float, h: float, context_amount: float) -> float:
    """Side of the square template window: sqrt((w + p)(h + p)), p = context * (w + h), as the tracker."""
    p = context_amount * (w + h)
    return math.sqrt((w + p) * (h + p))


def crop_affine(image: np.ndarray, center: tuple[float, float], side_x: float, side_y: float, size: int,
                pad: np.ndarray, angle_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Crop the ``side_x`` x ``side_y`` window centred on ``center`` (optionally rotated) to
    ``size`` x ``size``; outside the image is filled with ``pad``. Returns (crop, 2x3 matrix
    mapping image edge-coordinates to crop edge-coordinates)."""
    sx, sy = size / side_x, size / side_y
    cx, cy = center
    if angle_deg:
        a = math.radians(angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        rot = np.array([[ca, sa], [-sa, ca]])
    else:
        rot = np.eye(2)
    lin = np.diag([sx, sy]) @ rot
    offset = np.array([size / 2.0, size / 2.0]) - lin @ np.array([cx, cy])
    m_edge = np.hstack([lin, offset[:, None]])
    # cv2 works on pixel centres: u_c = u_e - 0.5, x_e = x_c + 0.5
    m_centre = m_edge.copy()
    m_centre[:, 2] = lin @ np.array([0.5, 0.5]) + offset - 0.5
    crop = cv2.warpAffine(image, m_centre, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in pad))
    return crop, m_edge


def map_box(box: np.ndarray, m_edge: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box (x, y, w, h) of ``box`` transformed by the affine matrix."""
    x, y, w, h = (float(v) for v in box)
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]])
    pts = corners @ m_edge.T
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    if abs(m_edge[0, 1]) > 1e-9:  # rotated: the tight box of a rotated box overestimates; shrink halfway
        cw, ch = x1 - x0, y1 - y0
        sw = math.hypot(m_edge[0, 0], m_edge[0, 1]) * w
        sh = math.hypot(m_edge[1, 0], m_edge[1, 1]) * h
        nw, nh = (cw + sw) / 2, (ch + sh) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return np.array([cx - nw / 2, cy - nh / 2, nw, nh], np.float32)
    return np.array([x0, y0, x1 - x0, y1 - y0], np.float32)


def mean_pad(image: np.ndarray) -> np.ndarray:
    """Per-channel mean (the tracker pads with it)."""
    return image.reshape(-1, image.shape[-1]).mean(axis=0)

"""Exact overlap of an axis-aligned box with a polygon (VOT rotated-rectangle ground truth).

The VOT toolkit rasterises regions; here the areas are computed exactly by clipping the polygon
(Sutherland-Hodgman against the box, which is convex), optionally inside the image bounds.
"""
from __future__ import annotations

import numpy as np


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a (K, 2) polygon (0 for fewer than 3 points)."""
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def clip_to_box(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The part of a (K, 2) polygon inside the box ``[x0, x1] x [y0, y1]``."""
    pts = [tuple(p) for p in points]
    for axis, bound, keep_above in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        if not pts:
            break
        out = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            cur_in = cur[axis] >= bound if keep_above else cur[axis] <= bound
            prev_in = prev[axis] >= bound if keep_above else prev[axis] <= bound
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                cross = (prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1]))
                out.append(cross)
            if cur_in:
                out.append(cur)
        pts = out
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def box_polygon_overlap(box, polygon, bounds: tuple[float, float] | None = None) -> float:
    """IoU of an ``x, y, w, h`` box and an 8-value polygon, inside ``bounds = (width, height)``.

    0 when either region is missing (NaN) or empty.
    """
    box = np.asarray(box, dtype=np.float64)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if not (np.all(np.isfinite(box)) and np.all(np.isfinite(poly))) or box[2] <= 0 or box[3] <= 0:
        return 0.0
    bx0, by0, bx1, by1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    if bounds is not None:
        w, h = bounds
        poly = clip_to_box(poly, 0.0, 0.0, w, h)
        bx0, by0, bx1, by1 = max(bx0, 0.0), max(by0, 0.0), min(bx1, w), min(by1, h)
    box_area = max(bx1 - bx0, 0.0) * max(by1 - by0, 0.0)
    poly_area = polygon_area(poly)
    if box_area <= 0 or poly_area <= 0:
        return 0.0
    inter = polygon_area(clip_to_box(poly, bx0, by0, bx1, by1))
    union = box_area + poly_area - inter
    return float(min(max(inter / union, 0.0), 1.0)) if union > 0 else 0.0

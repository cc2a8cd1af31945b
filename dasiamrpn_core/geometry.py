"""Box conventions and small geometric helpers shared by tracking, training and evaluation.

Conventions (the project's boundary): boxes are 0-based pixel ``(x, y, w, h)`` with
``(x, y)`` the top-left corner; the tracker's internal state is centre + size
``(cx, cy, w, h)`` with ``cx = x + w / 2``.
"""
from __future__ import annotations

import math

import numpy as np


def py2_round(value: float) -> float:
    """Round half away from zero, as Python 2's ``round`` (used by the original code).

    Python 3's ``round`` rounds ties to even, which changes the original trajectories.
    """
    return float(math.floor(value + 0.5)) if value >= 0 else -float(math.floor(-value + 0.5))


def xywh_to_cxcywh(box) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2.0, y + h / 2.0, w, h], dtype=np.float64)


def cxcywh_to_xywh(box) -> np.ndarray:
    cx, cy, w, h = (float(v) for v in box)
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float64)


def xywh_to_corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x,y,w,h -> (..., 4) x1,y1,x2,y2."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:4]], axis=-1)


def cxcywh_to_corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) cx,cy,w,h -> (..., 4) x1,y1,x2,y2."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2] - boxes[..., 2:4] / 2, boxes[..., :2] + boxes[..., 2:4] / 2], axis=-1)


def corners_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of x1,y1,x2,y2 boxes, broadcast over the leading dimensions of ``a`` and ``b`` (the
    project's one IoU: element-wise for two (N, 4) arrays, a matrix for (N, 1, 4) and (1, M, 4)).
    An empty union gives 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two (N, 4) arrays of x,y,w,h boxes (inputs are not modified).

    Boxes with non-positive or non-finite size give IoU 0.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    iou = corners_iou(xywh_to_corners(a), xywh_to_corners(b))
    valid = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
    valid &= (a[:, 2] > 0) & (a[:, 3] > 0) & (b[:, 2] > 0) & (b[:, 3] > 0)
    return np.where(valid, iou, 0.0)


def pairwise_iou_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre-size boxes -> (N, N) IoU matrix."""
    corners = cxcywh_to_corners(boxes)
    return corners_iou(corners[:, None], corners[None])


def nms_cxcywh(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Greedy non-maximum suppression; returns indices into ``boxes``, best first."""
    order = np.argsort(-scores, kind="stable")
    ious = pairwise_iou_cxcywh(boxes)
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for idx in order:
        if suppressed[idx]:
            continue
        keep.append(int(idx))
        if len(keep) >= max_keep:
            break
        suppressed |= ious[idx] > iou_threshold
    return np.asarray(keep, dtype=np.int64)

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


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two (N, 4) arrays of x,y,w,h boxes (inputs are not modified).

    Boxes with non-positive or non-finite size give IoU 0.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    ca, cb = xywh_to_corners(a), xywh_to_corners(b)
    iw = np.clip(np.minimum(ca[:, 2], cb[:, 2]) - np.maximum(ca[:, 0], cb[:, 0]), 0, None)
    ih = np.clip(np.minimum(ca[:, 3], cb[:, 3]) - np.maximum(ca[:, 1], cb[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    valid = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(b), axis=1)
    valid &= (a[:, 2] > 0) & (a[:, 3] > 0) & (b[:, 2] > 0) & (b[:, 3] > 0)
    return np.where(valid, iou, 0.0)


def pairwise_iou_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre-size boxes -> (N, N) IoU matrix."""
    boxes = np.asarray(boxes, dtype=np.float64)
    x1 = boxes[:, 0] - boxes[:, 2] / 2
    y1 = boxes[:, 1] - boxes[:, 3] / 2
    x2 = boxes[:, 0] + boxes[:, 2] / 2
    y2 = boxes[:, 1] + boxes[:, 3] / 2
    iw = np.clip(np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]), 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]), 0, None)
    inter = iw * ih
    area = boxes[:, 2] * boxes[:, 3]
    union = area[:, None] + area[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


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

"""SiamRPN anchor targets, on the anchors of ``dasiamrpn_core.anchors`` (the tracker's own grid).

Labels: 1 positive (IoU >= positive_iou), 0 negative (IoU < negative_iou), -1 ignored; at most
``max_positives`` positives among ``total_samples`` labelled anchors. Regression targets are
normalised by the anchor: ``dx = (gx - ax) / aw``, ``dy = (gy - ay) / ah``, ``dw = log(gw / aw)``,
``dh = log(gh / ah)`` (the tracker decodes exactly this).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dasiamrpn_core.anchors import generate_anchors
from dasiamrpn_core.geometry import corners_iou, cxcywh_to_corners

from .config import TargetConfig

IGNORE, NEGATIVE, POSITIVE = -1, 0, 1


@dataclass(frozen=True)
class AnchorTargets:
    labels: np.ndarray   # (K,) int64 in {-1, 0, 1}, K = A * S * S (anchor-major)
    deltas: np.ndarray   # (K, 4) float32
    weights: np.ndarray  # (K,) float32 regression weight (1/num_pos on positives)


class AnchorTargetBuilder:
    def __init__(self, cfg: TargetConfig, search_size: int):
        self.cfg = cfg
        self.search_size = search_size
        self.score_size = cfg.anchors.score_size(search_size)
        self.anchors = generate_anchors(cfg.anchors, self.score_size).astype(np.float64)  # cx, cy, w, h

    def ious(self, box_xywh: np.ndarray) -> np.ndarray:
        """IoU of every anchor with a box given in search-crop pixels."""
        x, y, w, h = (float(v) for v in box_xywh)
        c = self.search_size / 2.0
        return corners_iou(cxcywh_to_corners(self.anchors), np.array([x - c, y - c, x + w - c, y + h - c]))

    def __call__(self, box_xywh: np.ndarray | None, rng: np.random.Generator,
                 hard_negative_box: np.ndarray | None = None,
                 extra_negative_boxes: np.ndarray | None = None,
                 ignore_box: np.ndarray | None = None) -> AnchorTargets:
        """Targets for a positive pair (``box_xywh`` = target in the search crop) or, with
        ``box_xywh=None``, a negative pair. In a negative pair the anchors that would be positive
        for ``hard_negative_box`` (the distractor at the crop centre) are labelled negative first;
        anchors overlapping ``ignore_box`` (the template's own object, visible in the search of a
        same-video negative) at IoU >= negative_iou are left unlabelled, never negative.
        In a positive pair, anchors matching any of ``extra_negative_boxes`` ((k, 4): pasted or
        annotated look-alikes) are added as negatives (up to ``max_positives`` of them)."""
        cfg = self.cfg
        k = len(self.anchors)
        labels = np.full(k, IGNORE, np.int64)
        deltas = np.zeros((k, 4), np.float32)
        weights = np.zeros(k, np.float32)
        if box_xywh is None:
            allowed = np.ones(k, bool)
            if ignore_box is not None:
                allowed = self.ious(ignore_box) < cfg.negative_iou
            hard = np.zeros(0, np.int64)
            if hard_negative_box is not None:
                hard = np.flatnonzero((self.ious(hard_negative_box) >= cfg.positive_iou) & allowed)
                hard = _choose(hard, cfg.max_positives, rng)
            labels[hard] = NEGATIVE
            rest = np.setdiff1d(np.flatnonzero(allowed), hard)
            labels[_choose(rest, cfg.total_samples - cfg.max_positives, rng)] = NEGATIVE
            return AnchorTargets(labels, deltas, weights)
        iou = self.ious(box_xywh)
        pos = _choose(np.flatnonzero(iou >= cfg.positive_iou), cfg.max_positives, rng)
        neg = _choose(np.flatnonzero(iou < cfg.negative_iou), cfg.total_samples - len(pos), rng)
        labels[neg] = NEGATIVE
        if extra_negative_boxes is not None and len(extra_negative_boxes):
            near = np.zeros(k, bool)
            for other in np.asarray(extra_negative_boxes).reshape(-1, 4):
                near |= self.ious(other) >= cfg.positive_iou
            hard = np.flatnonzero(near & (iou < cfg.negative_iou))
            labels[_choose(hard, cfg.max_positives, rng)] = NEGATIVE
        labels[pos] = POSITIVE
        x, y, w, h = (float(v) for v in box_xywh)
        c = self.search_size / 2.0
        gx, gy = x + w / 2 - c, y + h / 2 - c
        a = self.anchors
        deltas[:, 0] = (gx - a[:, 0]) / a[:, 2]
        deltas[:, 1] = (gy - a[:, 1]) / a[:, 3]
        deltas[:, 2] = np.log(w / a[:, 2])
        deltas[:, 3] = np.log(h / a[:, 3])
        if len(pos):
            weights[pos] = 1.0 / len(pos)
        return AnchorTargets(labels, deltas, weights)


def _choose(idx: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(idx) <= n:
        return idx
    return rng.choice(idx, size=n, replace=False)

"""One-pass metrics: overlaps, centre errors, success / precision / normalised precision curves.

Boxes are ``(N, 4)`` ``x, y, w, h`` arrays; no function modifies its inputs. A prediction that is
missing (NaN) or empty scores IoU 0 and an infinite centre error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import iou_xywh
from .config import OPEConfig


def centers(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    return b[:, :2] + b[:, 2:4] / 2.0


def center_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance of box centres, pixels (inf where the prediction is missing)."""
    d = np.linalg.norm(centers(pred) - centers(gt), axis=1)
    return np.where(np.isfinite(d), d, np.inf)


def normalized_center_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre distance with each axis divided by the ground-truth size (LaSOT / TrackingNet)."""
    gt = np.asarray(gt, dtype=np.float64)
    d = np.linalg.norm((centers(pred) - centers(gt)) / gt[:, 2:4], axis=1)
    return np.where(np.isfinite(d), d, np.inf)


def success_thresholds(cfg: OPEConfig) -> np.ndarray:
    return np.linspace(0.0, 1.0, cfg.success_bins)


def precision_thresholds(cfg: OPEConfig) -> np.ndarray:
    return np.arange(cfg.precision_max_px + 1, dtype=np.float64)


def norm_precision_thresholds(cfg: OPEConfig) -> np.ndarray:
    return np.linspace(0.0, cfg.norm_precision_max, cfg.norm_precision_bins)


def success_curve(ious: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of frames with IoU strictly above each threshold (OTB convention)."""
    ious = np.asarray(ious, dtype=np.float64)
    return np.mean(ious[:, None] > thresholds[None, :], axis=0)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of frames with centre error at most each threshold."""
    errors = np.asarray(errors, dtype=np.float64)
    return np.mean(errors[:, None] <= thresholds[None, :], axis=0)


@dataclass(frozen=True)
class OPEScores:
    """Scores of one sequence (or their average over sequences)."""

    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    average_overlap: float
    success_rates: tuple[float, ...]
    frames: int

    def summary(self, cfg: OPEConfig) -> dict:
        """The headline numbers: AUC, precision@20px, normalised precision@0.2, AO, SR."""
        norm_idx = int(np.argmin(np.abs(norm_precision_thresholds(cfg) - cfg.norm_precision_threshold)))
        out = {"success_auc": float(np.mean(self.success_curve)),
               "precision_20": float(self.precision_curve[cfg.precision_px]),
               "norm_precision": float(self.norm_precision_curve[norm_idx]),
               "average_overlap": float(self.average_overlap)}
        for t, v in zip(cfg.success_rates, self.success_rates):
            out[f"success_rate_{int(round(t * 100))}"] = float(v)
        return out

    def curves(self) -> dict:
        return {"success_curve": self.success_curve.tolist(), "precision_curve": self.precision_curve.tolist(),
                "norm_precision_curve": self.norm_precision_curve.tolist()}


def ope_scores(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, cfg: OPEConfig) -> OPEScores | None:
    """Scores over the frames where ``valid`` (annotated, target visible); ``None`` if there are none."""
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        return None
    p, g = np.asarray(pred, dtype=np.float64)[valid], np.asarray(gt, dtype=np.float64)[valid]
    ious = np.clip(iou_xywh(p, g), 0.0, 1.0)  # float rounding can exceed 1 for identical boxes
    return OPEScores(
        success_curve=success_curve(ious, success_thresholds(cfg)),
        precision_curve=precision_curve(center_errors(p, g), precision_thresholds(cfg)),
        norm_precision_curve=precision_curve(normalized_center_errors(p, g), norm_precision_thresholds(cfg)),
        average_overlap=float(np.mean(ious)),
        success_rates=tuple(float(np.mean(ious > t)) for t in cfg.success_rates),
        frames=int(valid.sum()))


def mean_scores(scores: list[OPEScores]) -> OPEScores | None:
    """Overall scores: curves averaged over sequences (each counts once, as the OTB toolkit does);
    average overlap and success rates pooled over frames (as the GOT-10k toolkit does)."""
    if not scores:
        return None
    weights = np.array([s.frames for s in scores], dtype=np.float64)
    return OPEScores(
        success_curve=np.mean([s.success_curve for s in scores], axis=0),
        precision_curve=np.mean([s.precision_curve for s in scores], axis=0),
        norm_precision_curve=np.mean([s.norm_precision_curve for s in scores], axis=0),
        average_overlap=float(np.average([s.average_overlap for s in scores], weights=weights)),
        success_rates=tuple(np.average([s.success_rates for s in scores], axis=0, weights=weights).tolist()),
        frames=int(weights.sum()))


LOOKALIKE_OTHER_IOU = 0.5    # the box sits on another instance: IoU with that object's ground truth >= this ...
LOOKALIKE_OWN_IOU = 0.1      # ... and below this with its own


def lookalike_frames(pred: np.ndarray, gt: np.ndarray, others, valid: np.ndarray) -> np.ndarray:
    """(N,) bool: frames where the predicted box sits on another instance (IoU >= LOOKALIKE_OTHER_IOU with
    another object's ground truth, < LOOKALIKE_OWN_IOU with its own), among the ``valid`` frames.
    ``others``: per frame, the (k, 4) boxes of the other annotated objects (a MOT sequence's
    ``metadata["others"]``)."""
    if len(others) != len(pred):
        raise ValueError(f"{len(others)} rows of other objects for {len(pred)} predicted boxes")
    own = iou_xywh(pred, gt)
    out = np.zeros(len(pred), bool)
    for f in np.flatnonzero(valid):
        boxes = np.asarray(others[f], np.float64).reshape(-1, 4)
        if len(boxes) and own[f] < LOOKALIKE_OWN_IOU:
            out[f] = bool(np.max(iou_xywh(np.repeat(pred[f][None], len(boxes), 0), boxes)) >= LOOKALIKE_OTHER_IOU)
    return out

"""VOT long-term measures: tracking precision, recall and F-score over confidence thresholds.

Follows vot-toolkit 0.7.4 (``vot.analysis.longterm``): thresholds are picked from all the
confidences of the run (``resolution`` of them, plus +inf and -inf); per sequence, precision is the
mean overlap over frames reported with confidence >= threshold (1 if there are none), recall the
sum of those overlaps over the number of frames with a visible target; curves are averaged over
sequences and the F-score is the maximum of F over thresholds. The initialisation frame is left
out (it is given, not tracked).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def thresholds(confidences: np.ndarray, resolution: int) -> np.ndarray:
    scores = np.sort(np.asarray(confidences, dtype=np.float64)[~np.isnan(confidences)])[::-1]
    if len(scores) > resolution - 2:
        delta = math.floor(len(scores) / (resolution - 2))
        idx = np.round(np.linspace(delta, len(scores) - delta, num=resolution - 2)).astype(int)
        picked = scores[idx]
    else:
        picked = scores
    return np.concatenate([[math.inf], picked, [-math.inf]])


def pr_curves(overlaps: np.ndarray, confidence: np.ndarray, visible: np.ndarray, thr: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of one sequence at each threshold."""
    n_visible = int(np.sum(visible))
    precision = np.ones(len(thr))
    recall = np.zeros(len(thr))
    for i, t in enumerate(thr):
        subset = confidence >= t
        if subset.any():
            precision[i] = float(np.mean(overlaps[subset]))
            recall[i] = float(np.sum(overlaps[subset])) / n_visible if n_visible else 0.0
    return precision, recall


@dataclass(frozen=True)
class LongTermScores:
    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f_beta: float = 1.0

    @property
    def f_curve(self) -> np.ndarray:
        b2 = self.f_beta ** 2
        denom = b2 * self.precision + self.recall
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, (1 + b2) * self.precision * self.recall / np.where(denom > 0, denom, 1), 0.0)

    def summary(self) -> dict:
        f = self.f_curve
        best = int(np.argmax(f))
        t = float(self.thresholds[best])
        return {"f_score": float(f[best]), "precision": float(self.precision[best]),
                "recall": float(self.recall[best]), "threshold": t if math.isfinite(t) else None}

    def curves(self) -> dict:
        finite = [None if not math.isfinite(t) else float(t) for t in self.thresholds]
        return {"thresholds": finite, "precision_curve": self.precision.tolist(),
                "recall_curve": self.recall.tolist(), "f_score_curve": self.f_curve.tolist()}


def average(curves: list[tuple[np.ndarray, np.ndarray]], thr: np.ndarray, f_beta: float) -> LongTermScores:
    precision = np.mean([c[0] for c in curves], axis=0)
    recall = np.mean([c[1] for c in curves], axis=0)
    return LongTermScores(thr, precision, recall, f_beta)

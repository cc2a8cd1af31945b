"""VOT supervised (baseline) experiment: the run with re-initialisations and its measures.

Frame codes follow VOT's result files: ``1`` initialisation, ``2`` failure, ``0`` skipped (after a
failure, before the re-initialisation); tracked frames hold a box.
Measures follow vot-toolkit 0.7.4 (``vot.analysis.supervised``): accuracy leaves out the
``burnin`` frames from each initialisation and failure/skipped frames; EAO averages, over all
tracking segments (initialisation to failure, or to the end), the running mean overlap that
excludes the initialisation frame; failed segments count with overlap 0 after the failure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .regions import box_polygon_overlap

SKIPPED, INIT, FAILURE, TRACKED = 0, 1, 2, -1


@dataclass(frozen=True)
class Segment:
    overlaps: np.ndarray  # from the initialisation frame (overlap 0) up to, not including, the failure
    failed: bool


def frame_overlaps(boxes: np.ndarray, codes: np.ndarray, gt_polygons: np.ndarray,
                   bounds: tuple[float, float] | None) -> np.ndarray:
    """Overlap of each tracked frame with the ground truth; 0 for init/failure/skipped frames."""
    out = np.zeros(len(codes))
    for i in np.flatnonzero(codes == TRACKED):
        out[i] = box_polygon_overlap(boxes[i], gt_polygons[i], bounds)
    return out


def accuracy(overlaps: np.ndarray, codes: np.ndarray, burnin: int) -> tuple[float, int]:
    """Mean overlap over tracked frames outside the burn-in; (0, 0) if there are none."""
    mask = codes == TRACKED
    for i in np.flatnonzero(codes == INIT):
        mask[i:i + burnin] = False
    if not mask.any():
        return 0.0, 0
    return float(np.mean(overlaps[mask])), int(mask.sum())


def failures(codes: np.ndarray) -> int:
    return int(np.sum(codes == FAILURE))


def segments(overlaps: np.ndarray, codes: np.ndarray) -> list[Segment]:
    """Tracking segments of one run (each initialisation to its failure or to the end)."""
    inits = np.flatnonzero(codes == INIT)
    fails = np.flatnonzero(codes == FAILURE)
    out = []
    for k, start in enumerate(inits):
        later = fails[fails > start]
        next_init = inits[k + 1] if k + 1 < len(inits) else len(codes)
        if len(later) and later[0] < next_init:
            out.append(Segment(overlaps[start:later[0]], True))
        else:
            out.append(Segment(overlaps[start:], False))
    return out


def eao_curve(all_segments: list[Segment]) -> np.ndarray:
    """Expected average overlap for each sequence length (index = length - 1)."""
    if not all_segments:
        return np.zeros(0)
    length = max(len(s.overlaps) for s in all_segments)
    total = np.zeros(length)
    weight = np.zeros(length)
    steps = np.arange(1, length)
    for seg in all_segments:
        padded = np.zeros(length)
        padded[:len(seg.overlaps)] = seg.overlaps
        running = np.empty(length)
        running[0] = padded[0]
        running[1:] = np.cumsum(padded[1:]) / steps  # mean over frames 1..j (the init frame left out)
        valid = np.ones(length, dtype=bool) if seg.failed else np.arange(length) < len(seg.overlaps)
        total += np.where(valid, running, 0.0)
        weight += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.maximum(weight, 1), np.nan)


def eao_score(curve: np.ndarray, interval: tuple[int, int]) -> float | None:
    """Mean of the curve over the interval ``[low, high]``; None if the curve is shorter than ``low``."""
    low, high = interval
    part = curve[low:high + 1]
    if len(part) == 0:
        return None
    return float(np.mean(part))

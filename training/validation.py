"""Validation during training: the real tracker on held-out sequences, scored by success AUC."""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core.config import SiamRPNParams, TrackerConfig
from dasiamrpn_core.geometry import iou_xywh
from dasiamrpn_core.models import SiamRPN
from dasiamrpn_core.tracker import TRACKERS

from .config import TrainConfig
from .datasets import load_all
from .datasets.images import read_image
from .datasets.records import Track
from .synthetic import synthetic_tracks

LOG = logging.getLogger("training")
SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)  # the OTB success-plot thresholds


def success_auc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Area under the success curve (mean success rate over IoU thresholds 0, 0.05, ..., 1) over the
    frames whose ground truth is valid."""
    valid = np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if not valid.any():
        return float("nan")
    ious = iou_xywh(pred[valid], gt[valid])
    return float(np.mean([(ious > t).mean() for t in SUCCESS_THRESHOLDS]))


def run_sequence(tracker, frames: list[np.ndarray] | tuple[str, ...], boxes: np.ndarray) -> np.ndarray:
    """One pass from the first box; returns the predicted (N, 4) boxes (frame 0 = the init box)."""
    first = frames[0] if isinstance(frames[0], np.ndarray) else read_image(frames[0])
    tracker.init(first, tuple(float(v) for v in boxes[0]))
    out = [np.asarray(boxes[0], np.float64)]
    for f in frames[1:]:
        image = f if isinstance(f, np.ndarray) else read_image(f)
        out.append(np.asarray(tracker.track(image).box, np.float64))
    return np.stack(out)


def evaluate_tracker(net: SiamRPN, params: SiamRPNParams, tracks: list[Track], mode: str = "siamrpn",
                     max_frames: int = 0, device: str = "cpu", **overrides) -> dict:
    """Success AUC per track and the mean. ``net`` is copied (the tracker folds BN in eval mode)."""
    net = copy.deepcopy(net).cpu().eval()
    config = TrackerConfig(mode=mode, siamrpn=params).with_overrides(**overrides)
    scores: dict[str, float] = {}
    sources: dict[str, list[float]] = {}
    with torch.no_grad():
        for track in tracks:
            first = np.flatnonzero(np.all(np.isfinite(track.boxes), axis=1))
            if len(first) == 0:
                continue
            start = int(first[0])
            end = len(track.frames) if not max_frames else min(len(track.frames), start + max_frames)
            frames, boxes = track.frames[start:end], track.boxes[start:end]
            if len(frames) < 2:
                continue
            tracker = TRACKERS[mode](net, config, device=device)
            pred = run_sequence(tracker, frames, boxes)
            scores[track.name] = success_auc(pred[1:], boxes[1:])
            sources.setdefault(track.source, []).append(scores[track.name])
    values = [v for v in scores.values() if np.isfinite(v)]
    return {"per_sequence": scores, "mean_auc": float(np.mean(values)) if values else float("nan"),
            "per_source": {k: float(np.nanmean(v)) for k, v in sources.items()}}


def validation_tracks(cfg: TrainConfig, cache_dir: Path, max_sequences: int = 0) -> list[Track]:
    """The held-out sequences of ``cfg.validation`` (datasets and synthetic sequences), at most
    ``max_sequences`` (default ``validation.max_sequences``) of them, taken from every source in turn."""
    v = cfg.validation
    tracks: list[Track] = []
    if v.datasets:
        tracks.extend(load_all(v.datasets, seed=cfg.seed, cache_dir=cache_dir,
                               min_box=cfg.sampling.min_box_pixels))
    for count, variant in ((v.synthetic_sequences, "plain"), (v.twin_sequences, "twin"),
                           (v.occlusion_sequences, "occlusion")):
        if count:
            tracks.extend(synthetic_tracks(v.synthetic_photos, count, v.synthetic_frames,
                                           Path(cache_dir) / "synthetic", seed=cfg.seed, variant=variant))
    tracks = [t for t in tracks if len(t.frames) >= 2]
    return tracks[:max_sequences or v.max_sequences]

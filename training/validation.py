"""Validation during training: the real tracker on held-out sequences, scored by success AUC."""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core.config import SiamRPNParams, TrackerConfig
from dasiamrpn_core.evaluation.config import OPEConfig
from dasiamrpn_core.evaluation.metrics import ope_scores
from dasiamrpn_core.evaluation.runner import run_ope
from dasiamrpn_core.evaluation.sequence import Sequence
from dasiamrpn_core.models import SiamRPN
from dasiamrpn_core.tracker import TRACKERS

from .config import TrainConfig
from .datasets import load_all
from .datasets.records import Track
from .synthetic import synthetic_tracks

LOG = logging.getLogger("dasiamrpn_training")


def evaluate_tracker(net: SiamRPN, params: SiamRPNParams, tracks: list[Track], mode: str = "siamrpn",
                     max_frames: int = 0, device: str = "cpu", **overrides) -> dict:
    """Success AUC per track and the mean, by the evaluation toolkit's own one-pass run
    (``run_ope``) and scores (``ope_scores``), over the frames after the first (the given box).
    ``net`` is copied (the tracker folds BN in eval mode)."""
    net = copy.deepcopy(net).cpu().eval()
    config = TrackerConfig(mode=mode, siamrpn=params).with_overrides(**overrides)
    ope = OPEConfig()
    scores: dict[str, float] = {}
    sources: dict[str, list[float]] = {}
    with torch.no_grad():
        for track in tracks:
            seq = track_sequence(track, max_frames)
            if seq is None:
                continue
            result = run_ope(TRACKERS[mode](net, config, device=device), seq)
            scored = seq.annotated.copy()
            scored[0] = False
            summary = ope_scores(result.boxes, seq.boxes, scored, ope)
            scores[track.name] = summary.summary(ope)["success_auc"] if summary is not None else float("nan")
            sources.setdefault(track.source, []).append(scores[track.name])
    values = [v for v in scores.values() if np.isfinite(v)]
    return {"per_sequence": scores, "mean_auc": float(np.mean(values)) if values else float("nan"),
            "per_source": {k: float(np.nanmean(v)) for k, v in sources.items()},
            "source_of": {t.name: t.source for t in tracks if t.name in scores}}


def track_sequence(track: Track, max_frames: int = 0) -> Sequence | None:
    """A training track as an evaluation sequence: from its first annotated frame, at most
    ``max_frames`` frames (0: all); None when fewer than 2 frames remain."""
    annotated = np.flatnonzero(np.all(np.isfinite(track.boxes), axis=1))
    if len(annotated) == 0:
        return None
    start = int(annotated[0])
    end = len(track.frames) if not max_frames else min(len(track.frames), start + max_frames)
    if end - start < 2:
        return None
    boxes = np.asarray(track.boxes[start:end], np.float64)
    # a NaN row is an absent target; Sequence.annotated adds the positive-size check
    absent = ~np.all(np.isfinite(boxes), axis=1)
    return Sequence(track.name, tuple(Path(f) for f in track.frames[start:end]), boxes, absent)


def validation_tracks(cfg: TrainConfig, cache_dir: Path, max_sequences: int = 0) -> list[Track]:
    """The held-out sequences of ``cfg.validation`` (datasets and synthetic sequences), at most
    ``max_sequences`` (default ``validation.max_sequences``) of them, taken from every source in turn."""
    v = cfg.validation
    tracks: list[Track] = []
    if v.datasets:
        tracks.extend(load_all(v.datasets, seed=cfg.seed, cache_dir=cache_dir,
                               min_box=cfg.sampling.min_box_pixels))
    for count, variant in ((v.synthetic_sequences, "plain"), (v.twin_sequences, "twin"),
                           (v.occlusion_sequences, "occlusion"), (v.fast_sequences, "fast")):
        if count:
            tracks.extend(synthetic_tracks(v.synthetic_photos, count, v.synthetic_frames,
                                           Path(cache_dir) / "synthetic", seed=cfg.seed, variant=variant))
    tracks = [t for t in tracks if len(t.frames) >= 2]
    return tracks[:max_sequences or v.max_sequences]

"""Dataset adapters: each turns one dataset layout into a list of :class:`Track`."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from ..config import DatasetSpec
from .records import DatasetError, SkipCounter, Track

LOG = logging.getLogger("dasiamrpn_training.datasets")

# kind -> (module, function); functions take (spec, skips) unless noted
ADAPTERS = {
    "got10k": ("got10k", "got10k_tracks"),
    "vid": ("vid", "vid_tracks"),
    "youtube_bb": ("youtube_bb", "youtube_bb_tracks"),
    "lasot": ("lasot", "lasot_tracks"),
    "det": ("det", "det_tracks"),
    "coco": ("coco", "coco_tracks"),
    "sequences": ("sequences", "sequence_tracks"),
    "mot": ("mot", "mot_tracks"),
    "prepared": ("prepared", "prepared_tracks"),
}


def load_tracks(spec: DatasetSpec, *, seed: int = 1, cache_dir: Path | None = None,
                min_box: float = 4.0) -> list[Track]:
    """Tracks of one dataset; raises DatasetError for a missing root or an empty dataset."""
    if spec.kind == "photos":
        from .photos import photo_tracks
        return photo_tracks(spec, seed)
    if spec.kind == "videos":
        from .videos import video_tracks
        return video_tracks(spec, Path(cache_dir or "output/cache"))
    if spec.kind == "flow_videos":
        from .flow_tracklets import flow_video_tracks
        return flow_video_tracks(spec, Path(cache_dir or "output/cache"))
    if not spec.root:
        raise DatasetError(f"dataset {spec.label} ({spec.kind}): no root directory given")
    if not Path(spec.root).is_dir():
        raise DatasetError(f"dataset {spec.label} ({spec.kind}): root directory not found: {spec.root}")
    module, func = ADAPTERS[spec.kind]
    adapter = getattr(importlib.import_module(f"{__name__}.{module}"), func)
    skips = SkipCounter(spec.label)
    tracks = adapter(spec, skips, min_box)
    if spec.min_frames > 1:   # e.g. held-out objects annotated on too few frames to score
        tracks = [t for t in tracks if len(t.valid_indices(min_box)) >= spec.min_frames]
    if skips.total:
        LOG.warning("%s: skipped %d item(s): %s", spec.label, skips.total, skips.summary())
    if not tracks:
        raise DatasetError(f"dataset {spec.label} ({spec.kind}) at {spec.root} is empty: no usable "
                           f"annotated object (skipped: {skips.summary()})")
    if spec.max_items:
        tracks = tracks[:spec.max_items]
    return tracks


def load_all(specs, *, seed: int = 1, cache_dir: Path | None = None, min_box: float = 4.0) -> list[Track]:
    if not specs:
        raise DatasetError("no datasets configured (the `datasets:` list of the config is empty)")
    tracks: list[Track] = []
    for spec in specs:
        got = load_tracks(spec, seed=seed, cache_dir=cache_dir, min_box=min_box)
        LOG.info("dataset %s (%s): %d tracks", spec.label, spec.kind, len(got))
        tracks.extend(got)
    return tracks


__all__ = ["DatasetError", "Track", "load_tracks", "load_all", "ADAPTERS"]

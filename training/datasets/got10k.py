"""GOT-10k (train split): ``<root>/<split>/GOT-10k_Train_NNNNNN/{00000001.jpg..., groundtruth.txt,
absence.label, meta_info.ini}``; the category is ``object_class`` of ``meta_info.ini``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import SkipCounter, Track, clean_boxes
from .textio import list_frames, read_boxes, read_flags, selected


def _meta(path: Path) -> dict[str, str]:
    out = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
    return out


def got10k_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    base = Path(spec.root) / spec.split if (Path(spec.root) / spec.split).is_dir() else Path(spec.root)
    listed = base / "list.txt"
    names = (listed.read_text().split() if listed.is_file()
             else sorted(p.name for p in base.iterdir() if p.is_dir()))
    tracks = []
    for name in names:
        if not selected(name, spec.include, spec.exclude):
            continue
        seq = base / name
        if not (seq / "groundtruth.txt").is_file():
            skips.skip("sequence without groundtruth.txt", name)
            continue
        frames = list_frames(seq)
        boxes = read_boxes(seq / "groundtruth.txt")
        n = min(len(frames), len(boxes))
        if n == 0:
            skips.skip("sequence without frames", name)
            continue
        boxes = boxes[:n].copy()
        boxes[read_flags(seq / "absence.label", n)] = np.nan
        meta = _meta(seq / "meta_info.ini")
        size = None
        if "resolution" in meta:
            try:
                w, h = (int(float(v)) for v in meta["resolution"].strip("()[] ").split(","))
                size = (w, h)
            except ValueError:
                size = None
        boxes = clean_boxes(boxes, *(size or (None, None)), min_box, skips, name)
        tracks.append(Track(spec.label, name, meta.get("object_class", "unknown"),
                            tuple(str(f) for f in frames[:n]), boxes))
    return tracks

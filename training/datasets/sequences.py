"""The project's sequence layout (``../shared/data/sequences``, OTB-style): ``<root>/<name>/img/*.jpg``
and ``groundtruth.txt`` (0-based x, y, w, h per frame). The category is the sequence name."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import DatasetSpec
from .records import SkipCounter, Track, clean_boxes
from .textio import frames_with_boxes, selected


def sequence_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    tracks = []
    for seq in sorted(p for p in Path(spec.root).iterdir() if p.is_dir()):
        if not selected(seq.name, spec.include, spec.exclude):
            continue
        if not (seq / "groundtruth.txt").is_file() or not (seq / "img").is_dir():
            skips.skip("not a sequence directory (no img/ or groundtruth.txt)", seq.name)
            continue
        read = frames_with_boxes(seq, skips)
        if read is None:
            continue
        frames, boxes = read
        size = None
        meta = seq / "meta.json"
        if meta.is_file():
            info = json.loads(meta.read_text())
            if "width" in info and "height" in info:
                size = (int(info["width"]), int(info["height"]))
        boxes = clean_boxes(boxes, *(size or (None, None)), min_box, skips, seq.name)
        tracks.append(Track(spec.label, seq.name, seq.name, tuple(str(f) for f in frames), boxes))
    return tracks

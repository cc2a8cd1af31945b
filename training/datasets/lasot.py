"""LaSOT: ``<root>/<category>/<category>-<n>/{img/%08d.jpg, groundtruth.txt (1-based x,y,w,h),
full_occlusion.txt, out_of_view.txt}``. Occluded / out-of-view frames are marked missing."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import SkipCounter, Track, clean_boxes
from .textio import frames_with_boxes, read_flags, selected


def lasot_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    root = Path(spec.root)
    tracks = []
    for cat in sorted(p for p in root.iterdir() if p.is_dir()):
        for seq in sorted(p for p in cat.iterdir() if p.is_dir()):
            if not selected(seq.name, spec.include, spec.exclude):
                continue
            if not (seq / "groundtruth.txt").is_file():
                skips.skip("sequence without groundtruth.txt", seq.name)
                continue
            read = frames_with_boxes(seq, skips)
            if read is None:
                continue
            frames, boxes = read
            n = len(frames)
            boxes[:, :2] -= 1.0  # 1-based -> 0-based
            hidden = read_flags(seq / "full_occlusion.txt", n) | read_flags(seq / "out_of_view.txt", n)
            boxes[hidden] = np.nan
            boxes = clean_boxes(boxes, None, None, min_box, skips, seq.name)
            tracks.append(Track(spec.label, seq.name, cat.name, tuple(str(f) for f in frames), boxes))
    return tracks

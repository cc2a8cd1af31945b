"""YouTube-BoundingBoxes: the detection CSV (``annotations``, default
``<root>/yt_bb_detection_<split>.csv``: youtube_id, timestamp_ms, class_id, class_name, object_id,
object_presence, xmin, xmax, ymin, ymax with coordinates normalised to [0, 1]) and frames decoded
beforehand to ``<root>/frames/<youtube_id>/<timestamp_ms>.jpg``. One track per (video, class,
object); absent objects and frames missing on disk are counted skips."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .images import image_size
from .records import DatasetError, SkipCounter, Track, clean_boxes
from .records import selected


def youtube_bb_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    root = Path(spec.root)
    ann = Path(spec.annotations) if spec.annotations else root / f"yt_bb_detection_{spec.split}.csv"
    if not ann.is_file():
        raise DatasetError(f"{spec.label}: YouTube-BB CSV not found: {ann}")
    rows: dict[tuple, list] = defaultdict(list)
    with open(ann, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), 1):
            if len(row) < 10:
                skips.skip("short CSV row", f"{ann.name}:{lineno}")
                continue
            yid, ts, _cid, cname, oid, presence = row[:6]
            if not selected(yid, spec.include, spec.exclude):
                continue
            try:
                x0, x1, y0, y1 = (float(v) for v in row[6:10])
            except ValueError:
                skips.skip("non-numeric CSV row", f"{ann.name}:{lineno}")
                continue
            visible = presence.strip().lower() == "present"
            rows[(yid, cname, oid)].append((int(ts), visible, (x0, y0, x1, y1)))
    tracks = []
    for (yid, cname, oid), items in sorted(rows.items()):
        items.sort()
        frames, boxes = [], []
        size = None
        for ts, visible, (x0, y0, x1, y1) in items:
            path = root / "frames" / yid / f"{ts}.jpg"
            if not path.is_file():
                skips.skip("frame not decoded on disk", str(path))
                continue
            if size is None:
                try:
                    size = image_size(str(path))
                except DatasetError:
                    skips.skip("unreadable image", str(path))
                    continue
            w, h = size
            frames.append(str(path))
            boxes.append((x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h) if visible else (np.nan,) * 4)
        if frames:
            b = clean_boxes(np.asarray(boxes, np.float32), *size, min_box, skips, f"{yid}#{oid}")
            tracks.append(Track(spec.label, f"{yid}_{cname}_{oid}", cname, tuple(frames), b))
    return tracks

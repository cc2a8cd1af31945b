"""ImageNet VID: ``<root>/Annotations/VID/<split>/<snippet>/<frame>.xml`` and
``<root>/Data/VID/<split>/<snippet>/<frame>.JPEG`` (snippets may sit in sub-folders such as
``ILSVRC2015_VID_train_0000``). One track per (snippet, trackid); category = the synset."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import DatasetError, SkipCounter, Track, clean_boxes
from .records import selected
from .voc_xml import parse


def vid_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    ann_root = Path(spec.root) / "Annotations" / "VID" / spec.split
    data_root = Path(spec.root) / "Data" / "VID" / spec.split
    if not ann_root.is_dir():
        raise DatasetError(f"{spec.label}: ImageNet VID annotations not found at {ann_root}")
    snippets = sorted({p.parent for p in ann_root.rglob("*.xml")})
    tracks = []
    for snip in snippets:
        rel = snip.relative_to(ann_root)
        if not selected(str(rel), spec.include, spec.exclude):
            continue
        xmls = sorted(snip.glob("*.xml"))
        per_track: dict[str, dict] = {}
        for f, xml in enumerate(xmls):
            try:
                size, objects = parse(xml)
            except DatasetError as exc:
                skips.skip("malformed XML", str(exc))
                continue
            for obj in objects:
                t = per_track.setdefault(obj["trackid"], {"name": obj["name"], "boxes": {}, "size": size})
                t["boxes"][f] = obj["box"]
        frames = tuple(str(data_root / rel / (x.stem + ".JPEG")) for x in xmls)
        for tid, t in sorted(per_track.items()):
            boxes = np.full((len(xmls), 4), np.nan, np.float32)
            for f, b in t["boxes"].items():
                boxes[f] = b
            boxes = clean_boxes(boxes, *(t["size"] if t["size"][0] else (None, None)), min_box, skips,
                                f"{rel}#{tid}")
            tracks.append(Track(spec.label, f"{rel}#{tid}", t["name"], frames, boxes))
    return tracks

"""ImageNet DET: ``<root>/Annotations/DET/<split>/**/*.xml`` and ``<root>/Data/DET/<split>/**/*.JPEG``.
Every object box is a still-image track (positives by augmentation); category = the synset."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import DatasetError, SkipCounter, Track, clean_boxes
from .records import selected
from .voc_xml import parse


def det_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    ann_root = Path(spec.root) / "Annotations" / "DET" / spec.split
    data_root = Path(spec.root) / "Data" / "DET" / spec.split
    if not ann_root.is_dir():
        raise DatasetError(f"{spec.label}: ImageNet DET annotations not found at {ann_root}")
    tracks = []
    for xml in sorted(ann_root.rglob("*.xml")):
        rel = xml.relative_to(ann_root).with_suffix("")
        if not selected(str(rel), spec.include, spec.exclude):
            continue
        try:
            size, objects = parse(xml)
        except DatasetError as exc:
            skips.skip("malformed XML", str(exc))
            continue
        image = str(data_root / rel) + ".JPEG"
        for k, obj in enumerate(objects):
            box = clean_boxes(np.asarray([obj["box"]], np.float32), *(size if size[0] else (None, None)),
                              min_box, skips, f"{rel}#{k}")
            if np.isfinite(box).all():
                tracks.append(Track(spec.label, f"{rel}#{k}", obj["name"], (image,), box, still=True))
    return tracks

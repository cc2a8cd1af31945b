"""COCO: ``<root>/<split>/<file_name>`` images and ``annotations`` (default
``<root>/annotations/instances_<split>.json``). Every non-crowd instance is a still-image track."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import DatasetError, SkipCounter, Track, clean_boxes
from .records import selected


def coco_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    root = Path(spec.root)
    ann = Path(spec.annotations) if spec.annotations else root / "annotations" / f"instances_{spec.split}.json"
    if not ann.is_file():
        raise DatasetError(f"{spec.label}: COCO annotation file not found: {ann}")
    try:
        data = json.loads(ann.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{spec.label}: {ann} is not valid JSON: {exc}") from exc
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DatasetError(f"{spec.label}: {ann} has no {key!r} list (not a COCO instances file)")
    images = {im["id"]: im for im in data["images"]}
    cats = {c["id"]: c["name"] for c in data["categories"]}
    tracks = []
    for a in data["annotations"]:
        if a.get("iscrowd"):
            continue
        im = images.get(a["image_id"])
        if im is None:
            skips.skip("annotation of an unknown image", str(a.get("id")))
            continue
        if not selected(im["file_name"], spec.include, spec.exclude):
            continue
        box = clean_boxes(np.asarray([a["bbox"]], np.float32), im.get("width"), im.get("height"), min_box,
                          skips, f"{im['file_name']}#{a.get('id')}")
        if np.isfinite(box).all():
            tracks.append(Track(spec.label, f"{im['file_name']}#{a.get('id')}", cats.get(a["category_id"], "unknown"),
                                (str(root / spec.split / im["file_name"]),), box, still=True))
    return tracks

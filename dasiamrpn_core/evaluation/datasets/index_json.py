"""Datasets described by a JSON index (DaSiamRPN's ``OTB2015.json``, pysot's ``OTB100.json`` etc.).

Two shapes are recognised, keyed by sequence name:

* DaSiamRPN: ``{"name": folder, "image_files": ["0001.jpg", ...], "gt_rect": [[x, y, w, h], ...]}``
  with images in ``ROOT/<folder>/img/``;
* pysot: ``{"video_dir": folder, "img_names": ["<folder>/img/0001.jpg", ...], "gt_rect": [...],
  "attr": [...]}`` with image paths relative to ``ROOT``.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..annotation_io import boxes_from_values
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import make_sequence


def load_index(root: Path, index: Path, *, one_based: bool) -> list[Sequence]:
    try:
        data = json.loads(index.read_text())
    except FileNotFoundError:
        raise DatasetError(f"index file not found: {index}") from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(index, exc.lineno, f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not data:
        raise AnnotationError(index, None, "expected a non-empty JSON object keyed by sequence name")
    sequences = []
    for key, entry in data.items():
        if not isinstance(entry, dict) or "gt_rect" not in entry:
            raise AnnotationError(index, None, f"sequence {key!r}: no 'gt_rect' list")
        if "image_files" in entry:
            folder = root / str(entry.get("name", key)) / "img"
            frames = tuple(folder / f for f in entry["image_files"])
        elif "img_names" in entry:
            frames = tuple(root / f for f in entry["img_names"])
        else:
            raise AnnotationError(index, None, f"sequence {key!r}: neither 'image_files' nor 'img_names'")
        missing = [f for f in frames if not f.is_file()]
        if missing:
            raise DatasetError(f"{index}: sequence {key!r}: {len(missing)} of {len(frames)} frames missing, "
                               f"first {missing[0]}")
        ann = boxes_from_values(index, key, entry["gt_rect"], one_based=one_based, allow_nan=True,
                                allow_empty=True)
        sequences.append(make_sequence(str(key), frames, ann, attributes=entry.get("attr", ()),
                                       one_based=one_based))
    return sequences

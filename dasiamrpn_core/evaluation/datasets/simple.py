"""The project's shared layout (``../shared/data/sequences``, see its README).

``<seq>/img/%08d.jpg``, ``<seq>/groundtruth.txt`` (0-based ``x,y,w,h``; a ``nan,nan,nan,nan`` line is a
frame where the target is absent or unannotated, as in ``../shared/data/train/sot``), optional
``groundtruth_polygon.txt`` (VOT polygons, used for the supervised protocol's overlaps),
``groundtruth_target2.txt`` (a second target: sequence ``<seq>-target2``) and ``meta.json``
(``attributes``: free text, the words before any parenthesis are the attribute name).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..annotation_io import Annotation, read_boxes
from ..errors import DatasetError
from ..sequence import Sequence
from .common import list_frames, load_folders, make_sequence, read_meta

SECOND_TARGET = "groundtruth_target2.txt"


def _attributes(meta_path: Path) -> tuple[tuple[str, ...], dict]:
    meta = read_meta(meta_path)
    names = []
    for text in meta.get("attributes", []):
        name = re.sub(r"\s*\(.*$", "", str(text)).strip().replace(" ", "_")
        if name and name not in names:
            names.append(name)
    return tuple(names), meta


def sequence_folders(root: Path) -> list[Path]:
    """The folders of ``root`` that hold a ``groundtruth.txt``."""
    if not root.is_dir():
        raise DatasetError(f"sequences folder not found: {root}")
    return sorted(p for p in root.iterdir() if (p / "groundtruth.txt").is_file())


def read_sequences(folder: Path) -> list[Sequence]:
    """The sequence of one folder, and its second target (``<name>-target2``) when annotated;
    ``metadata`` keeps ``meta.json``'s ``benchmark``, ``width`` and ``height``."""
    frames = list_frames(folder / "img")
    attributes, meta = _attributes(folder / "meta.json")
    ann = read_boxes(folder / "groundtruth.txt", allow_nan=True)
    poly_path = folder / "groundtruth_polygon.txt"
    if poly_path.is_file():
        poly = read_boxes(poly_path, allow_polygons=True)
        if poly.polygons is not None and len(poly.polygons) == len(ann.boxes):
            ann = Annotation(ann.boxes, poly.polygons, ann.absent, ann.path)
    info = {k: meta[k] for k in ("benchmark", "width", "height") if k in meta}
    sequences = [make_sequence(folder.name, frames, ann, attributes=attributes, metadata=info)]
    second = folder / SECOND_TARGET
    if second.is_file():
        sequences.append(make_sequence(f"{folder.name}-target2", frames, read_boxes(second, allow_nan=True),
                                       attributes=attributes, metadata=info))
    return sequences


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    return load_folders("simple", root, split, index, sequence_folders, read_sequences,
                        "sequences (<name>/groundtruth.txt with img/)")

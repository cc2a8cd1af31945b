"""The project's shared layout (``../shared/data/sequences``, see its README).

``<seq>/img/%08d.jpg``, ``<seq>/groundtruth.txt`` (0-based ``x,y,w,h``; a ``nan,nan,nan,nan`` line is a
frame where the target is absent or unannotated, as in ``../shared/data/train/sot``), optional
``groundtruth_polygon.txt`` (VOT polygons, used for the supervised protocol's overlaps),
``groundtruth_target2.txt`` (a second target: sequence ``<seq>-target2``) and ``meta.json``
(``attributes``: free text, the words before any parenthesis are the attribute name).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..annotation_io import Annotation, read_boxes
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence

SECOND_TARGET = "groundtruth_target2.txt"


def _attributes(meta_path: Path) -> tuple[tuple[str, ...], dict]:
    if not meta_path.is_file():
        return (), {}
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise AnnotationError(meta_path, exc.lineno, f"invalid JSON ({exc.msg})") from None
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
    if split is not None or index is not None:
        raise DatasetError("dataset 'simple' takes no --split/--index")
    sequences = [seq for folder in sequence_folders(root) for seq in read_sequences(folder)]
    if not sequences:
        raise DatasetError(f"no sequences (<name>/groundtruth.txt with img/) in {root}")
    return sequences

"""VOT short-term (2016-2019) and long-term (2018-LT/2019-LT) sequences.

Layout: ``ROOT/list.txt`` (sequence names, optional), ``ROOT/<seq>/groundtruth.txt`` and the frames
either in ``ROOT/<seq>/color/`` (vot-toolkit downloads) or directly in ``ROOT/<seq>/``.
Short-term ground truth: 8-value polygons or 4-value rectangles, 0-based continuous coordinates.
Long-term ground truth: rectangles with ``nan`` rows where the target is absent.
Per-frame tag files (``occlusion.tag`` ...) become sequence attributes when any frame is tagged.
"""
from __future__ import annotations

from pathlib import Path

from ..annotation_io import read_boxes, read_flags
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence

TAG_SUFFIXES = (".tag", ".label")


def _sequence_names(root: Path) -> list[str]:
    listing = root / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        missing = [n for n in names if not (root / n).is_dir()]
        if missing:
            raise DatasetError(f"{listing} names sequences without a folder: {missing[:5]}")
        return names
    names = sorted(p.name for p in root.iterdir() if (p / "groundtruth.txt").is_file())
    if not names:
        raise DatasetError(f"no VOT sequences in {root} (no list.txt, no <seq>/groundtruth.txt)")
    return names


def _frame_dir(folder: Path) -> Path:
    color = folder / "color"
    return color if color.is_dir() else folder


def _tags(folder: Path, n: int) -> tuple[str, ...]:
    tags = []
    for path in sorted(folder.iterdir()):
        if path.suffix in TAG_SUFFIXES and path.is_file():
            try:
                flags = read_flags(path)
            except AnnotationError:
                continue  # not a per-frame 0/1 tag file
            if len(flags) == n and flags.any():
                tags.append(path.stem)
    return tuple(tags)


def _load(root: Path, long_term: bool) -> list[Sequence]:
    if not root.is_dir():
        raise DatasetError(f"VOT root not found: {root}")
    sequences = []
    for name in _sequence_names(root):
        folder = root / name
        gt = folder / "groundtruth.txt"
        if not gt.is_file():
            raise DatasetError(f"{folder}: no groundtruth.txt")
        head = gt.read_text(errors="replace").lstrip()[:1]
        if head in ("m", "M"):
            raise AnnotationError(gt, 1, "mask annotations (VOT2020+) are not supported; use VOT2016-2019")
        ann = read_boxes(gt, allow_nan=long_term, allow_polygons=True, allow_empty=long_term)
        frames = list_frames(_frame_dir(folder))
        sequences.append(make_sequence(name, frames, ann, attributes=_tags(folder, len(frames))))
    return sequences


def load_short_term(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    _no_split("vot", split, index)
    return _load(root, long_term=False)


def load_long_term(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    _no_split("vot-lt", split, index)
    return _load(root, long_term=True)


def _no_split(name: str, split: str | None, index: Path | None) -> None:
    if split is not None or index is not None:
        raise DatasetError(f"dataset {name!r} takes no --split/--index (the root's list.txt selects sequences)")

"""Helpers shared by the dataset readers: frame listing and annotation/frame alignment."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..annotation_io import Annotation
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_NUMBER = re.compile(r"(\d+)$")


def numbered_images(directory: Path) -> dict[int, Path]:
    """Image files of a folder keyed by the number their name ends with (``0001.jpg`` -> 1)."""
    if not directory.is_dir():
        raise DatasetError(f"frame folder not found: {directory}")
    frames: dict[int, Path] = {}
    for path in directory.iterdir():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = _NUMBER.search(path.stem)
        if match is None:
            continue
        number = int(match.group(1))
        if number in frames:
            raise DatasetError(f"two frames numbered {number} in {directory}: {frames[number].name}, {path.name}")
        frames[number] = path
    if not frames:
        raise DatasetError(f"no numbered image files ({', '.join(IMAGE_SUFFIXES)}) in {directory}")
    return frames


def list_frames(directory: Path, first: int | None = None, last: int | None = None) -> tuple[Path, ...]:
    """Consecutively numbered frames of ``directory`` (optionally the range ``first..last``).

    A gap in the numbering is an error naming the missing frame.
    """
    frames = numbered_images(directory)
    lo = min(frames) if first is None else first
    hi = max(frames) if last is None else last
    for number in range(lo, hi + 1):
        if number not in frames:
            example = next(iter(frames.values()))
            digits = len(_NUMBER.search(example.stem).group(1))
            raise DatasetError(f"missing frame {number} ({directory / (str(number).zfill(digits) + example.suffix)})"
                               f" in {directory} (frames {lo}..{hi} expected)")
    return tuple(frames[n] for n in range(lo, hi + 1))


def check_count(name: str, frames: tuple[Path, ...], annotation_path: Path, boxes: int) -> None:
    if boxes != len(frames):
        more = "more" if boxes > len(frames) else "fewer"
        raise AnnotationError(annotation_path, None,
                              f"{boxes} boxes but {len(frames)} frames for sequence {name!r} "
                              f"({more} boxes than frames)")


def make_sequence(name: str, frames: tuple[Path, ...], ann: Annotation, *, attributes=(),
                  one_based: bool = False, extra_absent: np.ndarray | None = None,
                  metadata: dict | None = None) -> Sequence:
    """Sequence from frames and an annotation of the same length (checked)."""
    check_count(name, frames, ann.path, len(ann.boxes))
    absent = ann.absent.copy()
    if extra_absent is not None:
        absent |= extra_absent
    return Sequence(name=name, frames=frames, boxes=ann.boxes, absent=absent, polygons=ann.polygons,
                    attributes=tuple(attributes), annotation_file=ann.path, one_based=one_based,
                    metadata=dict(metadata or {}))


def normalise_name(name: str) -> str:
    """Case- and separator-insensitive key (``Jogging-1`` == ``jogging_1``)."""
    return re.sub(r"[-_ ]", "", name).lower()


def select(sequences: list[Sequence], names: list[str] | None, source: Path) -> list[Sequence]:
    """Keep the named sequences (in the given order); unknown names are an error."""
    if not names:
        return sequences
    by_key = {normalise_name(s.name): s for s in sequences}
    missing = [n for n in names if normalise_name(n) not in by_key]
    if missing:
        known = ", ".join(s.name for s in sequences[:20])
        raise DatasetError(f"sequences not found in {source}: {missing} (available: {known}"
                           f"{' ...' if len(sequences) > 20 else ''})")
    return [by_key[normalise_name(n)] for n in names]


def read_meta(path: Path) -> dict:
    """A folder's ``meta.json`` ({} when there is none; invalid JSON is an error naming the line)."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, exc.lineno, f"invalid JSON ({exc.msg})") from None


def load_folders(dataset: str, root: Path, split: str | None, index: Path | None,
                 folders: Callable[[Path], list[Path]], read: Callable[[Path], list[Sequence]],
                 layout: str) -> list[Sequence]:
    """Every sequence ``read`` gives for each of ``folders(root)``, for the layouts that take no
    split or index (an empty result is an error describing the ``layout`` expected)."""
    if split is not None or index is not None:
        raise DatasetError(f"dataset {dataset!r} takes no --split/--index")
    sequences = [seq for folder in folders(root) for seq in read(folder)]
    if not sequences:
        raise DatasetError(f"no {layout} in {root}")
    return sequences

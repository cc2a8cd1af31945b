"""LaSOT (``<class>/<class>-<k>/img/%08d.jpg``, ``groundtruth.txt`` 1-based, occlusion flags).

Frames flagged in ``full_occlusion.txt`` or ``out_of_view.txt`` count as "target absent".
``--split test`` keeps the sequences listed in ``ROOT/testing_set.txt``. Sequence folders may
also sit directly in the root (the test-set download).
"""
from __future__ import annotations

from pathlib import Path

from ..annotation_io import read_boxes, read_flags
from ..errors import DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence

ABSENCE_FILES = ("full_occlusion.txt", "out_of_view.txt")
SPLIT_FILES = {"test": "testing_set.txt", "train": "training_set.txt"}


def _folders(root: Path) -> list[Path]:
    """Sequence folders under ``<class>/`` (or directly in ``root``)."""
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (child / "groundtruth.txt").is_file():
            found.append(child)
        else:
            found.extend(sorted(p for p in child.iterdir() if (p / "groundtruth.txt").is_file()))
    return found


def read_sequence(folder: Path) -> Sequence:
    """One LaSOT sequence folder; its class (``metadata['class']``) is the name before the last ``-``."""
    frames = list_frames(folder / "img")
    ann = read_boxes(folder / "groundtruth.txt", one_based=True, allow_nan=True, allow_empty=True)
    absent = None
    for name in ABSENCE_FILES:
        if (folder / name).is_file():
            flags = read_flags(folder / name, expected=len(ann.boxes))
            absent = flags if absent is None else absent | flags
    category = folder.name.rsplit("-", 1)[0]
    return make_sequence(folder.name, frames, ann, one_based=True, extra_absent=absent,
                         metadata={"class": category})


def sequence_folders(root: Path, split: str | None = None) -> list[Path]:
    """The sequence folders of ``root``, those listed for ``split`` (``None``: all)."""
    if not root.is_dir():
        raise DatasetError(f"LaSOT root not found: {root}")
    folders = _folders(root)
    if split is not None:
        if split not in SPLIT_FILES:
            raise DatasetError(f"unknown LaSOT split {split!r}; expected one of {sorted(SPLIT_FILES)}")
        listing = root / SPLIT_FILES[split]
        if not listing.is_file():
            raise DatasetError(f"--split {split} needs {listing} (one sequence name per line)")
        keep = {line.strip() for line in listing.read_text().splitlines() if line.strip()}
        folders = [f for f in folders if f.name in keep]
    if not folders:
        raise DatasetError(f"no LaSOT sequences (<seq>/groundtruth.txt with img/) in {root}")
    return folders


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    if index is not None:
        raise DatasetError("dataset 'lasot' takes no --index")
    return [read_sequence(f) for f in sequence_folders(root, split)]

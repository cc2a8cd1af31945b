"""GOT-10k (``train/``, ``val/``, ``test/``; frames ``%08d.jpg`` beside ``groundtruth.txt``).

``absence.label`` marks frames without a visible target; ``cover.label`` (0 = fully covered)
is kept as metadata; ``meta_info.ini`` gives the motion and object classes, used as attributes.
The test split annotates only the first frame: its other frames are unannotated (NaN), so runs
on it produce result files for the evaluation server and no scores.
"""
from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np

from ..annotation_io import Annotation, read_boxes, read_flags, read_ints
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = "val"
ATTRIBUTE_KEYS = ("motion_class", "major_class")


def _split_dir(root: Path, split: str | None) -> Path:
    if split is not None and split not in SPLITS:
        raise DatasetError(f"unknown GOT-10k split {split!r}; expected one of {SPLITS}")
    if any((root / s).is_dir() for s in SPLITS):
        return root / (split or DEFAULT_SPLIT)
    if split is not None and root.name != split:
        raise DatasetError(f"{root} has no {split}/ folder (pass the GOT-10k root or a split folder)")
    return root


def _attributes(path: Path) -> tuple[tuple[str, ...], dict]:
    if not path.is_file():
        return (), {}
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(errors="replace"))
    except configparser.Error as exc:
        raise AnnotationError(path, getattr(exc, "lineno", None), f"invalid meta_info.ini ({exc.message})") from None
    info = dict(parser["METAINFO"]) if parser.has_section("METAINFO") else {}
    attrs = tuple(f"{k}:{info[k]}" for k in ATTRIBUTE_KEYS if info.get(k))
    return attrs, info


def read_sequence(folder: Path) -> Sequence:
    """One GOT-10k sequence folder; ``metadata`` holds ``meta_info.ini`` (``object_class``, ``resolution``, ...)."""
    frames = list_frames(folder)
    gt = folder / "groundtruth.txt"
    ann = read_boxes(gt, allow_empty=True)
    n = len(frames)
    if len(ann.boxes) == 1 and n > 1:  # test split: first frame only
        boxes = np.full((n, 4), np.nan)
        boxes[0] = ann.boxes[0]
        ann = Annotation(boxes, None, np.zeros(n, dtype=bool), gt)
    absent = None
    if (folder / "absence.label").is_file():
        absent = read_flags(folder / "absence.label", expected=len(ann.boxes))
    attributes, info = _attributes(folder / "meta_info.ini")
    if (folder / "cover.label").is_file():
        info["cover"] = read_ints(folder / "cover.label", expected=len(ann.boxes)).tolist()
    return make_sequence(folder.name, frames, ann, attributes=attributes, extra_absent=absent, metadata=info)


def sequence_folders(root: Path, split: str | None = None) -> list[Path]:
    """The sequence folders of a split (its ``list.txt``, else every folder with a ``groundtruth.txt``)."""
    directory = _split_dir(root, split)
    if not directory.is_dir():
        raise DatasetError(f"GOT-10k split folder not found: {directory}")
    listing = directory / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.name for p in directory.iterdir() if (p / "groundtruth.txt").is_file())
    if not names:
        raise DatasetError(f"no GOT-10k sequences in {directory}")
    return [directory / name for name in names]


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    if index is not None:
        raise DatasetError("dataset 'got10k' takes no --index (the split's list.txt selects sequences)")
    return [read_sequence(folder) for folder in sequence_folders(root, split)]

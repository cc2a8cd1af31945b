"""OTB-2013/2015 (a folder per sequence with ``img/`` and ``groundtruth_rect*.txt``, 1-based).

Irregular sequences are handled as the OTB toolkit's ``configSeqs`` defines them: two-target
folders (Jogging, Skating2, Human4 with ``groundtruth_rect.<k>.txt`` -> ``Jogging-1`` ...) and
sequences evaluated on a frame range (David 300-770, Tiger1 6-354, ...). A JSON index
(``OTB2015.json`` as shipped with DaSiamRPN, or pysot's ``OTB100.json``) is used when given or
found in the root.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..annotation_io import read_boxes
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence, normalise_name
from .index_json import load_index

# first and last frame numbers the benchmark evaluates (OTB-100 configSeqs)
FRAME_RANGES: dict[str, tuple[int, int]] = {
    "david": (300, 770), "football1": (1, 74), "freeman3": (1, 460), "freeman4": (1, 283),
    "diving": (1, 215), "tiger1": (6, 354), "blurcar1": (247, 988), "blurcar3": (3, 359),
    "blurcar4": (18, 397),
}
INDEX_NAMES = ("OTB2015.json", "OTB100.json", "OTB2013.json", "OTB50.json")
OTB2013 = (
    "Basketball", "Bolt", "Boy", "Car4", "CarDark", "CarScale", "Coke", "Couple", "Crossing", "David",
    "David2", "David3", "Deer", "Dog1", "Doll", "Dudek", "FaceOcc1", "FaceOcc2", "Fish", "FleetFace",
    "Football", "Football1", "Freeman1", "Freeman3", "Freeman4", "Girl", "Ironman", "Jogging-1",
    "Jogging-2", "Jumping", "Lemming", "Liquor", "Matrix", "Mhyang", "MotorRolling", "MountainBike",
    "Shaking", "Singer1", "Singer2", "Skating1", "Skiing", "Soccer", "Subway", "Suv", "Sylvester",
    "Tiger1", "Tiger2", "Trellis", "Walking", "Walking2", "Woman")
SPLITS = {"otb2013": OTB2013}
_TARGET_FILE = re.compile(r"groundtruth_rect\.(\d+)\.txt$")


def _targets(folder: Path) -> list[tuple[str, Path]]:
    single = folder / "groundtruth_rect.txt"
    if single.is_file():
        return [(folder.name, single)]
    multi = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _TARGET_FILE.match(p.name)))
    return [(f"{folder.name}-{k}", p) for k, p in multi]


def _frames_for(name: str, folder: Path, ann_path: Path, n_boxes: int):
    """Frames and the slice of annotation rows they take, honouring the known frame ranges."""
    key = normalise_name(folder.name)
    if key not in FRAME_RANGES:
        return list_frames(folder / "img"), slice(0, n_boxes)
    first, last = FRAME_RANGES[key]
    frames = list_frames(folder / "img", first, last)
    if n_boxes == len(frames):
        return frames, slice(0, n_boxes)
    if n_boxes == last:  # annotation counts from frame 1: keep the evaluated range
        return frames, slice(first - 1, last)
    raise AnnotationError(ann_path, None, f"{n_boxes} boxes for sequence {name!r}, which OTB evaluates on "
                                          f"frames {first}..{last} ({len(frames)} frames)")


def load_folders(root: Path) -> list[Sequence]:
    sequences = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (folder / "img").is_dir():
            continue
        targets = _targets(folder)
        if not targets:
            raise DatasetError(f"{folder}: has img/ but no groundtruth_rect.txt or groundtruth_rect.<k>.txt")
        for name, ann_path in targets:
            ann = read_boxes(ann_path, one_based=True)
            frames, rows = _frames_for(name, folder, ann_path, len(ann.boxes))
            ann = type(ann)(ann.boxes[rows], None, ann.absent[rows], ann.path)
            sequences.append(make_sequence(name, frames, ann, one_based=True))
    if not sequences:
        raise DatasetError(f"no OTB sequences (folders with img/ and groundtruth_rect.txt) in {root}")
    return sequences


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    if index is None:
        index = next((root / n for n in INDEX_NAMES if (root / n).is_file()), None)
    sequences = load_index(root, index, one_based=True) if index is not None else load_folders(root)
    if split is None:
        return sequences
    if split.lower() not in SPLITS:
        raise DatasetError(f"unknown OTB split {split!r}; expected one of {sorted(SPLITS)} (or none for all)")
    keep = {normalise_name(n) for n in SPLITS[split.lower()]}
    return [s for s in sequences if normalise_name(s.name) in keep]

"""UAV123 / UAV20L / UAV123_10fps (``anno/<set>/<seq>.txt``; frames ``data_seq/UAV123/<folder>/%06d.jpg``,
``data_seq/UAV123_10fps/...`` for the 10 fps set).

Annotations are 1-based with ``NaN`` rows where the target is out of view. UAV123 cuts some
videos into several sequences (``bird1_1``, ``bird1_2`` ...); their frame ranges come from an
index: ``--index FILE`` (the got10k toolkit's ``uav123.json`` form
``{"UAV123": {seq: {"start_frame", "end_frame", "folder_name"}}}``, or a pysot-style JSON with
``img_names``/``gt_rect``), else the copy bundled with the installed ``got10k`` package.
Attribute files ``anno/<set>/att/<seq>.txt`` (12 flags) give the per-attribute breakdown.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ..annotation_io import read_boxes, read_ints
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, make_sequence
from .index_json import load_index

SPLITS = ("UAV123", "UAV20L", "UAV123_10fps")
DEFAULT_SPLIT = "UAV123"
# order of the flags in anno/<set>/att/<seq>.txt (UAV123 paper, Table 1)
ATTRIBUTES = ("scale_variation", "aspect_ratio_change", "low_resolution", "fast_motion",
              "full_occlusion", "partial_occlusion", "out_of_view", "background_clutter",
              "illumination_variation", "viewpoint_change", "camera_motion", "similar_object")


def _bundled_ranges() -> Path | None:
    spec = importlib.util.find_spec("got10k")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "uav123.json"
    return path if path.is_file() else None


def _ranges(index: Path | None, split: str) -> dict | None:
    path = index or _bundled_ranges()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, exc.lineno, f"invalid JSON ({exc.msg})") from None
    return data.get(split) if isinstance(data, dict) else None


def _attributes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    flags = read_ints(path, expected=len(ATTRIBUTES))
    return tuple(a for a, f in zip(ATTRIBUTES, flags) if f)


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    split = split or DEFAULT_SPLIT
    if split not in SPLITS:
        raise DatasetError(f"unknown UAV split {split!r}; expected one of {SPLITS}")
    if index is not None and "img_names" in index.read_text()[:20000]:
        return load_index(root, index, one_based=True)
    # UAV20L's long videos are the full UAV123 recordings: their frames live in data_seq/UAV123
    anno_dir = root / "anno" / split
    data_dir = root / "data_seq" / ("UAV123_10fps" if split == "UAV123_10fps" else "UAV123")
    if not anno_dir.is_dir() or not data_dir.is_dir():
        raise DatasetError(f"UAV layout not found: need {anno_dir} and {data_dir}")
    ranges = _ranges(index, split)
    sequences = []
    for ann_path in sorted(anno_dir.glob("*.txt")):
        name = ann_path.stem
        ann = read_boxes(ann_path, one_based=True, allow_nan=True)
        if ranges is not None and name in ranges:
            r = ranges[name]
            frames = list_frames(data_dir / r["folder_name"], int(r["start_frame"]), int(r["end_frame"]))
        elif (data_dir / name).is_dir():
            frames = list_frames(data_dir / name)
        else:
            raise DatasetError(f"{ann_path}: no frame folder {data_dir / name} and no frame range for "
                               f"{name!r} (pass --index with the UAV123 sequence ranges)")
        attrs = _attributes(anno_dir / "att" / f"{name}.txt")
        sequences.append(make_sequence(name, frames, ann, attributes=attrs, one_based=True))
    if not sequences:
        raise DatasetError(f"no annotation files in {anno_dir}")
    return sequences

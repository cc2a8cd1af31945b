"""MOTChallenge layout: several objects per video, each followed as its own single-object sequence.

``<video>/img/%08d.jpg`` and ``<video>/gt/gt.txt`` with one line per object per frame,
``frame,id,x,y,w,h,conf,class,visibility`` (frame 1-based = the image number; ``x, y`` 0-based
top-left pixels; ``conf 0`` = an ignore region, not an object), optional ``meta.json``
(``classes``: class number -> name; ``width``, ``height``; ``dataset``).

Each object id becomes one :class:`~..sequence.Sequence` named ``<video>-id<id>``: from the first frame
it is annotated (the frame it is initialised on) to the last, absent (NaN) on the frames between without
its id. ``metadata["others"]`` holds, per frame of the sequence, the boxes of every other valid object of
that frame (an ``(k, 4)`` array): the same-class look-alikes a tracker must not jump to, used by the
look-alike measure and by training's distractor pairs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..annotation_io import _lines
from ..errors import AnnotationError, DatasetError
from ..sequence import Sequence
from .common import list_frames, load_folders, read_meta

GT_FILE = Path("gt") / "gt.txt"
MOT_COLUMNS = 9            # frame, id, x, y, w, h, conf, class, visibility
MOT_MIN_COLUMNS = 6        # MOT15-style files may stop after the box (conf/class/visibility implied)


def is_mot_folder(folder: Path) -> bool:
    return (folder / GT_FILE).is_file() and (folder / "img").is_dir()


def video_folders(root: Path) -> list[Path]:
    """The folders of ``root`` in the MOTChallenge layout (``gt/gt.txt`` beside ``img/``)."""
    if not root.is_dir():
        raise DatasetError(f"MOT folder not found: {root}")
    return sorted(p for p in root.iterdir() if is_mot_folder(p))


def read_gt(path: Path) -> np.ndarray:
    """``gt.txt`` as an ``(n, 9)`` float array (missing conf/class/visibility columns = 1, -1, 1);
    malformed lines, non-positive sizes and frame numbers below 1 are errors naming the line."""
    rows = []
    for lineno, line in enumerate(_lines(path), start=1):
        tokens = [t for t in line.replace(",", " ").split() if t]
        if not tokens:
            raise AnnotationError(path, lineno, "empty line (expected frame,id,x,y,w,h,conf,class,visibility)")
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise AnnotationError(path, lineno, f"cannot parse {line.strip()!r} as numbers") from None
        if not MOT_MIN_COLUMNS <= len(values) <= MOT_COLUMNS + 1:   # MOT15 adds a tenth (world z) column
            raise AnnotationError(path, lineno, f"expected {MOT_COLUMNS} values "
                                  f"(frame,id,x,y,w,h,conf,class,visibility), got {len(values)}")
        values = (values + [1.0, -1.0, 1.0])[:MOT_COLUMNS] if len(values) < MOT_COLUMNS else values[:MOT_COLUMNS]
        if not np.all(np.isfinite(values)):
            raise AnnotationError(path, lineno, f"non-finite value: {line.strip()!r}")
        if values[0] < 1 or values[0] != int(values[0]):
            raise AnnotationError(path, lineno, f"frame number must be an integer >= 1, got {values[0]:g}")
        if values[4] <= 0 or values[5] <= 0:
            raise AnnotationError(path, lineno, f"box of non-positive size {values[4]:g} x {values[5]:g}")
        rows.append(values)
    return np.asarray(rows, np.float64).reshape(-1, MOT_COLUMNS)


def read_sequences(folder: Path) -> list[Sequence]:
    """One sequence per object id of a MOTChallenge video (``conf 0`` rows ignored)."""
    frames = list_frames(folder / "img")
    path = folder / GT_FILE
    gt = read_gt(path)
    last = int(gt[:, 0].max()) if len(gt) else 0
    if last > len(frames):
        raise AnnotationError(path, None, f"annotates frame {last} but {folder / 'img'} has {len(frames)} frames")
    meta = read_meta(folder / "meta.json")
    gt = gt[gt[:, 6] != 0]
    n = len(frames)
    ids = sorted({int(i) for i in gt[:, 1]})
    boxes_of = np.full((len(ids), n, 4), np.nan)      # every id's box on every frame (NaN: not annotated)
    class_of = []
    for k, obj in enumerate(ids):
        rows = gt[gt[:, 1] == obj]
        index = rows[:, 0].astype(int) - 1
        if len(np.unique(index)) != len(index):
            raise AnnotationError(path, None, f"object {obj} has two boxes on one frame")
        boxes_of[k, index] = rows[:, 2:6]
        class_of.append(rows[0, 7])
    annotated = np.isfinite(boxes_of[:, :, 0])          # (ids, frames)
    classes = {str(k): str(v) for k, v in (meta.get("classes") or {}).items()}
    sequences = []
    for k, (obj, cls) in enumerate(zip(ids, class_of)):
        boxes = boxes_of[k]
        seen = np.flatnonzero(annotated[k])
        start, end = int(seen[0]), int(seen[-1]) + 1
        is_other = np.arange(len(ids)) != k
        others = tuple(boxes_of[annotated[:, f] & is_other, f] for f in range(start, end))
        own = boxes[start:end]
        info = {"video": folder.name, "object_id": obj, "first_frame": start + 1,
                "class": classes.get(str(int(cls)), str(int(cls))), "others": others,
                **{k: meta[k] for k in ("width", "height") if k in meta}}
        sequences.append(Sequence(name=f"{folder.name}-id{obj}", frames=frames[start:end], boxes=own,
                                  absent=~np.isfinite(own[:, 0]), annotation_file=path, metadata=info))
    return sequences


def load(root: Path, split: str | None = None, index: Path | None = None) -> list[Sequence]:
    return load_folders("mot", root, split, index, video_folders, read_sequences,
                        "MOTChallenge videos (<name>/gt/gt.txt with img/)")

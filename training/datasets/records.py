"""What every dataset adapter produces: annotated tracks (a video object, or an object in a still image).

The benchmark layouts (LaSOT, GOT-10k, the project's sequence folders) are read by the evaluation
toolkit's readers (``dasiamrpn_core.evaluation.datasets``) into its record, ``Sequence``;
:func:`track_from_sequence` adds what training needs on top (category, boxes cleaned against the
image, counted skips). Layouts only training reads (VID, DET, COCO, YouTube-BB, photos, videos)
build tracks directly."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# the project's one DatasetError, shared with the evaluation toolkit (re-exported here)
from dasiamrpn_core.evaluation.errors import DatasetError
from dasiamrpn_core.evaluation.sequence import Sequence

__all__ = ["DatasetError", "SkipCounter", "Track", "clean_boxes", "read_sequences", "selected",
           "track_from_sequence"]

LOG = logging.getLogger("dasiamrpn_training.datasets")


@dataclass(frozen=True)
class Track:
    """One object: its frames and boxes (0-based pixel x, y, w, h; NaN row = not visible).

    A still-image object is a track of one frame. ``crops`` marks a track whose frames are
    preprocessed context crops (see ``training.prepare``): each frame is then a square crop
    centred on the target and ``boxes`` are in crop pixels.
    """

    source: str                  # dataset label
    name: str                    # sequence / image name (unique within the source)
    category: str                # object class; same-category negatives use it
    frames: tuple[str, ...]      # image paths (or "photo:<name>" keys of in-memory photos)
    boxes: np.ndarray            # (N, 4) float32
    still: bool = False          # True for still images (positives by augmentation)
    crops: bool = False
    # per frame, the (k, 4) boxes of the other annotated objects of that frame (a MOT video's other
    # ids: same-class look-alikes), or None where the layout annotates one object only
    others: tuple[np.ndarray, ...] | None = None

    def __post_init__(self):
        if len(self.frames) != len(self.boxes):
            raise DatasetError(f"{self.source}/{self.name}: {len(self.frames)} frames but "
                               f"{len(self.boxes)} boxes")
        if self.others is not None and len(self.others) != len(self.frames):
            raise DatasetError(f"{self.source}/{self.name}: {len(self.frames)} frames but "
                               f"{len(self.others)} rows of other objects")

    def valid_indices(self, min_size: float) -> np.ndarray:
        b = self.boxes
        ok = np.all(np.isfinite(b), axis=1) & (b[:, 2] >= min_size) & (b[:, 3] >= min_size)
        return np.flatnonzero(ok)


@dataclass
class SkipCounter:
    """Counts unusable items per reason and warns once per reason (never silent, never fatal alone)."""

    source: str
    counts: dict = field(default_factory=dict)

    def skip(self, reason: str, item: str) -> None:
        n = self.counts.get(reason, 0)
        if n == 0:
            LOG.warning("%s: skipping %s (%s); further skips of this kind are only counted",
                        self.source, item, reason)
        self.counts[reason] = n + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())) or "none"


def clean_boxes(boxes: np.ndarray, width: int | None, height: int | None, min_size: float,
                skips: SkipCounter, item: str) -> np.ndarray:
    """Mark zero-size, non-finite or fully outside boxes as missing (NaN), clip partially outside
    ones to the image, and count every change."""
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    out = boxes.copy()
    for i, (x, y, w, h) in enumerate(boxes):
        if not np.all(np.isfinite([x, y, w, h])):
            out[i] = np.nan
            continue
        if w < min_size or h < min_size:
            if w > 0 or h > 0:
                skips.skip("box of zero or tiny size", f"{item}[{i}]")
            out[i] = np.nan
            continue
        if width is not None and height is not None:
            x0, y0 = max(x, 0.0), max(y, 0.0)
            x1, y1 = min(x + w, float(width)), min(y + h, float(height))
            if x1 - x0 < min_size or y1 - y0 < min_size:
                skips.skip("box outside the image", f"{item}[{i}]")
                out[i] = np.nan
                continue
            out[i] = (x0, y0, x1 - x0, y1 - y0)
    return out


def selected(name: str, include, exclude) -> bool:
    """A dataset spec's ``include``/``exclude`` name filter."""
    return (not include or name in include) and name not in exclude


def read_sequences(folders: Iterable[Path], read: Callable[[Path], list[Sequence]], spec,
                   skips: SkipCounter) -> Iterator[Sequence]:
    """The evaluation reader ``read`` on each selected folder; a folder it rejects (malformed
    annotation, frame/box count mismatch, missing frames) is skipped and counted, not fatal: one bad
    sequence of thousands does not stop a training run (the reason is logged). With
    ``spec.split_file``, only the folders that file assigns to ``spec.split`` are read, and a folder
    the file does not list is an error (a split made on other data)."""
    split = None
    if spec.split_file:
        from ..split import load_split
        split = load_split(spec.split_file, "mot" if spec.kind == "mot" else "sot")
    for folder in folders:
        if not selected(folder.name, spec.include, spec.exclude):
            continue
        if split is not None:
            if folder.name not in split:
                raise DatasetError(f"dataset {spec.label}: {folder.name} is not in the split file "
                                   f"{spec.split_file} (made on other data?)")
            if split[folder.name] != spec.split:
                continue
        try:
            yield from read(folder)
        except DatasetError as exc:
            skips.skip("sequence the reader rejects", f"{folder.name} ({exc})")


def track_from_sequence(seq: Sequence, source: str, category: str, min_box: float, skips: SkipCounter,
                        size: tuple[int, int] | None = None, others=None) -> Track:
    """An evaluation ``Sequence`` as a training ``Track``: absent frames become NaN rows and boxes
    are cleaned against the image ``size`` (width, height) when it is known."""
    boxes = np.asarray(seq.boxes, np.float32).copy()
    boxes[seq.absent] = np.nan
    boxes = clean_boxes(boxes, *(size or (None, None)), min_box, skips, seq.name)
    return Track(source, seq.name, category, tuple(str(f) for f in seq.frames), boxes, others=others)


def image_size(meta: dict) -> tuple[int, int] | None:
    """``(width, height)`` from a sequence's metadata, when it states them."""
    return (int(meta["width"]), int(meta["height"])) if "width" in meta and "height" in meta else None

"""One annotated benchmark sequence, as every dataset reader returns it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class Sequence:
    """Frames and ground truth of one target.

    boxes: (N, 4) float64 ``x, y, w, h`` in the project's convention (0-based pixels, top-left
        corner). Rows are NaN where the target is absent or the frame is not annotated.
    polygons: (N, 8) float64 ``x1, y1, ..., x4, y4`` (0-based) where the dataset annotates rotated
        rectangles (VOT), else ``None``. Rows are NaN where ``boxes`` are.
    absent: (N,) bool, the target is not visible (NaN row, or flagged by the dataset's labels).
    attributes: sequence-level attribute names (for the per-attribute breakdown).
    one_based: the annotation file counts pixels from 1 (OTB, UAV, LaSOT); native result files
        are written back in that convention.
    """

    name: str
    frames: tuple[Path, ...]
    boxes: np.ndarray
    absent: np.ndarray
    polygons: np.ndarray | None = None
    attributes: tuple[str, ...] = ()
    annotation_file: Path | None = None
    one_based: bool = False
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.frames)
        if n == 0:
            raise ValueError(f"sequence {self.name!r} has no frames")
        if self.boxes.shape != (n, 4):
            raise ValueError(f"sequence {self.name!r}: boxes shape {self.boxes.shape} != ({n}, 4)")
        if self.absent.shape != (n,):
            raise ValueError(f"sequence {self.name!r}: absent shape {self.absent.shape} != ({n},)")
        if self.polygons is not None and self.polygons.shape != (n, 8):
            raise ValueError(f"sequence {self.name!r}: polygons shape {self.polygons.shape} != ({n}, 8)")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def init_box(self) -> tuple[float, float, float, float]:
        box = self.boxes[0]
        if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"sequence {self.name!r}: first frame has no valid box to initialise "
                             f"from ({self.annotation_file})")
        return tuple(float(v) for v in box)

    @property
    def annotated(self) -> np.ndarray:
        """(N,) bool: frames whose ground truth can be scored (visible, finite, positive size)."""
        b = self.boxes
        ok = np.all(np.isfinite(b), axis=1)
        ok[ok] &= (b[ok, 2] > 0) & (b[ok, 3] > 0)
        return ok & ~self.absent

    def truncated(self, max_frames: int | None) -> Sequence:
        """The first ``max_frames`` frames (the whole sequence if ``None`` or longer)."""
        if max_frames is None or max_frames >= len(self):
            return self
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        k = max_frames
        return Sequence(self.name, self.frames[:k], self.boxes[:k], self.absent[:k],
                        None if self.polygons is None else self.polygons[:k], self.attributes,
                        self.annotation_file, self.one_based, dict(self.metadata))

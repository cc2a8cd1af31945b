"""Frames from a video file, an image folder or a camera index, as BGR uint8 arrays."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class FrameSource:
    """Iterate the frames of ``source``: an image folder (sorted by name), a sequence folder holding
    ``img/`` (the benchmark layout: its ``img`` is the image folder), a video file, or a camera index
    (``"0"``). ``len()`` is known for folders and (approximately) for videos. Every program that
    reads frames (``dasiamrpn-track``, ``dasiamrpn-replay``) takes the same inputs through this."""

    def __init__(self, source: str | Path | int):
        self.source = str(source)
        self.files: list[Path] | None = None
        self.capture: cv2.VideoCapture | None = None
        path = Path(self.source)
        if self.source.isdigit():
            self.capture = cv2.VideoCapture(int(self.source))
            if not self.capture.isOpened():
                raise ValueError(f"cannot open camera {self.source}")
        elif path.is_dir():
            if (path / "img").is_dir():
                path = path / "img"
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        elif path.is_file():
            self.capture = cv2.VideoCapture(str(path))
            if not self.capture.isOpened():
                raise ValueError(f"cannot decode video file {path}")
        else:
            raise ValueError(f"frame source not found: {path} (expected a video file, an image folder "
                             f"or a camera index)")

    def __len__(self) -> int:
        if self.files is not None:
            return len(self.files)
        n = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)) if self.capture is not None else 0
        return max(n, 0)

    @property
    def fps(self) -> float:
        if self.capture is not None:
            fps = self.capture.get(cv2.CAP_PROP_FPS)
            if fps and np.isfinite(fps) and fps > 0:
                return float(fps)
        return 30.0

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.files is not None:
            for f in self.files:
                frame = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if frame is None:
                    raise ValueError(f"cannot read image {f}")
                yield frame
            return
        while True:
            ok, frame = self.capture.read()
            if not ok:
                break
            yield frame
        self.capture.release()

"""Frames of a video file, an image folder or a sequence folder (``<seq>/img/*.jpg``), as BGR uint8."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")


class FrameSourceError(ValueError):
    """The source cannot be read; the message says why."""


class FrameSource:
    def __init__(self, path: str | Path, start: int = 0, count: Optional[int] = None):
        self.path = Path(path)
        if start < 0:
            raise FrameSourceError(f"start must be >= 0, got {start}")
        if count is not None and count < 1:
            raise FrameSourceError(f"count must be >= 1, got {count}")
        self.start, self.count = start, count
        self.files: Optional[list[Path]] = None
        if not self.path.exists():
            raise FrameSourceError(f"no such file or folder: {self.path}")
        if self.path.is_dir():
            folder = self.path / "img" if (self.path / "img").is_dir() else self.path
            self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise FrameSourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
            self.files = self.files[start:start + count if count else None]
            if not self.files:
                raise FrameSourceError(f"start {start} is past the last image of {folder}")
        else:
            capture = cv2.VideoCapture(str(self.path))
            ok = capture.isOpened()
            capture.release()
            if not ok:
                raise FrameSourceError(f"cannot open video {self.path}")

    def __len__(self) -> int:
        """Number of frames (folders: exact; videos: as reported by the container, may be 0)."""
        if self.files is not None:
            return len(self.files)
        capture = cv2.VideoCapture(str(self.path))
        total = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) - self.start)
        capture.release()
        return min(total, self.count) if self.count else total

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.files is not None:
            for file in self.files:
                image = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if image is None:
                    raise FrameSourceError(f"cannot read image {file}")
                yield image
            return
        capture = cv2.VideoCapture(str(self.path))
        try:
            if self.start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            produced = 0
            while self.count is None or produced < self.count:
                ok, image = capture.read()
                if not ok:
                    return
                produced += 1
                yield image
        finally:
            capture.release()

"""Decoding frames ahead of the tracker in a background thread (OpenCV releases the GIL)."""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from collections.abc import Iterator

import cv2
import numpy as np

from .errors import DatasetError

PREFETCH_FRAMES = 8  # decoded frames kept ready ahead of the tracker
_DONE = object()


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path} (missing, empty or not an image)")
    return image


def prefetched(paths: tuple[Path, ...] | list[Path], depth: int = PREFETCH_FRAMES) -> Iterator[np.ndarray]:
    """Yield the decoded BGR frames in order while the next ones are decoded in a thread.

    A frame that cannot be read raises :class:`DatasetError` at its position.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def work() -> None:
        for p in paths:
            if stop.is_set():
                return
            try:
                item = read_image(p)
            except DatasetError as exc:
                item = exc
            slots.put(item)
            if isinstance(item, DatasetError):
                return
        slots.put(_DONE)

    thread = threading.Thread(target=work, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, DatasetError):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)

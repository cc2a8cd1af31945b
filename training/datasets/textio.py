"""Small readers shared by the adapters (ground-truth text files, frame listings)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .records import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SPLIT = re.compile(r"[,\s]+")


def read_boxes(path: Path) -> np.ndarray:
    """(N, 4) boxes from a ground-truth text file (comma/space/tab separated; 8-value polygons are
    converted to their axis-aligned bounding box; 'NaN' allowed)."""
    if not path.is_file():
        raise DatasetError(f"ground-truth file not found: {path}")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            values = [float(v) for v in _SPLIT.split(line) if v]
        except ValueError as exc:
            raise DatasetError(f"{path}:{lineno}: not numeric ({line[:60]!r})") from exc
        if len(values) == 8:
            xs, ys = values[0::2], values[1::2]
            values = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        if len(values) != 4:
            raise DatasetError(f"{path}:{lineno}: expected 4 (x,y,w,h) or 8 (polygon) values, got {len(values)}")
        rows.append(values)
    if not rows:
        raise DatasetError(f"ground-truth file is empty: {path}")
    return np.asarray(rows, np.float32)


def read_flags(path: Path, n: int) -> np.ndarray:
    """0/1 flags (one per line or comma separated) or all zeros when the file is absent."""
    if not path.is_file():
        return np.zeros(n, bool)
    values = [v for v in _SPLIT.split(path.read_text().strip()) if v]
    flags = np.zeros(n, bool)
    flags[:min(n, len(values))] = [bool(int(float(v))) for v in values[:n]]
    return flags


def list_frames(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise DatasetError(f"frame directory not found: {directory}")
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def frames_with_boxes(seq: Path, skips) -> tuple[list[Path], np.ndarray] | None:
    """``seq/img`` frames and ``seq/groundtruth.txt`` boxes, truncated to the shorter; None (and a
    counted skip) for a sequence without frames."""
    frames = list_frames(seq / "img")
    boxes = read_boxes(seq / "groundtruth.txt")
    n = min(len(frames), len(boxes))
    if n == 0:
        skips.skip("sequence without frames", seq.name)
        return None
    if len(frames) != len(boxes):
        skips.skip("frame/ground-truth count mismatch (truncated to the shorter)", seq.name)
    return frames[:n], boxes[:n].copy()


def selected(name: str, include, exclude) -> bool:
    return (not include or name in include) and name not in exclude

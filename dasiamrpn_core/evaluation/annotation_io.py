"""Reading annotation and label files, with errors that name the file and line.

Box files hold one ``x, y, w, h`` (or, for VOT, ``x1, y1, ..., x4, y4``) per line, separated by
commas, tabs or spaces. Rows of ``NaN`` (any case) are accepted only where the dataset format
uses them for "target absent" (``allow_nan``); anything else that does not parse is an error.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AnnotationError

_SPLIT = re.compile(r"[,\s;]+")
RECT_VALUES = 4
POLYGON_VALUES = 8


@dataclass(frozen=True)
class Annotation:
    """Parsed box file: 0-based boxes, optional polygons, and rows that mean "absent"."""

    boxes: np.ndarray            # (N, 4) x, y, w, h (NaN rows where absent)
    polygons: np.ndarray | None  # (N, 8) when the file holds polygons (rectangle rows converted)
    absent: np.ndarray           # (N,) bool: NaN (or, with allow_empty, zero-size) rows
    path: Path


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise AnnotationError(path, None, f"not a text file ({exc.reason})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise AnnotationError(path, None, "file is empty")
    return lines


def _parse_row(path: Path, lineno: int | None, line: str, allowed: tuple[int, ...], allow_nan: bool,
               where: str | None = None) -> list[float] | None:
    """Numbers of one line, or ``None`` for an all-NaN "absent" row."""
    if where is not None:
        def error(problem: str) -> AnnotationError:
            return AnnotationError(path, None, f"{where}: {problem}")
    else:
        def error(problem: str) -> AnnotationError:
            return AnnotationError(path, lineno, problem)
    stripped = line.strip()
    if not stripped:
        raise error("empty line (expected a box)")
    tokens = [t for t in _SPLIT.split(stripped) if t]
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise error(f"cannot parse {stripped!r} as numbers") from None
    if len(values) not in allowed:
        expect = " or ".join(str(a) for a in allowed)
        raise error(f"expected {expect} values, got {len(values)}: {stripped!r}")
    nan = [math.isnan(v) for v in values]
    if any(nan):
        if not allow_nan:
            raise error(f"NaN values are not allowed in this format: {stripped!r}")
        if not all(nan):
            raise error(f"partly NaN box (absent targets are all-NaN rows): {stripped!r}")
        return None
    if any(math.isinf(v) for v in values):
        raise error(f"infinite value: {stripped!r}")
    return values


def polygon_to_rect(poly: np.ndarray) -> np.ndarray:
    """(..., 8) polygons -> (..., 4) min/max axis-aligned ``x, y, w, h`` (the VOT toolkit's rule)."""
    poly = np.asarray(poly, dtype=np.float64)
    xs, ys = poly[..., 0::2], poly[..., 1::2]
    x0, y0 = xs.min(axis=-1), ys.min(axis=-1)
    return np.stack([x0, y0, xs.max(axis=-1) - x0, ys.max(axis=-1) - y0], axis=-1)


def rect_to_polygon(rect: np.ndarray) -> np.ndarray:
    """(..., 4) ``x, y, w, h`` -> (..., 8) corners clockwise from the top-left."""
    r = np.asarray(rect, dtype=np.float64)
    x, y, w, h = r[..., 0], r[..., 1], r[..., 2], r[..., 3]
    return np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=-1)


def area_preserving_box(poly) -> tuple[float, float, float, float]:
    """A polygon's box as DaSiamRPN/pysot ``get_axis_aligned_bbox`` gives it to the tracker.

    Same centre as the min/max box, scaled so its area matches the rotated rectangle's
    (including the original's ``+ 1`` on the size). Returned as 0-based ``x, y, w, h``.
    """
    p = np.asarray(poly, dtype=np.float64)
    cx, cy = float(np.mean(p[0::2])), float(np.mean(p[1::2]))
    x1, x2 = float(np.min(p[0::2])), float(np.max(p[0::2]))
    y1, y2 = float(np.min(p[1::2])), float(np.max(p[1::2]))
    a1 = float(np.linalg.norm(p[0:2] - p[2:4]) * np.linalg.norm(p[2:4] - p[4:6]))
    a2 = (x2 - x1) * (y2 - y1)
    s = math.sqrt(a1 / a2) if a2 > 0 else 1.0
    w, h = s * (x2 - x1) + 1, s * (y2 - y1) + 1
    return cx - w / 2.0, cy - h / 2.0, w, h


def read_boxes(path: str | Path, *, one_based: bool = False, allow_nan: bool = False,
               allow_polygons: bool = False, allow_empty: bool = False) -> Annotation:
    """Read a box file into 0-based boxes (and polygons, for VOT files).

    one_based: the file counts pixels from 1 (OTB/UAV/LaSOT); 1 is subtracted from x and y.
    allow_nan: all-NaN rows mean "target absent" (VOT-LT, UAV, LaSOT-style files).
    allow_polygons: 8-value rows (VOT polygons) are accepted; rectangle rows are converted.
    allow_empty: zero width/height means "absent" (GOT-10k, LaSOT); otherwise it is an error.
    Negative sizes are always an error.
    """
    path = Path(path)
    allowed = (RECT_VALUES, POLYGON_VALUES) if allow_polygons else (RECT_VALUES,)
    rows = [_parse_row(path, i + 1, line, allowed, allow_nan) for i, line in enumerate(_lines(path))]
    return assemble(path, rows, one_based=one_based, allow_empty=allow_empty, allow_polygons=allow_polygons)


def boxes_from_values(path: str | Path, sequence: str, values, *, one_based: bool = False,
                      allow_nan: bool = False, allow_empty: bool = False) -> Annotation:
    """Validate boxes given as numbers (a JSON index): errors name the file, sequence and row."""
    path = Path(path)
    rows: list[list[float] | None] = []
    for i, row in enumerate(values):
        where = f"sequence {sequence!r}, box {i + 1}"
        try:
            row = [float(v) if v is not None else math.nan for v in row]
        except (TypeError, ValueError):
            raise AnnotationError(path, None, f"{where}: cannot parse {row!r} as numbers") from None
        rows.append(_parse_row(path, None, ",".join(repr(v) for v in row), (RECT_VALUES,), allow_nan,
                               where=where))
    if not rows:
        raise AnnotationError(path, None, f"sequence {sequence!r}: no boxes")
    return assemble(path, rows, one_based=one_based, allow_empty=allow_empty, allow_polygons=False,
                    where=lambda i: f"sequence {sequence!r}, box {i + 1}")


def assemble(path: Path, rows: list[list[float] | None], *, one_based: bool, allow_empty: bool,
             allow_polygons: bool, where=None) -> Annotation:
    """Parsed rows -> :class:`Annotation` (conversion to 0-based, size checks)."""
    def fail(i: int, problem: str):
        if where is None:
            return AnnotationError(path, i + 1, problem)
        return AnnotationError(path, None, f"{where(i)}: {problem}")

    n = len(rows)
    boxes = np.full((n, 4), np.nan)
    has_poly = allow_polygons and any(r is not None and len(r) == POLYGON_VALUES for r in rows)
    polygons = np.full((n, 8), np.nan) if has_poly else None
    absent = np.zeros(n, dtype=bool)
    offset = 1.0 if one_based else 0.0
    for i, row in enumerate(rows):
        if row is None:
            absent[i] = True
            continue
        values = np.asarray(row, dtype=np.float64)
        if len(values) == POLYGON_VALUES:
            values = values - offset
            rect = polygon_to_rect(values)
            if polygons is not None:
                polygons[i] = values
        else:
            rect = values - np.array([offset, offset, 0.0, 0.0])
            if rect[2] < 0 or rect[3] < 0:
                raise fail(i, f"negative box size w={rect[2]:g}, h={rect[3]:g}")
            if polygons is not None:
                polygons[i] = rect_to_polygon(rect)
        if rect[2] == 0 or rect[3] == 0:
            if not allow_empty:
                raise fail(i, f"empty box (w={rect[2]:g}, h={rect[3]:g})")
            absent[i] = True
            if polygons is not None:
                polygons[i] = np.nan
            continue
        boxes[i] = rect
    return Annotation(boxes, polygons, absent, path)


def read_flags(path: str | Path, expected: int | None = None) -> np.ndarray:
    """A per-frame 0/1 label file (one value per line, or comma-separated on one line) -> bool."""
    values = read_ints(path, expected)
    bad = np.flatnonzero((values != 0) & (values != 1))
    if len(bad):
        raise AnnotationError(path, None, f"flag values must be 0 or 1; frame {bad[0] + 1} has {values[bad[0]]}")
    return values.astype(bool)


def read_ints(path: str | Path, expected: int | None = None) -> np.ndarray:
    """Integers, one per line or comma/space separated (LaSOT writes one line)."""
    path = Path(path)
    out: list[int] = []
    for lineno, line in enumerate(_lines(path), start=1):
        for token in (t for t in _SPLIT.split(line.strip()) if t):
            try:
                out.append(int(float(token)))
            except ValueError:
                raise AnnotationError(path, lineno, f"cannot parse {token!r} as an integer") from None
    if expected is not None and len(out) != expected:
        raise AnnotationError(path, None, f"{len(out)} values for {expected} frames")
    return np.asarray(out, dtype=np.int64)

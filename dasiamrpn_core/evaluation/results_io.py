"""Result files: the project's per-frame boxes plus the benchmarks' native formats.

Layout inside ``OUT/results/``:

* ``<seq>.txt``                    one-pass boxes, ``x,y,w,h`` 0-based, one line per frame
* ``times/<seq>_time.txt``         seconds spent in ``init``/``track`` per frame (got10k form)
* ``scores/<seq>_score.txt``       the tracker's confidence per frame (1 on the init frame)
* ``<benchmark>/...``              native copies (see :func:`write_native`)
* ``baseline/<seq>/<seq>_001.txt`` VOT supervised run: ``1`` init, ``2`` failure, ``0`` skipped,
                                   else ``x,y,w,h``; ``<seq>_001_time.value`` beside it
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .annotation_io import _lines, _parse_row
from .errors import AnnotationError, ResultsError
from .supervised import FAILURE, INIT, SKIPPED, TRACKED

BOX_FORMAT = "%.4f"
LONGTERM_DIR = "longterm"
BASELINE_DIR = "baseline"
REPETITION = "001"


@dataclass(frozen=True)
class OPEResult:
    boxes: np.ndarray   # (N, 4)
    times: np.ndarray   # (N,) seconds, NaN if unknown
    scores: np.ndarray  # (N,) confidence, NaN if unknown


@dataclass(frozen=True)
class SupervisedResult:
    codes: np.ndarray   # (N,) SKIPPED / INIT / FAILURE / TRACKED
    boxes: np.ndarray   # (N, 4), NaN where not tracked
    times: np.ndarray   # (N,) seconds, NaN where the tracker did not run


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _box_lines(boxes: np.ndarray) -> list[str]:
    return [",".join(BOX_FORMAT % v for v in row) for row in np.asarray(boxes, dtype=np.float64)]


def _value_lines(values: np.ndarray) -> list[str]:
    return [f"{v:.6g}" for v in np.asarray(values, dtype=np.float64)]


def ope_paths(results: Path, name: str) -> tuple[Path, Path, Path]:
    return (results / f"{name}.txt", results / "times" / f"{name}_time.txt",
            results / "scores" / f"{name}_score.txt")


def supervised_path(results: Path, name: str) -> Path:
    return results / BASELINE_DIR / name / f"{name}_{REPETITION}.txt"


def write_ope(results: Path, name: str, res: OPEResult) -> None:
    """Times and scores first, boxes last: a sequence counts as done once its box file exists."""
    boxes, times, scores = ope_paths(results, name)
    write_text_atomic(times, "\n".join(_value_lines(res.times)) + "\n")
    write_text_atomic(scores, "\n".join(_value_lines(res.scores)) + "\n")
    write_text_atomic(boxes, "\n".join(_box_lines(res.boxes)) + "\n")


def _read_values(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        return np.full(n, np.nan)
    values = []
    for lineno, line in enumerate(_lines(path), start=1):
        try:
            values.append(float(line.strip()))
        except ValueError:
            raise AnnotationError(path, lineno, f"cannot parse {line.strip()!r} as a number") from None
    if len(values) != n:
        raise ResultsError(f"{path}: {len(values)} values for {n} frames")
    return np.asarray(values)


def read_box_results(path: Path, n: int) -> np.ndarray:
    """A result file of ``n`` lines ``x,y,w,h`` (NaN rows allowed); errors name file and line."""
    rows = [_parse_row(path, i + 1, line, (4,), allow_nan=True) for i, line in enumerate(_lines(path))]
    if len(rows) != n:
        raise ResultsError(f"{path}: {len(rows)} boxes for {n} frames (delete it to re-run the sequence)")
    return np.asarray([r if r is not None else [np.nan] * 4 for r in rows], dtype=np.float64)


def read_ope(results: Path, name: str, n: int) -> OPEResult:
    boxes, times, scores = ope_paths(results, name)
    return OPEResult(read_box_results(boxes, n), _read_values(times, n), _read_values(scores, n))


def write_supervised(results: Path, name: str, res: SupervisedResult) -> None:
    lines = []
    for code, box in zip(res.codes, res.boxes):
        lines.append(",".join(BOX_FORMAT % v for v in box) if code == TRACKED else str(int(code)))
    path = supervised_path(results, name)
    times = np.where(np.isnan(res.times), 0.0, res.times)
    write_text_atomic(path.with_name(f"{name}_{REPETITION}_time.value"), "\n".join(_value_lines(times)) + "\n")
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_supervised(results: Path, name: str, n: int) -> SupervisedResult:
    """Read a VOT baseline result (also one written by another VOT-compatible tracker)."""
    path = supervised_path(results, name)
    codes = np.full(n, TRACKED, dtype=np.int64)
    boxes = np.full((n, 4), np.nan)
    lines = _lines(path)
    if len(lines) != n:
        raise ResultsError(f"{path}: {len(lines)} lines for {n} frames (delete it to re-run the sequence)")
    for i, line in enumerate(lines):
        row = _parse_row(path, i + 1, line, (1, 4, 8), allow_nan=True)
        if row is None:
            continue
        if len(row) == 1:
            if row[0] not in (SKIPPED, INIT, FAILURE):
                raise AnnotationError(path, i + 1, f"single value must be 0, 1 or 2, got {row[0]:g}")
            codes[i] = int(row[0])
        elif len(row) == 4:
            boxes[i] = row
        else:
            xs, ys = row[0::2], row[1::2]
            boxes[i] = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    times = _read_values(path.with_name(f"{name}_{REPETITION}_time.value"), n)
    return SupervisedResult(codes, boxes, times)


def write_native(results: Path, dataset: str, name: str, res: OPEResult, one_based: bool) -> None:
    """The one-pass result in the benchmark's own toolkit layout.

    otb / uav / lasot: ``<dataset>/<seq>.txt`` in the annotation's pixel convention (1-based);
    got10k: ``got10k/<seq>/<seq>_001.txt`` and ``<seq>_time.txt`` (the evaluation server's form);
    vot-lt: ``longterm/<seq>/<seq>_001.txt`` with ``_confidence.value`` and ``_time.value``.
    """
    shift = np.array([1.0, 1.0, 0.0, 0.0]) if one_based else np.zeros(4)
    boxes = "\n".join(_box_lines(res.boxes + shift)) + "\n"
    times = np.where(np.isnan(res.times), 0.0, res.times)
    if dataset in ("otb", "uav", "lasot"):
        write_text_atomic(results / dataset / f"{name}.txt", boxes)
    elif dataset == "got10k":
        folder = results / "got10k" / name
        write_text_atomic(folder / f"{name}_time.txt", "\n".join(_value_lines(times)) + "\n")
        write_text_atomic(folder / f"{name}_{REPETITION}.txt", boxes)
    elif dataset == "vot-lt":
        folder = results / LONGTERM_DIR / name
        lines = boxes.splitlines()
        lines[0] = str(INIT)
        scores = np.where(np.isnan(res.scores), 1.0, res.scores)
        write_text_atomic(folder / f"{name}_{REPETITION}_confidence.value",
                          "\n".join(_value_lines(scores)) + "\n")
        write_text_atomic(folder / f"{name}_{REPETITION}_time.value", "\n".join(_value_lines(times)) + "\n")
        write_text_atomic(folder / f"{name}_{REPETITION}.txt", "\n".join(lines) + "\n")

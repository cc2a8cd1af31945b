"""Running a tracker over sequences: one-pass and VOT supervised loops, in parallel processes.

Only ``tracker.init(image, box)`` and ``tracker.track(image) -> result`` (with ``.box`` and
``.score``) are used, so any object with that interface can be evaluated. Worker processes build
their tracker once from a picklable factory (e.g. :class:`TrackerSpec`); every sequence starts
with ``init``, so results do not depend on which worker ran which sequence.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from typing import Protocol
from collections.abc import Callable, Iterator

import numpy as np
from tqdm import tqdm

from .annotation_io import area_preserving_box, rect_to_polygon
from .config import SupervisedConfig
from .frames import prefetched
from .regions import box_polygon_overlap
from .results_io import OPEResult, SupervisedResult
from .sequence import Sequence
from .supervised import FAILURE, INIT, SKIPPED, TRACKED

OPE, SUPERVISED = "ope", "supervised"


class Tracker(Protocol):
    def init(self, image: np.ndarray, box) -> None: ...

    def track(self, image: np.ndarray): ...


TrackerFactory = Callable[[], Tracker]


@dataclass(frozen=True)
class TrackerSpec:
    """A picklable recipe for :func:`dasiamrpn_core.load_tracker` (what each worker builds)."""

    checkpoint: str | None = None
    mode: str = "dasiamrpn"
    device: str = "auto"
    preset: str | None = None
    overrides: tuple[tuple[str, object], ...] = ()
    backend: str = "torch"

    def __call__(self) -> Tracker:
        from ..api import load_tracker
        return load_tracker(self.checkpoint, device=self.device, mode=self.mode, preset=self.preset,
                            backend=self.backend, **dict(self.overrides))


def init_box(seq: Sequence, frame: int, rule: str) -> tuple[float, float, float, float]:
    """The box handed to ``init`` at ``frame``: polygons follow ``rule`` ("area" or "minmax")."""
    if rule == "area" and seq.polygons is not None and np.all(np.isfinite(seq.polygons[frame])):
        return area_preserving_box(seq.polygons[frame])
    box = seq.boxes[frame]
    if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"sequence {seq.name!r}: no valid ground truth to initialise from at frame {frame + 1}")
    return tuple(float(v) for v in box)


def run_ope(tracker: Tracker, seq: Sequence, init_rule: str = "area",
            advance: Callable[[int], None] | None = None) -> OPEResult:
    """One pass from the first frame; frame 0 records the ground truth it was given (score 1)."""
    n = len(seq)
    boxes = np.empty((n, 4))
    times = np.empty(n)
    scores = np.empty(n)
    for f, image in enumerate(prefetched(seq.frames)):
        if f == 0:
            box = init_box(seq, 0, init_rule)
            t0 = time.perf_counter()
            tracker.init(image, box)
            times[0] = time.perf_counter() - t0
            boxes[0], scores[0] = seq.boxes[0], 1.0
        else:
            t0 = time.perf_counter()
            result = tracker.track(image)
            times[f] = time.perf_counter() - t0
            boxes[f], scores[f] = result.box, result.score
        if advance is not None:
            advance(1)
    return OPEResult(boxes, times, scores)


def _next_valid(seq: Sequence, frame: int) -> int:
    ok = seq.annotated
    while frame < len(seq) and not ok[frame]:
        frame += 1
    return frame


def run_supervised(tracker: Tracker, seq: Sequence, cfg: SupervisedConfig,
                   advance: Callable[[int], None] | None = None) -> SupervisedResult:
    """VOT baseline: re-initialise ``cfg.skip_frames`` frames after each failure (overlap <= threshold)."""
    n = len(seq)
    codes = np.full(n, SKIPPED, dtype=np.int64)
    boxes = np.full((n, 4), np.nan)
    times = np.full(n, np.nan)
    gt = seq.polygons if seq.polygons is not None else None
    next_init, tracking, bounds = _next_valid(seq, 0), False, None
    for f, image in enumerate(prefetched(seq.frames)):
        if bounds is None:
            bounds = (float(image.shape[1]), float(image.shape[0])) if cfg.bounded else None
        if f == next_init:
            box = init_box(seq, f, cfg.init_box)
            t0 = time.perf_counter()
            tracker.init(image, box)
            times[f] = time.perf_counter() - t0
            codes[f], tracking = INIT, True
        elif tracking:
            t0 = time.perf_counter()
            result = tracker.track(image)
            times[f] = time.perf_counter() - t0
            boxes[f] = result.box
            codes[f] = TRACKED
            if seq.annotated[f]:
                region = gt[f] if gt is not None else rect_to_polygon(seq.boxes[f])
                if box_polygon_overlap(boxes[f], region, bounds) <= cfg.failure_overlap:
                    codes[f], tracking = FAILURE, False
                    boxes[f] = np.nan
                    next_init = _next_valid(seq, f + cfg.skip_frames)
        if advance is not None:
            advance(1)
    return SupervisedResult(codes, boxes, times)


@dataclass(frozen=True)
class Task:
    sequence: Sequence
    protocol: str  # OPE or SUPERVISED
    supervised: SupervisedConfig = SupervisedConfig()

    @property
    def frames(self) -> int:
        return len(self.sequence)


def run_task(tracker: Tracker, task: Task, advance: Callable[[int], None] | None = None):
    if task.protocol == OPE:
        return run_ope(tracker, task.sequence, task.supervised.init_box, advance)
    if task.protocol == SUPERVISED:
        return run_supervised(tracker, task.sequence, task.supervised, advance)
    raise ValueError(f"unknown protocol {task.protocol!r}")


_worker_tracker: list[Tracker] = []
DEFAULT_THREADS = 1  # torch threads per process: results do not depend on --workers, and no oversubscription


def _set_threads(threads: int) -> int:
    """Set torch's intra-op threads; returns the previous value."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    return previous


def _worker_init(factory: TrackerFactory, threads: int) -> None:
    _set_threads(threads)
    _worker_tracker.append(factory())


def _worker_run(indexed: tuple[int, Task]):
    index, task = indexed
    return index, run_task(_worker_tracker[0], task)


def run_tasks(tasks: list[Task], factory: TrackerFactory, *, workers: int = 1, threads: int | None = None,
              progress: bool = True) -> Iterator[tuple[Task, object]]:
    """Run every task, yielding ``(task, result)`` as each finishes (any order).

    workers > 1: a pool of spawned processes, longest sequences first. Each process (this one
    too when workers == 1) uses ``threads`` torch threads, 1 by default, so the boxes are the
    same for any number of workers; this process's setting is restored afterwards.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if not tasks:
        return
    threads = threads or DEFAULT_THREADS
    total = sum(t.frames for t in tasks)
    bar = tqdm(total=total, unit="frame", desc="evaluating", disable=not progress,
               dynamic_ncols=True, smoothing=0.05)
    try:
        if workers == 1 or len(tasks) <= 1:
            previous = _set_threads(threads)
            try:
                tracker = factory()
                for task in tasks:
                    bar.set_postfix_str(task.sequence.name, refresh=False)
                    yield task, run_task(tracker, task, bar.update)
            finally:
                _set_threads(previous)
            return
        order = sorted(range(len(tasks)), key=lambda i: -tasks[i].frames)
        ctx = mp.get_context("spawn")
        with ctx.Pool(min(workers, len(tasks)), initializer=_worker_init, initargs=(factory, threads)) as pool:
            for index, result in pool.imap_unordered(_worker_run, [(i, tasks[i]) for i in order]):
                bar.update(tasks[index].frames)
                bar.set_postfix_str(tasks[index].sequence.name, refresh=False)
                yield tasks[index], result
    finally:
        bar.close()

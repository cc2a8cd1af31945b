"""Counters and recent timings of the tracker node, for /diagnostics."""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

from .depth_input import KINDS as DEPTH_FAILURES

WINDOW = 100  # recent tracked frames the rates and medians are computed over
TRACK_FAILURES_WARN = 3    # tracking raised on this many frames in a row: /diagnostics WARN
TRACK_FAILURES_ERROR = 10  # ... this many: ERROR, the model is not usable
DEPTH_OUTCOMES = ("estimated",) + DEPTH_FAILURES


@dataclass(frozen=True)
class StatsView:
    fps: float
    latency_ms: float
    track_ms: float
    overhead_ms: float
    stamp_age_ms: float
    received: int
    tracked: int
    rejected: int
    depth: dict[str, int]   # use_depth: 3D estimates per outcome (estimated, missing, stale, invalid)
    depth_ms: float         # median time of the 3D step (pairing, decoding, estimating)


class NodeStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.tracked = 0
        self.rejected = 0
        self._tracked_at: deque[float] = deque(maxlen=WINDOW)
        self._latency_ms: deque[float] = deque(maxlen=WINDOW)
        self._track_ms: deque[float] = deque(maxlen=WINDOW)
        self._overhead_ms: deque[float] = deque(maxlen=WINDOW)
        self._stamp_age_ms: deque[float] = deque(maxlen=WINDOW)
        self.depth = dict.fromkeys(DEPTH_OUTCOMES, 0)
        self._depth_ms: deque[float] = deque(maxlen=WINDOW)

    def on_received(self) -> None:
        with self._lock:
            self.received += 1

    def on_rejected(self) -> None:
        with self._lock:
            self.rejected += 1

    def on_depth(self, outcomes: list[str], step_ms: float) -> None:
        """One frame's 3D step: each target's outcome (one of DEPTH_OUTCOMES) and the step's time."""
        with self._lock:
            for outcome in outcomes:
                self.depth[outcome] += 1
            self._depth_ms.append(step_ms)

    def on_tracked(self, latency_ms: float, track_ms: float, stamp_age_ms: float) -> None:
        """latency: frame received -> outputs published; track: the tracker's share of it."""
        with self._lock:
            self.tracked += 1
            self._tracked_at.append(time.monotonic())
            self._latency_ms.append(latency_ms)
            self._track_ms.append(track_ms)
            self._overhead_ms.append(latency_ms - track_ms)
            self._stamp_age_ms.append(stamp_age_ms)

    def view(self) -> StatsView:
        with self._lock:
            times = list(self._tracked_at)
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            if times and time.monotonic() - times[-1] > 2.0:
                fps = 0.0  # nothing tracked recently
            return StatsView(
                fps=fps,
                latency_ms=_median(self._latency_ms), track_ms=_median(self._track_ms),
                overhead_ms=_median(self._overhead_ms),
                stamp_age_ms=_median(self._stamp_age_ms),
                received=self.received, tracked=self.tracked, rejected=self.rejected,
                depth=dict(self.depth), depth_ms=_median(self._depth_ms))


def _median(values: deque[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass(frozen=True)
class HealthInputs:
    track_failures: int        # frames in a row on which tracking raised
    last_problem: str
    silent_s: float            # seconds since the last image
    image_timeout: float
    image_topic: str
    states: dict[int, str]     # the targets' states by id (empty: idle)
    several: bool              # max_targets > 1: the reasons name the target


def health(h: HealthInputs) -> tuple[str, list[str]]:
    """(level, reasons): ERROR when the model is not usable, WARN when the robot should look."""
    errors, warnings = [], []
    if h.track_failures >= TRACK_FAILURES_ERROR:
        errors.append(f"tracking raised on the last {h.track_failures} frames: the model is not "
                      f"usable ({h.last_problem})")
    elif h.track_failures >= TRACK_FAILURES_WARN:
        warnings.append(f"tracking raised on the last {h.track_failures} frames")
    if h.states and h.silent_s > h.image_timeout:
        warnings.append(f"no image for {h.silent_s:.1f} s while tracking (image_timeout "
                        f"{h.image_timeout} s) on {h.image_topic}")
    warnings += [f"target {target_id} {state}" if h.several else f"target {state}"
                 for target_id, state in h.states.items() if state in ("searching", "lost")]
    return ("error" if errors else "warn" if warnings else "ok"), errors + warnings


def depth_diagnostics(depth, view: StatsView, depth_problem: str) -> tuple[tuple[str, str], ...]:
    """use_depth (``depth``: the node's DepthInput, None without): depth frames received, 3D outcomes
    per kind, the 3D step's median time, the last depth problem; nothing without depth."""
    if depth is None:
        return ()
    return ((("depth_frames_received", str(depth.received)),)
            + tuple((f"depth_{kind}", str(view.depth[kind])) for kind in DEPTH_OUTCOMES)
            + (("depth_ms", f"{view.depth_ms:.2f}"), ("depth_last_problem", depth_problem)))

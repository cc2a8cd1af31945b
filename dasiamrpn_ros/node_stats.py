"""Counters and recent timings of the tracker node, for /diagnostics."""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

from .depth_input import KINDS as DEPTH_FAILURES

WINDOW = 100  # recent tracked frames the rates and medians are computed over
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

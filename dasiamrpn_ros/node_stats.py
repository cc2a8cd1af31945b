"""Counters and recent timings of the tracker node, for /diagnostics."""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

WINDOW = 100  # recent tracked frames the rates and medians are computed over


@dataclass(frozen=True)
class StatsView:
    fps: float
    latency_ms: float
    stamp_age_ms: float
    received: int
    tracked: int
    rejected: int


class NodeStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.tracked = 0
        self.rejected = 0
        self._tracked_at: deque[float] = deque(maxlen=WINDOW)
        self._latency_ms: deque[float] = deque(maxlen=WINDOW)
        self._stamp_age_ms: deque[float] = deque(maxlen=WINDOW)

    def on_received(self) -> None:
        with self._lock:
            self.received += 1

    def on_rejected(self) -> None:
        with self._lock:
            self.rejected += 1

    def on_tracked(self, latency_ms: float, stamp_age_ms: float) -> None:
        with self._lock:
            self.tracked += 1
            self._tracked_at.append(time.monotonic())
            self._latency_ms.append(latency_ms)
            self._stamp_age_ms.append(stamp_age_ms)

    def view(self) -> StatsView:
        with self._lock:
            times = list(self._tracked_at)
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            if times and time.monotonic() - times[-1] > 2.0:
                fps = 0.0  # nothing tracked recently
            return StatsView(
                fps=fps,
                latency_ms=statistics.median(self._latency_ms) if self._latency_ms else 0.0,
                stamp_age_ms=statistics.median(self._stamp_age_ms) if self._stamp_age_ms else 0.0,
                received=self.received, tracked=self.tracked, rejected=self.rejected)

"""Per-reason log throttling: bad input at 60 Hz logs once per period per kind, with a count."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, emit: Callable[[str], None], period_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._emit = emit
        self._period = period_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, message: str) -> bool:
        """Log ``message`` unless a message of the same ``kind`` was logged within the period."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._period:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            message += f" ({suppressed} similar messages suppressed in the last {self._period:g} s)"
        self._emit(message)
        return True

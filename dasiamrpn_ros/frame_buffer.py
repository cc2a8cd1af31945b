"""The last N received frames (for init-by-stamp) and the newest-frame hand-off to the tracker.

Thread-safe: the image callback pushes, the tracking worker takes the newest unprocessed frame,
the init service looks frames up by stamp. Older unprocessed frames are dropped, never queued.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Optional, TypeVar

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int

    @staticmethod
    def of(msg_stamp: Any) -> "Stamp":
        return Stamp(int(msg_stamp.sec), int(msg_stamp.nanosec))

    @property
    def is_zero(self) -> bool:
        return self.sec == 0 and self.nanosec == 0

    def __str__(self) -> str:
        return f"{self.sec}.{self.nanosec:09d}"


@dataclass(frozen=True)
class BufferedFrame(Generic[Payload]):
    stamp: Stamp
    sequence: int          # receive order, 0-based
    received_ns: int       # steady-clock time the frame arrived
    payload: Payload       # the message (decoded lazily by the user of the buffer)


class FrameBuffer(Generic[Payload]):
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"frame buffer capacity must be >= 1, got {capacity}")
        self._frames: deque[BufferedFrame[Payload]] = deque(maxlen=capacity)
        self._cond = threading.Condition()
        self._next_sequence = 0
        self._last_taken = -1
        self._closed = False
        self.dropped = 0   # frames that were never handed to the tracker because newer ones came

    @property
    def capacity(self) -> int:
        return self._frames.maxlen or 0

    def resize(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"frame buffer capacity must be >= 1, got {capacity}")
        with self._cond:
            self._frames = deque(self._frames, maxlen=capacity)

    def push(self, stamp: Stamp, received_ns: int, payload: Payload) -> BufferedFrame[Payload]:
        with self._cond:
            frame = BufferedFrame(stamp, self._next_sequence, received_ns, payload)
            self._next_sequence += 1
            self._frames.append(frame)
            self._cond.notify_all()
            return frame

    def newest(self) -> Optional[BufferedFrame[Payload]]:
        with self._cond:
            return self._frames[-1] if self._frames else None

    def find(self, stamp: Stamp) -> Optional[BufferedFrame[Payload]]:
        """The newest buffered frame with exactly this stamp (None if none)."""
        with self._cond:
            for frame in reversed(self._frames):
                if frame.stamp == stamp:
                    return frame
            return None

    def describe(self) -> str:
        with self._cond:
            if not self._frames:
                return "the buffer is empty"
            return (f"the buffer holds {len(self._frames)} frames stamped {self._frames[0].stamp} .. "
                    f"{self._frames[-1].stamp}")

    def restart_after(self, sequence: int) -> None:
        """Hand out frames received after ``sequence`` next (the tracker was just initialised on it)."""
        with self._cond:
            self._last_taken = sequence
            self._cond.notify_all()

    def wait_newest_unprocessed(self, timeout: float) -> Optional[BufferedFrame[Payload]]:
        """Block until a frame newer than the last one taken arrives; return the newest one.

        Returns None on timeout or after :meth:`close`. Frames skipped over count as dropped.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._closed or (self._frames and self._frames[-1].sequence > self._last_taken),
                timeout)
            if self._closed or not ready:
                return None
            frame = self._frames[-1]
            self.dropped += max(0, frame.sequence - self._last_taken - 1)
            self._last_taken = frame.sequence
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

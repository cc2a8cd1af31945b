"""The last N received frames (for init-by-stamp) and the newest-frame hand-off to the tracker.

Thread-safe: the image callback pushes, the tracking worker takes the newest unprocessed frame,
the init service looks frames up by stamp. Older unprocessed frames are dropped, never queued.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class Stamp:
    sec: int
    nanosec: int

    @staticmethod
    def of(msg_stamp: Any) -> Stamp:
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
    """At most ``capacity`` frames and at most ``max_bytes`` of payload (0: no byte limit), oldest
    evicted first; the newest frame is always kept, even if it alone is larger than the limit."""

    def __init__(self, capacity: int, max_bytes: int = 0):
        self._frames: deque[BufferedFrame[Payload]] = deque()
        self._sizes: deque[int] = deque()
        self._capacity, self._max_bytes = self._checked(capacity, max_bytes)
        self._bytes = 0
        self._cond = threading.Condition()
        self._next_sequence = 0
        self._last_taken = -1
        self._catch_up_until = -1   # hand out frames in order up to this sequence (init on an older frame)
        self.in_order = False        # every frame in order (frame_policy "every"), not only the newest
        self._closed = False
        self.dropped = 0             # frames never handed to the tracker (newer ones came, or evicted first)
        self.evicted_for_memory = 0  # frames evicted because of max_bytes rather than capacity

    @staticmethod
    def _checked(capacity: int, max_bytes: int) -> tuple[int, int]:
        if capacity < 1:
            raise ValueError(f"frame buffer capacity must be >= 1, got {capacity}")
        if max_bytes < 0:
            raise ValueError(f"frame buffer byte limit must be >= 0 (0 = none), got {max_bytes}")
        return capacity, max_bytes

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def bytes(self) -> int:
        with self._cond:
            return self._bytes

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    def resize(self, capacity: int, max_bytes: int | None = None) -> None:
        with self._cond:
            self._capacity, self._max_bytes = self._checked(
                capacity, self._max_bytes if max_bytes is None else max_bytes)
            self._evict()

    def _evict(self) -> None:
        while len(self._frames) > 1 and (len(self._frames) > self._capacity
                                         or (self._max_bytes and self._bytes > self._max_bytes)):
            if len(self._frames) <= self._capacity:
                self.evicted_for_memory += 1
            self._frames.popleft()
            self._bytes -= self._sizes.popleft()

    def push(self, stamp: Stamp, received_ns: int, payload: Payload, nbytes: int = 0) -> BufferedFrame[Payload]:
        """Add a frame; ``nbytes`` is its payload size for the byte limit."""
        with self._cond:
            frame = BufferedFrame(stamp, self._next_sequence, received_ns, payload)
            self._next_sequence += 1
            self._frames.append(frame)
            self._sizes.append(nbytes)
            self._bytes += nbytes
            self._evict()
            self._cond.notify_all()
            return frame

    def newest(self) -> BufferedFrame[Payload] | None:
        with self._cond:
            return self._frames[-1] if self._frames else None

    def find(self, stamp: Stamp) -> BufferedFrame[Payload] | None:
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

    def restart_after(self, sequence: int, catch_up: bool = False) -> None:
        """The tracker was just initialised on frame ``sequence``: hand out frames received after it.

        ``catch_up``: first every buffered frame after it, in order, up to the newest one buffered
        now (so a target that moved since that older frame is followed step by step), then back to
        newest-frame mode. Without it, the newest frame next.
        """
        with self._cond:
            self._last_taken = sequence
            newest = self._frames[-1].sequence if self._frames else sequence
            self._catch_up_until = newest if catch_up else -1
            self._cond.notify_all()

    @property
    def catching_up(self) -> bool:
        with self._cond:
            return self._catch_up_until > self._last_taken

    def wait_next(self, timeout: float) -> BufferedFrame[Payload] | None:
        """Block until a frame newer than the last one taken arrives; return the next one to track.

        That is the oldest such frame while catching up (see :meth:`restart_after`) or with
        ``in_order`` (frames evicted before their turn count as dropped), else the newest.
        Returns None on timeout or after :meth:`close`. Frames skipped over count as dropped.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._closed or (self._frames and self._frames[-1].sequence > self._last_taken),
                timeout)
            if self._closed or not ready:
                return None
            frame = self._frames[-1]
            if self.in_order or self._catch_up_until > self._last_taken:
                frame = next(f for f in self._frames if f.sequence > self._last_taken)
            self.dropped += max(0, frame.sequence - self._last_taken - 1)
            self._last_taken = frame.sequence
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

"""The last N received frames (for init-by-stamp) and the newest-frame hand-off to the tracker.

Thread-safe: the image callback pushes, the tracking worker takes the newest unprocessed frame,
the init service looks frames up by stamp. Older unprocessed frames are dropped, never queued. A
target initialised on an older buffered frame walks the frames since then with its own
:class:`CatchUp` cursor until it reaches the live stream (the other targets stay live meanwhile).
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Payload = TypeVar("Payload")
# catching up after an init on an older frame, every tracking step moves this many frames further than
# the frames that arrived during the previous step: the backlog shrinks by this much per step whatever
# the tracker's speed, so catch-up always reaches the live stream, and a step never spans more than
# CATCH_UP_GAIN frames of motion beyond what newest-frame tracking at the same speed spans anyway (a
# tracker as fast as the stream: every frame in order, or one skipped; slower: the live skip plus one)
CATCH_UP_GAIN = 1


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


@dataclass
class CatchUp:
    """One target's way from its init frame to the live stream (:meth:`FrameBuffer.next_catch_up`)."""

    last: int          # sequence of the frame it tracked last (at first: its init frame)
    newest_seen: int   # the newest sequence at its previous step (frames arrived since = the step's slack)
    done: bool = False  # it has tracked the live frame: newest-frame tracking from now on


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

    def catch_up(self, sequence: int) -> CatchUp:
        """A cursor for a target just initialised on frame ``sequence``: :meth:`next_catch_up` hands it
        the frames after it, including those that arrive meanwhile, until it has tracked the newest
        one (done: it has reached the live stream). Each step goes ``CATCH_UP_GAIN`` frames further
        than the number of frames that arrived during the previous step (a tracker faster than the
        stream: every frame in order), so a target that moved since that older frame is followed step
        by step and the backlog shrinks on every step. Already done when nothing newer is buffered."""
        with self._cond:
            newest = self._frames[-1].sequence if self._frames else sequence
            return CatchUp(last=sequence, newest_seen=newest, done=newest <= sequence)

    def next_catch_up(self, cursor: CatchUp) -> BufferedFrame[Payload] | None:
        """The cursor's next frame (None once done); frames evicted meanwhile: the oldest left. The
        frame that is the newest one ends the catch-up (``cursor.done``)."""
        with self._cond:
            if cursor.done or not self._frames:
                return None
            newest = self._frames[-1].sequence
            arrived, cursor.newest_seen = max(0, newest - cursor.newest_seen), newest
            wanted = min(cursor.last + arrived + CATCH_UP_GAIN, newest)
            frame = next(f for f in self._frames if f.sequence >= wanted)
            cursor.last, cursor.done = frame.sequence, frame.sequence == newest
            return frame

    def restart_after(self, sequence: int) -> None:
        """Newest-frame hand-out goes on with frames received after ``sequence`` (a target joined there)."""
        with self._cond:
            self._last_taken = sequence
            self._cond.notify_all()

    def wait_next(self, timeout: float) -> BufferedFrame[Payload] | None:
        """Block until a frame newer than the last one taken arrives; return the next one to track.

        That is the next one in order with ``in_order`` (frames evicted before their turn count as
        dropped), else the newest.
        Returns None on timeout or after :meth:`close`. Frames skipped over count as dropped.
        """
        with self._cond:
            ready = self._cond.wait_for(
                lambda: self._closed or (self._frames and self._frames[-1].sequence > self._last_taken),
                timeout)
            if self._closed or not ready:
                return None
            frame = self._frames[-1]
            if self.in_order:
                frame = next(f for f in self._frames if f.sequence > self._last_taken)
            self.dropped += max(0, frame.sequence - self._last_taken - 1)
            self._last_taken = frame.sequence
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

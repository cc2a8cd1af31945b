"""The tracker node's depth input (``use_depth``): registered depth frames and their ``CameraInfo``,
the pairing of a tracked colour frame with the depth frame of the closest stamp, and the 3D
estimate of every target's box in it (``dasiamrpn_core.depth``).

Pairing: the depth frame with the stamp closest to the colour frame's among those no older than
``depth_max_age`` and no newer than :data:`DEPTH_MAX_LEAD_S` (a depth frame of a later moment is
never used: at 60 Hz the next frame is 16.7 ms later). While depth frames are arriving, a tracked
frame waits up to :data:`DEPTH_WAIT_S` for one stamped at or after it (depth often travels a few
ms behind colour); once the depth stream has stopped for :data:`DEPTH_STREAM_TIMEOUT_S` nothing
waits. Thread-safe: the subscriptions add, the tracking thread pairs.

A depth image must be registered to the colour image at its size (``aligned_depth_to_color``):
one of another size is refused with a log line naming both sizes (the box is not rescaled through
the two intrinsics; the colour ``CameraInfo`` is not subscribed).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sensor_msgs.msg import CameraInfo, Image

from dasiamrpn_core.depth import DepthParams, Estimate3D, Intrinsics, NoDepthError, estimate_3d

from .frame_buffer import Stamp
from .image_conversion import DEPTH_ENCODINGS, ImageConversionError, check_image_layout, depth_to_array

DEPTH_BUFFER_FRAMES = 30        # depth frames kept for pairing (1 s at 30 Hz; 18 MiB of 640x480 16UC1)
DEPTH_MAX_LEAD_S = 0.010        # a depth frame newer than the colour frame by more than this is never used
DEPTH_WAIT_S = 0.05             # a tracked frame waits this long at most for its depth frame to arrive
DEPTH_STREAM_TIMEOUT_S = 0.5    # no depth frame for this long: the stream has stopped, nothing waits
NS_PER_S = 10**9
KINDS = ("missing", "stale", "invalid")   # why a target has no 3D estimate (/diagnostics depth_<kind>)


def stamp_ns(stamp: Stamp) -> int:
    return stamp.sec * NS_PER_S + stamp.nanosec


@dataclass(frozen=True)
class DepthFailure:
    kind: str      # one of KINDS
    message: str


@dataclass(frozen=True)
class DepthFrame:
    stamp: Stamp
    received_ns: int     # steady clock
    msg: Image
    problem: str = ""    # why this frame cannot be used (refused encoding, bad sizes); "" if usable


@dataclass(frozen=True)
class DepthOutcome:
    """One colour frame's 3D result: per target id an estimate or the reason there is none."""

    frame_id: str                                    # the depth frame's ("" when no frame was paired)
    estimates: dict[int, Estimate3D] = field(default_factory=dict)
    failures: dict[int, DepthFailure] = field(default_factory=dict)


class DepthInput:
    def __init__(self, depth_topic: str, info_topic: str, params: DepthParams = DepthParams(),
                 capacity: int = DEPTH_BUFFER_FRAMES):
        self.depth_topic, self.info_topic, self.params = depth_topic, info_topic, params
        self._frames: deque[DepthFrame] = deque(maxlen=capacity)
        self._info: CameraInfo | None = None
        self._intrinsics: Intrinsics | None = None
        self._info_problem = ""
        self._cond = threading.Condition()
        self.received = 0
        self.last_frame_id = ""

    # -- the subscriptions -------------------------------------------------------------------
    def on_depth(self, msg: Image) -> str:
        """Store a depth frame; the problem that makes it unusable ("" if none), for the log."""
        problem = ""
        try:
            check_image_layout(msg, DEPTH_ENCODINGS)
        except ImageConversionError as exc:
            problem = f"depth image stamped {Stamp.of(msg.header.stamp)} on {self.depth_topic} refused: {exc}"
        with self._cond:
            self._frames.append(DepthFrame(Stamp.of(msg.header.stamp), time.monotonic_ns(), msg, problem))
            self.received += 1
            self._cond.notify_all()
        return problem

    def on_info(self, msg: CameraInfo) -> str:
        """Store the newest CameraInfo; the problem that makes it unusable ("" if none)."""
        try:
            intrinsics, problem = Intrinsics.from_k(msg.k), ""
        except ValueError as exc:
            intrinsics, problem = None, f"CameraInfo on {self.info_topic} refused: {exc} (k = {list(msg.k)})"
        with self._cond:
            self._info, self._intrinsics, self._info_problem = msg, intrinsics, problem
        return problem

    # -- the tracking thread -----------------------------------------------------------------
    def pair(self, stamp: Stamp, max_age_s: float, wait_s: float = DEPTH_WAIT_S) -> DepthFrame | DepthFailure:
        """The depth frame for the colour frame stamped ``stamp`` (see the module's docstring)."""
        target = stamp_ns(stamp)
        with self._cond:
            def arrived() -> bool:
                return bool(self._frames) and stamp_ns(self._frames[-1].stamp) >= target
            streaming = self._frames and time.monotonic_ns() - self._frames[-1].received_ns < \
                DEPTH_STREAM_TIMEOUT_S * NS_PER_S
            if streaming:
                self._cond.wait_for(arrived, wait_s)
            frames = list(self._frames)
        if not frames:
            return DepthFailure("missing", f"no depth image received on {self.depth_topic} yet")
        lo, hi = target - int(max_age_s * NS_PER_S), target + int(DEPTH_MAX_LEAD_S * NS_PER_S)
        inside = [f for f in frames if lo <= stamp_ns(f.stamp) <= hi]
        if not inside:
            closest = min(frames, key=lambda f: abs(stamp_ns(f.stamp) - target))
            gap = (stamp_ns(closest.stamp) - target) / NS_PER_S
            when = f"{-gap:.3f} s older" if gap < 0 else f"{gap:.3f} s newer"
            return DepthFailure("stale", f"no depth frame for the colour frame stamped {stamp}: the closest, stamped "
                                         f"{closest.stamp}, is {when} (depth_max_age {max_age_s:g} s, at most "
                                         f"{DEPTH_MAX_LEAD_S:g} s newer)")
        # the closest stamp; of two equally close the older (it cannot show a later moment)
        return min(inside, key=lambda f: (abs(stamp_ns(f.stamp) - target), stamp_ns(f.stamp)))

    def locate(self, stamp: Stamp, colour_size: tuple[int, int], boxes: Mapping[int, Sequence[float]],
               max_age_s: float, wait_s: float = DEPTH_WAIT_S) -> DepthOutcome:
        """Every target's 3D estimate in the depth frame paired with the colour frame ``stamp`` of
        ``colour_size`` (W, H); ``boxes``: target id -> (x, y, w, h) in the colour image."""
        paired = self.pair(stamp, max_age_s, wait_s)
        if isinstance(paired, DepthFailure):
            return DepthOutcome(self.last_frame_id, failures=dict.fromkeys(boxes, paired))
        frame_id = paired.msg.header.frame_id
        self.last_frame_id = frame_id
        failure = self._frame_problem(paired, colour_size)
        if failure is not None:
            return DepthOutcome(frame_id, failures=dict.fromkeys(boxes, failure))
        depth, unit = depth_to_array(paired.msg)
        outcome = DepthOutcome(frame_id)
        for target_id, box in boxes.items():
            try:
                outcome.estimates[target_id] = estimate_3d(box, depth, self._intrinsics, unit, self.params)
            except NoDepthError as exc:
                outcome.failures[target_id] = DepthFailure(
                    "invalid", f"target {target_id}, depth frame stamped {paired.stamp}: {exc}")
        return outcome

    def _frame_problem(self, frame: DepthFrame, colour_size: tuple[int, int]) -> DepthFailure | None:
        with self._cond:
            info, intrinsics, info_problem = self._info, self._intrinsics, self._info_problem
        if frame.problem:
            return DepthFailure("invalid", frame.problem)
        if info is None:
            return DepthFailure("missing", f"no CameraInfo received on {self.info_topic} yet")
        if intrinsics is None:
            return DepthFailure("invalid", info_problem)
        size = (frame.msg.width, frame.msg.height)
        if size != tuple(colour_size):
            return DepthFailure("invalid", f"the depth image on {self.depth_topic} is {size[0]}x{size[1]} but the "
                                           f"colour image is {colour_size[0]}x{colour_size[1]}: publish depth "
                                           f"registered to the colour image at its size (e.g. RealSense "
                                           f"aligned_depth_to_color)")
        if (info.width, info.height) not in ((0, 0), size):
            return DepthFailure("invalid", f"the CameraInfo on {self.info_topic} is for {info.width}x{info.height} "
                                           f"images, the depth image is {size[0]}x{size[1]}")
        return None

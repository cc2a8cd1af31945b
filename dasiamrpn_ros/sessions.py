"""The targets a tracker node follows (no ROS here): ids, the limit, catch-up, the batched step.

A target starts on a buffered frame (``~/init_box`` by stamp, a detection): its own single tracker,
initialised while the others keep tracking, is adopted here and walks the frames received since
its init frame with its own :class:`~dasiamrpn_ros.frame_buffer.CatchUp` cursor (one call per step,
interleaved with the live targets' steps, so nobody waits for it); once it has tracked the newest
frame it joins the live targets, which go through the network in one batched call per frame
(:class:`dasiamrpn_core.MultiTracker`, with mutual awareness between them where the mode has it).

``max_targets`` 1 is the node's single-target behaviour: a new target replaces the current one. With
more, a new target is added until the limit (:class:`TargetLimit`); ``remove`` ends one by id,
``clear`` all. Ids are 1, 2, ... per adopted target, never reused while the node runs.

Not thread-safe: the node holds its tracker lock around every call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dasiamrpn_core import MultiTracker
from dasiamrpn_core.geometry import iou_xywh
from dasiamrpn_core.tracker import SiamRPNTracker, TrackResult

from .frame_buffer import BufferedFrame, CatchUp, FrameBuffer

# a detection whose box overlaps a target's current box at least this much is that target, not a new one
DUPLICATE_IOU = 0.5
INIT_SCORE = 1.0   # a new target's score until its first tracked frame


def box_inside_image(box, width: int, height: int, clip: bool) -> tuple:
    """The init box (x, y, w, h), or ``ValueError`` naming why not. ``clip``: a detector's box is clipped
    to the image (it may reach past the border) and rounded; a user's box must lie inside it."""
    if clip:
        x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
        x1 = min(width, int(round(box[0] + box[2])))
        y1 = min(height, int(round(box[1] + box[3])))
        box = (x0, y0, x1 - x0, y1 - y0)
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise ValueError(f"empty box: width {w}, height {h} "
                         f"(set camera_info.roi x_offset, y_offset, width, height in pixels)")
    if x + w > width or y + h > height:
        raise ValueError(f"box (x={x}, y={y}, w={w}, h={h}) is not inside the {width}x{height} image")
    return box


class TargetLimit(ValueError):
    """The node already follows ``max_targets`` targets; the message says so and what to do."""


@dataclass
class Target:
    """One tracked target, from its init to its removal."""

    target_id: int
    tracker: SiamRPNTracker        # its own state (the network is shared)
    image_shape: tuple[int, int]   # (H, W) of its init frame: frames of another size are skipped
    frame_id: str
    last_sequence: int             # receive sequence of the newest frame it has seen
    catch_up: CatchUp | None = None   # set while it tracks the frames since its init frame alone
    result: TrackResult = field(default=None)  # its latest result (its init box at first)

    @property
    def state(self) -> str:
        return self.result.state

    @property
    def live(self) -> bool:
        return self.catch_up is None


@dataclass(frozen=True)
class Step:
    """One frame tracked for some targets: what the node publishes for that frame."""

    frame: BufferedFrame[Any]
    image: np.ndarray                 # the decoded frame (H x W x 3 BGR)
    results: dict[int, TrackResult]   # by id: the targets tracked on this frame


class TargetSessions:
    def __init__(self, max_targets: int = 1, mutual_awareness: bool = True):
        if max_targets < 1:
            raise ValueError(f"max_targets must be >= 1, got {max_targets}")
        self.max_targets = int(max_targets)
        self._mutual = bool(mutual_awareness)
        self._multi: MultiTracker | None = None   # the live targets' batched tracker (made by the first add)
        self._targets: dict[int, Target] = {}
        self._next_id = 1

    # -- the set -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._targets)

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def targets(self) -> dict[int, Target]:
        """The targets by id (a copy of the mapping; the targets themselves are live objects)."""
        return dict(self._targets)

    @property
    def first(self) -> Target | None:
        """The lowest id: the target of the node's single-target topics (~/box, ~/score, ~/state)."""
        return self._targets[min(self._targets)] if self._targets else None

    def describe(self) -> str:
        if not self._targets:
            return "no target is tracked"
        return "tracking " + ", ".join(f"target {i} ({t.state})" for i, t in sorted(self._targets.items()))

    def check_room(self) -> None:
        """``TargetLimit`` when an add would exceed ``max_targets`` (never with max_targets 1: replaces)."""
        if self.max_targets > 1 and len(self._targets) >= self.max_targets:
            raise TargetLimit(f"the node already tracks {len(self._targets)} targets "
                              f"({', '.join(map(str, sorted(self._targets)))}), max_targets is "
                              f"{self.max_targets}: end one (~/remove_target) or all (~/stop) first")

    def add(self, tracker: SiamRPNTracker, box, frame: BufferedFrame[Any], image_shape: tuple[int, int],
            buffer: FrameBuffer[Any]) -> tuple[Target, list[Target]]:
        """Adopt ``tracker`` (initialised on ``frame`` with ``box``) as a new target: (the target, the
        targets it replaced). It catches up from ``frame`` alone, then joins the live targets. With
        max_targets 1 it replaces the current target; a tracker of another network (a reloaded model)
        replaces every target (they ran on the old one). ``TargetLimit`` changes nothing."""
        replaced = []
        new_model = self._multi is None or tracker.net is not self._multi.net
        if self.max_targets == 1 or new_model:
            replaced = self.clear()
        if new_model:
            self._multi = MultiTracker(tracker, self._mutual)
        self.check_room()
        target_id, self._next_id = self._next_id, self._next_id + 1
        target = Target(target_id, tracker, image_shape, frame.payload.header.frame_id, frame.sequence,
                        buffer.catch_up(frame.sequence),
                        TrackResult(tuple(float(v) for v in box), INIT_SCORE, "tracking"))
        self._targets[target_id] = target
        if target.catch_up.done:    # initialised on the newest frame: live at once
            self._join(target, buffer)
        return target, replaced

    def remove(self, target_id: int) -> Target:
        """End one target; ``KeyError`` naming the known ids when there is no such target."""
        if target_id not in self._targets:
            raise KeyError(f"no target with id {target_id} ({self.describe()})")
        target = self._targets.pop(target_id)
        if target.live:
            self._multi.remove(target_id)
        return target

    def clear(self) -> list[Target]:
        """End every target; the ended ones."""
        return [self.remove(i) for i in list(self._targets)]

    def overlapping(self, box, iou: float = DUPLICATE_IOU) -> Target | None:
        """A target whose latest box overlaps ``box`` (x, y, w, h) by IoU >= ``iou`` (a duplicate)."""
        for target in self._targets.values():
            if float(np.squeeze(iou_xywh(np.asarray(target.result.box, float), np.asarray(box, float)))) >= iou:
                return target
        return None

    def set_config(self, apply) -> None:
        """``apply(tracker)`` on every target's tracker (changed threshold parameters, between frames)."""
        for target in self._targets.values():
            apply(target.tracker)

    # -- tracking ------------------------------------------------------------------------------
    @property
    def catching_up(self) -> bool:
        return any(not t.live for t in self._targets.values())

    def catch_up_steps(self, buffer: FrameBuffer[Any], decode) -> list[Step]:
        """One catch-up step of every target that is catching up: its next buffered frame, tracked alone
        (``decode(frame)`` -> image or None; a frame it cannot use is skipped). A target that
        has tracked the newest frame joins the live targets."""
        steps = []
        for target in [t for t in self._targets.values() if not t.live]:
            frame = buffer.next_catch_up(target.catch_up)
            if frame is None:
                self._join(target, buffer)
                continue
            image = decode(frame)   # None: not decodable (the node said why), skipped
            if image is not None and image.shape[:2] == target.image_shape:
                target.last_sequence = frame.sequence
                target.result = target.tracker.track(image)
                steps.append(Step(frame, image, {target.target_id: target.result}))
            if target.catch_up.done:
                self._join(target, buffer)
        return steps

    def live_ids(self, frame: BufferedFrame[Any], image_shape: tuple[int, int] | None) -> list[int]:
        """The live targets that track ``frame``: not seen yet, and of its size (None: any size)."""
        return [i for i, t in self._targets.items() if t.live and frame.sequence > t.last_sequence
                and (image_shape is None or t.image_shape == image_shape)]

    def track_live(self, frame: BufferedFrame[Any], image: np.ndarray, ids: list[int]) -> Step:
        """The live targets ``ids`` on ``frame``: one batched network call."""
        results = self._multi.track(image, only=ids)
        for target_id, result in results.items():
            target = self._targets[target_id]
            target.last_sequence, target.result = frame.sequence, result
        return Step(frame, image, results)

    def _join(self, target: Target, buffer: FrameBuffer[Any]) -> None:
        alone = not any(t.live for t in self._targets.values() if t is not target)
        target.catch_up = None
        self._multi.adopt(target.tracker, target.result, target.target_id)
        if alone:   # nobody took live frames meanwhile: newest-frame hand-out goes on after its frame
            buffer.restart_after(target.last_sequence)

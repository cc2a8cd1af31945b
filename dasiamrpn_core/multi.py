"""``MultiTracker``: several targets of one video with one model and one batched network call per frame.

Each target is a single tracker of the loaded kind (``fresh()`` copies of the prototype: they share
the network and hold only their own state), so a target's crop, decoding, selection and update are
exactly the single tracker's. What differs is the network call: the search crops of all targets go
through the network together, the trunk on the batch and the correlation of crop b with target b's
kernels only (``TemplateSearch.search_batch``: a convolution grouped by target). Targets whose crops
differ in size (a ``longterm`` target searching with a larger crop) are batched per crop size.

Mutual awareness (``mutual_awareness=True``, the default; ``dasiamrpn`` and ``longterm`` only):
every other target is a known distractor of each target. Their template features enter Eq. 3's
distractor term with their own weight (``MutualParams.mutual_weight``), and a proposal that overlaps
another tracked target's box (IoU >= ``takeover_iou``) is not taken over unless its score beats that
target's own last score by ``takeover_margin``. The other targets are seen as they were before this
frame (their boxes and scores of the previous frame), so the order of the targets does not matter.
With it off, every target's boxes are those of a separate single tracker (test_core_multi.py).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from .geometry import xywh_to_cxcywh
from .tracker import OtherTargets, SiamRPNTracker, TrackResult, validate_image

AWARE_MODES = ("dasiamrpn", "longterm")   # the modes with Eq. 3 (siamrpn has no distractor term)
INIT_SCORE = 1.0                          # a new target's "last score" for the non-takeover rule


class MultiTracker:
    """Several targets at once: ``add(image, box) -> id``, ``remove(id)``, ``track(image) -> {id: result}``.

    ``tracker``: a loaded single tracker (``load_tracker``) of any mode and backend; its network is
    shared, its own target (if any) is left alone. Ids are 1, 2, ... in the order of ``add`` and
    never reused. Images are H x W x 3 uint8 BGR, boxes 0-based (x, y, w, h) as for the single tracker.
    """

    def __init__(self, tracker: SiamRPNTracker, mutual_awareness: bool = True):
        self._prototype = tracker.fresh()
        self.mutual_awareness = bool(mutual_awareness) and tracker.mode in AWARE_MODES
        self._targets: dict[int, SiamRPNTracker] = {}
        self._last: dict[int, TrackResult] = {}
        self._next_id = 1

    @property
    def mode(self) -> str:
        return self._prototype.mode

    @property
    def net(self):
        return self._prototype.net

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def target(self, target_id: int) -> SiamRPNTracker:
        """The single tracker holding one target's state (read it, do not track with it)."""
        self._check_id(target_id)
        return self._targets[target_id]

    def add(self, image: np.ndarray, box) -> int:
        """Start a target at ``box`` in ``image``; its id. A bad box raises ``ValueError`` naming the
        problem and changes nothing (the other targets are untouched)."""
        tracker = self._prototype.fresh()
        tracker.init(image, box)
        return self.adopt(tracker, TrackResult(tuple(float(v) for v in box), INIT_SCORE, "tracking"))

    def adopt(self, tracker: SiamRPNTracker, last: TrackResult, target_id: int | None = None) -> int:
        """Take a single tracker already following a target (a ``fresh()`` copy of this model, e.g. one
        that caught up on older frames alone) with its latest result; its id (``target_id``: one the
        caller numbers itself, never one in use)."""
        if tracker.net is not self.net:
            raise ValueError("the tracker runs another network than this multi-tracker's (use fresh() copies)")
        if target_id is None:
            target_id = self._next_id
        elif target_id in self._targets:
            raise ValueError(f"target id {target_id} is in use")
        self._next_id = max(self._next_id, int(target_id) + 1)
        self._targets[target_id] = tracker
        self._last[target_id] = last
        return target_id

    def remove(self, target_id: int) -> None:
        """End one target; an unknown id raises ``KeyError`` naming the known ones."""
        self._check_id(target_id)
        del self._targets[target_id], self._last[target_id]

    def _check_id(self, target_id: int) -> None:
        if target_id not in self._targets:
            raise KeyError(f"no target with id {target_id!r} (targets: {sorted(self._targets) or 'none'})")

    @torch.no_grad()
    def track(self, image: np.ndarray, only=None) -> dict[int, TrackResult]:
        """Every target's result on the next frame, by id (one batched network call per crop size);
        ``only``: these ids (the others skip this frame, e.g. a node's target that has seen it already)."""
        image = validate_image(image)
        chosen = self._targets if only is None else {i: self._targets[i] for i in only if i in self._targets}
        for target_id, tracker in chosen.items():
            if image.shape[:2] != tracker.image_shape:
                raise ValueError(f"target {target_id}: frame size changed from {tracker.image_shape[1]}x"
                                 f"{tracker.image_shape[0]} to {image.shape[1]}x{image.shape[0]}; add it again")
        if not chosen:
            return {}
        with self.net.host_ops():
            outputs, plans = self._search_all(image, chosen)
            others = self._others() if self.mutual_awareness and len(self._targets) > 1 else {}
            results = {}
            for target_id, tracker in chosen.items():
                if target_id in others:
                    tracker.others = others[target_id]
                try:
                    results[target_id] = tracker._finish(outputs[target_id], plans[target_id])
                finally:
                    if target_id in others:
                        tracker.others = None
        self._last.update(results)
        return results

    def _search_all(self, image: np.ndarray, chosen: dict[int, SiamRPNTracker]) -> tuple[dict, dict]:
        """Every chosen target's plan and decoded search output; the crops of one size in one network call."""
        plans, crops, groups = {}, {}, defaultdict(list)
        for target_id, tracker in chosen.items():
            plans[target_id] = plan = tracker._plan()
            crops[target_id] = tracker._crop(image, plan.center, plan.instance_size)
            groups[plan.instance_size].append(target_id)
        outputs = {}
        for ids in groups.values():
            trackers = [self._targets[i] for i in ids]
            x = torch.cat([t._to_tensor(crops[i][0]) for i, t in zip(ids, trackers)])
            if len(ids) == 1:   # one crop: the single tracker's own call (bit-identical to it)
                x_f, delta, logits = self.net.search(x, trackers[0].head_kernels)
            else:
                x_f, delta, logits = self.net.search_batch(x, self.net.stack_kernels([t.head_kernels for t in trackers]))
            for b, (target_id, tracker) in enumerate(zip(ids, trackers)):
                plan = plans[target_id]
                outputs[target_id] = tracker._decode(x_f[b:b + 1], delta[b:b + 1], logits[b:b + 1], plan.center,
                                                     plan.instance_size, plan.window_influence, crops[target_id][1])
        return outputs, plans

    def _others(self) -> dict[int, OtherTargets]:
        """For each target, the other targets as they were before this frame: every template, and the
        boxes and scores of those being tracked (a searching or lost target's box is stale)."""
        ids = list(self._targets)
        units = torch.stack([self._targets[i].template_unit for i in ids])
        boxes = np.array([xywh_to_cxcywh(self._last[i].box) for i in ids], dtype=np.float64).reshape(-1, 4)
        scores = np.array([self._last[i].score for i in ids], dtype=np.float64)
        tracked = np.array([self._last[i].state == "tracking" for i in ids])
        others = {}
        for k, target_id in enumerate(ids):
            rest = np.arange(len(ids)) != k
            blocking = rest & tracked
            others[target_id] = OtherTargets(units[torch.as_tensor(rest)], boxes[blocking], scores[blocking])
        return others

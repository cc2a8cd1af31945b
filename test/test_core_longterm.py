"""Long-term mode: the target vanishes and reappears far outside the local search region
(a sequence built from real photographs: scikit-image's astronaut face on its coffee-table photo)."""
from __future__ import annotations

import numpy as np
import pytest

from dasiamrpn_core import DEFAULT_CHECKPOINT, load_tracker
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.geometry import iou_xywh

REACQUIRED_IOU = 0.5


@pytest.fixture(scope="module")
def sequence():
    return make_sequence("reappear")


def run(mode: str, seq):
    if not DEFAULT_CHECKPOINT.exists():
        pytest.skip("needs the bundled model (a trained tracker) in dasiamrpn_core/weights")
    tracker = load_tracker(None, device="cpu", mode=mode)
    tracker.init(seq.frames[0], tuple(seq.boxes[0]))
    results = [tracker.track(f) for f in seq.frames[1:]]
    boxes = np.array([r.box for r in results])
    ious = np.where(seq.present[1:], iou_xywh(boxes, np.nan_to_num(seq.boxes[1:])), np.nan)
    return results, ious


def test_reappearing_target_is_far_outside_the_local_search(sequence):
    if not DEFAULT_CHECKPOINT.exists():
        pytest.skip("needs the bundled model (a trained tracker) in dasiamrpn_core/weights")
    gone, back = np.flatnonzero(~sequence.present)[[0, -1]]
    distance = np.hypot(*(sequence.boxes[back + 1][:2] - sequence.boxes[gone - 1][:2]))
    tracker = load_tracker(None, device="cpu")
    tracker.init(sequence.frames[0], tuple(sequence.boxes[0]))
    _, scale_z = tracker._search_scale()
    local_radius = tracker.instance_size / scale_z / 2   # half the local search crop, image pixels
    assert distance > 1.5 * local_radius


def test_longterm_reacquires_and_siamrpn_does_not(sequence):
    back = np.flatnonzero(~sequence.present)[-1] + 1   # first frame after the absence
    lt_results, lt_iou = run("longterm", sequence)
    _, plain_iou = run("siamrpn", sequence)
    tail = slice(back + 10 - 1, None)                   # (results start at frame 1)
    assert np.nanmean(lt_iou[tail] > REACQUIRED_IOU) >= 0.8, lt_iou[tail]
    assert np.nanmean(plain_iou[tail] > REACQUIRED_IOU) <= 0.2, plain_iou[tail]
    states = [r.state for r in lt_results]
    absent = slice(np.flatnonzero(~sequence.present)[0] + 2 - 1, back - 1)
    assert {"searching", "lost"} & set(states[absent]), states
    assert states[-1] == "tracking"


def test_search_starts_after_failure_patience_low_frames(sequence):
    """A failure needs more than ``failure_patience`` low-score frames in a row: the frames before
    keep tracking locally (a momentary dip does not start the window-free search)."""
    results, _ = run("longterm", sequence)
    lt = load_tracker(None, device="cpu", mode="longterm").config.longterm
    assert lt.failure_patience > 0
    states = [r.state for r in results]
    first_search = states.index("searching")
    low = [r.score < lt.failure_threshold for r in results]
    assert all(low[first_search - lt.failure_patience:first_search + 1])
    assert states[first_search - lt.failure_patience:first_search] == ["tracking"] * lt.failure_patience
    assert not low[first_search - lt.failure_patience - 1]   # the dip began just then

"""The node's target sessions without DDS (``dasiamrpn_ros.sessions``): ids, the limit, removal,
catch-up of a target added on an older frame while another is tracked live, and equality with the
single tracker. The DDS side is test_ros_multi_target.py."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dasiamrpn_core import load_tracker
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_ros.frame_buffer import FrameBuffer, Stamp
from dasiamrpn_ros.sessions import TargetLimit, TargetSessions


@pytest.fixture(scope="module")
def seq():
    return make_sequence("demo")


@pytest.fixture(scope="module")
def model():
    return load_tracker(mode="dasiamrpn", backend="torch", threads=2)


def push(buffer: FrameBuffer, image: np.ndarray, i: int):
    payload = SimpleNamespace(header=SimpleNamespace(frame_id="cam"), image=image)
    return buffer.push(Stamp(i, 0), i, payload)


def decode(frame):
    return frame.payload.image


def started(model, image, box):
    tracker = model.fresh()
    tracker.init(image, box)
    return tracker


def second_box(seq):
    """Another object of the demo frame: a patch of the background away from the face."""
    x, y, w, h = seq.boxes[0]
    return (float(x + 2.5 * w), float(y), float(w), float(h))


def test_one_target_replaces_more_add_until_the_limit(seq, model):
    buffer = FrameBuffer(10)
    frame = push(buffer, seq.frames[0], 0)
    shape = seq.frames[0].shape[:2]
    single = TargetSessions(max_targets=1)
    first, _ = single.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame, shape, buffer)
    second, replaced = single.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame, shape, buffer)
    assert (first.target_id, second.target_id) == (1, 2) and replaced == [first] and list(single.targets) == [2]

    multi = TargetSessions(max_targets=2)
    a, _ = multi.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame, shape, buffer)
    b, replaced = multi.add(started(model, seq.frames[0], second_box(seq)), second_box(seq), frame, shape, buffer)
    assert replaced == [] and sorted(multi.targets) == [1, 2] and a.live and b.live
    with pytest.raises(TargetLimit, match=r"already tracks 2 targets \(1, 2\), max_targets is 2"):
        multi.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame, shape, buffer)
    assert sorted(multi.targets) == [1, 2] and multi.next_id == 3    # nothing changed
    with pytest.raises(KeyError, match=r"no target with id 7 \(tracking target 1 \(tracking\), target 2"):
        multi.remove(7)
    assert multi.remove(1) is a and sorted(multi.targets) == [2]
    third, _ = multi.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame, shape, buffer)
    assert third.target_id == 3   # ids are never reused
    assert multi.overlapping(seq.boxes[0]) is third and multi.overlapping((0, 0, 5, 5)) is None
    assert [t.target_id for t in multi.clear()] == [2, 3] and len(multi) == 0


def test_a_target_added_on_an_old_frame_catches_up_while_the_other_stays_live(seq, model):
    """Target 1 is tracked live; target 2 is added on a frame 8 frames old: it walks the buffered frames
    alone (each step interleaved with a live frame of target 1, and the stream going on), joins the
    live targets on the newest frame, and its boxes equal a single tracker's on the frames it saw."""
    buffer = FrameBuffer(60)
    shape = seq.frames[0].shape[:2]
    sessions = TargetSessions(max_targets=2, mutual_awareness=False)
    frame0 = push(buffer, seq.frames[0], 0)
    sessions.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame0, shape, buffer)
    for i in range(1, 10):
        push(buffer, seq.frames[i], i)
    box2 = tuple(float(v) for v in seq.boxes[1])
    target2, _ = sessions.add(started(model, seq.frames[1], box2), box2, buffer.find(Stamp(1, 0)), shape, buffer)
    assert not target2.live and sessions.catching_up
    reference = started(model, seq.frames[1], box2)
    seen2, seen1, pushed = [], [], 10
    while sessions.catching_up:
        for step in sessions.catch_up_steps(buffer, decode):
            assert list(step.results) == [2]
            i = step.frame.sequence
            expected = reference.track(seq.frames[i])
            assert np.allclose(step.results[2].box, expected.box, atol=1e-3), (i, step.results[2].box, expected.box)
            seen2.append(i)
        live = buffer.wait_next(0.0)
        if live is not None:
            ids = sessions.live_ids(live, shape)
            if ids:
                seen1.append(live.sequence)
                assert list(sessions.track_live(live, decode(live), ids).results) == ids
        push(buffer, seq.frames[pushed], pushed)   # the stream goes on during each step
        pushed += 1
    assert seen2 == sorted(seen2) and seen2[0] == 2 and seen2[-1] == target2.last_sequence
    assert np.diff(seen2).max() <= 2, seen2   # one frame came per step: at most one skipped
    assert target2.live and len(seen1) >= len(seen2) - 1   # target 1 was tracked all along
    live = buffer.wait_next(0.0)
    assert sorted(sessions.live_ids(live, shape)) == [1, 2]   # both in the next batched call


def test_a_frame_of_another_size_is_skipped_by_its_target_only(seq, model):
    buffer = FrameBuffer(10)
    shape = seq.frames[0].shape[:2]
    sessions = TargetSessions(max_targets=2)
    frame0 = push(buffer, seq.frames[0], 0)
    sessions.add(started(model, seq.frames[0], seq.boxes[0]), seq.boxes[0], frame0, shape, buffer)
    small = push(buffer, seq.frames[1][:100, :100].copy(), 1)
    assert sessions.live_ids(small, (100, 100)) == [] and sessions.live_ids(small, None) == [1]

"""The frame buffer hands the tracker only the newest frame (older ones are dropped and counted),
finds frames by stamp for init_box, and wakes the tracking thread on close."""
from __future__ import annotations

import threading

import pytest

from dasiamrpn_ros.frame_buffer import CATCH_UP_GAIN, FrameBuffer, Stamp


def fill(buffer: FrameBuffer, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        buffer.push(Stamp(i, 0), i, f"frame{i}")


def test_newest_frame_only_and_drops_counted():
    buffer: FrameBuffer[str] = FrameBuffer(5)
    fill(buffer, 4)
    frame = buffer.wait_next(0.0)
    assert frame.payload == "frame3" and buffer.dropped == 3
    assert buffer.wait_next(0.01) is None  # nothing newer yet
    fill(buffer, 1, start=4)
    assert buffer.wait_next(0.0).payload == "frame4" and buffer.dropped == 3


def test_ring_keeps_the_last_n_and_finds_by_stamp():
    buffer: FrameBuffer[str] = FrameBuffer(3)
    fill(buffer, 10)
    assert buffer.find(Stamp(9, 0)).payload == "frame9"
    assert buffer.find(Stamp(7, 0)).payload == "frame7"
    assert buffer.find(Stamp(6, 0)) is None
    assert "3 frames stamped 7.000000000 .. 9.000000000" in buffer.describe()
    buffer.resize(1)
    assert buffer.find(Stamp(8, 0)) is None and buffer.newest().payload == "frame9"


def test_restart_after_hands_out_frames_after_the_init_frame():
    buffer: FrameBuffer[str] = FrameBuffer(10)
    fill(buffer, 6)
    assert buffer.wait_next(0.0).payload == "frame5"
    buffer.restart_after(buffer.find(Stamp(2, 0)).sequence)  # initialised on an older frame
    assert buffer.wait_next(0.0).payload == "frame5"
    buffer.restart_after(5)  # initialised on the newest frame: wait for the next one
    assert buffer.wait_next(0.01) is None


def test_close_wakes_a_waiting_consumer():
    buffer: FrameBuffer[str] = FrameBuffer(2)
    result = []
    waiter = threading.Thread(target=lambda: result.append(buffer.wait_next(30.0)))
    waiter.start()
    buffer.close()
    waiter.join(5.0)
    assert not waiter.is_alive() and result == [None]


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        FrameBuffer(0)


def test_stamp():
    assert Stamp(0, 0).is_zero and not Stamp(0, 1).is_zero
    assert str(Stamp(12, 5)) == "12.000000005"


def test_catch_up_hands_out_the_buffered_frames_in_order_until_the_live_one():
    buffer: FrameBuffer[str] = FrameBuffer(30)
    fill(buffer, 10)
    cursor = buffer.catch_up(buffer.find(Stamp(4, 0)).sequence)   # init on a frame 5 frames old
    assert not cursor.done
    assert [buffer.next_catch_up(cursor).payload for _ in range(3)] == ["frame5", "frame6", "frame7"]
    fill(buffer, 1, start=10)      # a frame came during the last step: this step goes one further
    assert buffer.next_catch_up(cursor).payload == "frame9"
    assert not cursor.done         # frame9 was the newest at init, but the stream went on (issue 30)
    assert buffer.next_catch_up(cursor).payload == "frame10"
    assert cursor.done and buffer.next_catch_up(cursor) is None   # the live frame: newest-frame mode again
    buffer.restart_after(cursor.last)
    fill(buffer, 3, start=11)
    assert buffer.wait_next(0.0).payload == "frame13" and buffer.dropped == 2
    assert buffer.wait_next(0.01) is None


def test_catch_up_on_the_newest_frame_is_done_at_once():
    buffer: FrameBuffer[str] = FrameBuffer(30)
    fill(buffer, 3)
    cursor = buffer.catch_up(2)
    assert cursor.done and buffer.next_catch_up(cursor) is None


@pytest.mark.parametrize("arrivals", [(0,), (1,), (0, 1), (1, 2), (3,), (5, 4)])
def test_catch_up_reaches_the_live_stream_at_any_tracker_speed_with_bounded_steps(arrivals):
    """29 frames behind, ``arrivals`` frames coming in turn during each tracking step (0: a tracker much
    faster than the stream; 3: three times slower): every step spans at most the frames that came
    during the previous one plus CATCH_UP_GAIN, and catch-up ends on the live frame within
    29 / CATCH_UP_GAIN steps. Before issue 30's fix it ended at the newest frame *at init* and then
    jumped over everything that came meanwhile."""
    buffer: FrameBuffer[str] = FrameBuffer(200)
    fill(buffer, 30)
    cursor = buffer.catch_up(0)
    taken, pushed, came = [0], 30, 0
    while not cursor.done:
        frame = int(buffer.next_catch_up(cursor).payload[5:])
        assert frame - taken[-1] <= came + CATCH_UP_GAIN, (taken, frame)
        taken.append(frame)
        came = arrivals[len(taken) % len(arrivals)]
        fill(buffer, came, start=pushed)   # the stream goes on while this frame is tracked
        pushed += came
        assert len(taken) <= 29 // CATCH_UP_GAIN + 1, taken
    assert taken[-1] == pushed - 1 - came, taken   # it ended on the newest frame of its time


def test_catch_up_skips_frames_evicted_meanwhile():
    buffer: FrameBuffer[str] = FrameBuffer(4)
    fill(buffer, 4)
    cursor = buffer.catch_up(0)
    fill(buffer, 2, start=4)       # evicts frame0 and frame1
    # two frames came since the init: this step goes 3 on (frame3); then in order to the newest
    assert [buffer.next_catch_up(cursor).payload for _ in range(3)] == ["frame3", "frame4", "frame5"]
    assert cursor.done


def test_two_cursors_and_the_live_hand_out_do_not_disturb_each_other():
    buffer: FrameBuffer[str] = FrameBuffer(30)
    fill(buffer, 10)
    assert buffer.wait_next(0.0).payload == "frame9"          # a live target
    first, second = buffer.catch_up(5), buffer.catch_up(7)    # two targets added on older frames
    assert buffer.next_catch_up(first).payload == "frame6"
    assert buffer.next_catch_up(second).payload == "frame8"
    fill(buffer, 1, start=10)
    assert buffer.wait_next(0.0).payload == "frame10"         # the live target got the new frame
    assert buffer.next_catch_up(second).payload == "frame10" and second.done
    assert buffer.next_catch_up(first).payload == "frame8"


def test_in_order_mode_takes_every_frame():
    buffer: FrameBuffer[str] = FrameBuffer(30)
    buffer.in_order = True
    fill(buffer, 5)
    buffer.restart_after(0)
    fill(buffer, 5, start=5)
    assert [buffer.wait_next(0.0).payload for _ in range(9)] == [f"frame{i}" for i in range(1, 10)]
    assert buffer.dropped == 0


def test_byte_limit_evicts_oldest_and_counts_it():
    buffer: FrameBuffer[str] = FrameBuffer(600, max_bytes=1000)
    for i in range(10):
        buffer.push(Stamp(i, 0), i, f"frame{i}", nbytes=300)
    assert len(buffer) == 3 and buffer.bytes == 900 and buffer.evicted_for_memory == 7
    assert buffer.find(Stamp(6, 0)) is None and buffer.find(Stamp(7, 0)).payload == "frame7"
    buffer.push(Stamp(10, 0), 10, "huge", nbytes=5000)   # the newest frame is kept even above the limit
    assert len(buffer) == 1 and buffer.newest().payload == "huge"
    buffer.resize(2, max_bytes=0)                         # 0: no byte limit; evicting by count is not memory
    fill(buffer, 3, start=11)
    assert len(buffer) == 2 and buffer.evicted_for_memory == 10
    with pytest.raises(ValueError, match="byte limit must be >= 0"):
        FrameBuffer(3, max_bytes=-1)


def test_every_frame_in_order_and_overflow_counted():
    buffer: FrameBuffer[str] = FrameBuffer(3)
    buffer.in_order = True
    fill(buffer, 2)
    assert [buffer.wait_next(0.0).payload for _ in range(2)] == ["frame0", "frame1"]
    fill(buffer, 5, start=2)        # frames 2..6 while the tracker is busy: only 4..6 fit
    assert [buffer.wait_next(0.0).payload for _ in range(3)] == ["frame4", "frame5", "frame6"]
    assert buffer.dropped == 2 and buffer.wait_next(0.01) is None

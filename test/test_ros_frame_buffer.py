"""The frame buffer hands the tracker only the newest frame (older ones are dropped and counted),
finds frames by stamp for init_box, and wakes the tracking thread on close."""
from __future__ import annotations

import threading

import pytest

from dasiamrpn_ros.frame_buffer import FrameBuffer, Stamp


def fill(buffer: FrameBuffer, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        buffer.push(Stamp(i, 0), i, f"frame{i}")


def test_newest_frame_only_and_drops_counted():
    buffer: FrameBuffer[str] = FrameBuffer(5)
    fill(buffer, 4)
    frame = buffer.wait_newest_unprocessed(0.0)
    assert frame.payload == "frame3" and buffer.dropped == 3
    assert buffer.wait_newest_unprocessed(0.01) is None  # nothing newer yet
    fill(buffer, 1, start=4)
    assert buffer.wait_newest_unprocessed(0.0).payload == "frame4" and buffer.dropped == 3


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
    assert buffer.wait_newest_unprocessed(0.0).payload == "frame5"
    buffer.restart_after(buffer.find(Stamp(2, 0)).sequence)  # initialised on an older frame
    assert buffer.wait_newest_unprocessed(0.0).payload == "frame5"
    buffer.restart_after(5)  # initialised on the newest frame: wait for the next one
    assert buffer.wait_newest_unprocessed(0.01) is None


def test_close_wakes_a_waiting_consumer():
    buffer: FrameBuffer[str] = FrameBuffer(2)
    result = []
    waiter = threading.Thread(target=lambda: result.append(buffer.wait_newest_unprocessed(30.0)))
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

"""Bad input never kills the tracker node: each case gets the promised response (a failure response
naming the problem, or a rate-limited log line and no output for that frame) and the node keeps
publishing boxes for good frames afterwards. One node (real DDS, console script) serves the module.
"""
from __future__ import annotations

import array
import threading
from pathlib import Path

import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from builtin_interfaces.msg import Time  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from sensor_msgs.srv import SetCameraInfo  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from dasiamrpn_ros.image_conversion import bgr_to_image  # noqa: E402
from dasiamrpn_ros.parameters import defaults  # noqa: E402
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe, make_random_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CAMERA_TOPIC = "/camera/image_raw"
SIZE = (96, 128)          # (H, W) of the test frames
BOX = (40, 30, 32, 28)    # x, y, w, h inside SIZE
WAIT_S = 60.0
QUIET_S = 1.0             # how long "no box after stop" is watched
LOG_WAIT_S = 10.0
DIAGNOSTICS_PERIOD_S = 0.2


class Harness:
    def __init__(self, node: NodeProcess, probe: Probe, checkpoint: Path, first_init):
        self.node, self.probe, self.checkpoint, self.first_init = node, probe, checkpoint, first_init
        self._rng = np.random.default_rng(0)
        self._base = self._rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)

    def frame(self, size: tuple[int, int] = SIZE, encoding: str = "bgr8") -> Image:
        image = self._base if size == SIZE else self._rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        return bgr_to_image(image, encoding, header=Header(stamp=self.probe.now(), frame_id="cam"))

    def stamped(self, msg: Image) -> Image:
        msg.header = Header(stamp=self.probe.now(), frame_id="cam")
        return msg

    def publish_tracked(self, msg: Image) -> None:
        """Publish a frame and wait for its box (re-publishing a lost best-effort frame)."""
        for _ in range(3):
            self.probe.publish(msg)
            if self.probe.wait_box(msg.header.stamp, WAIT_S / 3) is not None:
                return
        raise AssertionError(f"no box for the good frame stamped {msg.header.stamp}:\n{self.node.output()[-3000:]}")

    def start_tracking(self, size: tuple[int, int] = SIZE, box=BOX) -> None:
        msg = self.frame(size)
        for _ in range(3):
            self.probe.publish(msg)
            for _ in range(30):
                response = self.probe.init_box(box, stamp=msg.header.stamp)
                if response.success:
                    self.publish_tracked(self.frame(size))
                    return
                threading.Event().wait(0.1)
        raise AssertionError(f"init failed: {response.status_message}")

    def rejected(self) -> int:
        """frames_rejected of the newest /diagnostics message (0 before the first one)."""
        records = self.probe.snapshot("diagnostics")
        if not records:
            return 0
        return int({kv.key: kv.value for kv in records[-1].msg.status[0].values}["frames_rejected"])

    def publish_rejected(self, bad: Image) -> None:
        """Publish a bad frame until the node counts it as rejected (a keep-last-1 subscription
        would let a good frame published right behind it overwrite it), then check that it produced
        no box while a good frame published after it is tracked."""
        self.diagnostics()
        before = self.rejected()
        for _ in range(3):
            self.probe.publish(bad)
            if self.probe.wait_until(lambda: self.rejected() > before, WAIT_S / 3):
                break
        else:
            raise AssertionError(f"the bad frame was never counted as rejected:\n{self.node.output()[-3000:]}")
        self.publish_tracked(self.frame())
        # boxes are published in frame order on a reliable topic: one for the bad frame would be here by now
        assert self.probe.boxes_with_stamp(bad.header.stamp) == []

    def assert_logged(self, text: str) -> None:
        assert self.node.wait_for_output(text, LOG_WAIT_S), f"{text!r} not in the node's log:\n{self.node.output()}"

    def diagnostics_status(self):
        """The tracker's status from a /diagnostics message published after this call."""
        start = self.probe.count("diagnostics")
        assert self.probe.wait_until(lambda: self.probe.count("diagnostics") > start + 1, WAIT_S)
        return self.probe.snapshot("diagnostics")[-1].msg.status[0]

    def diagnostics(self) -> dict[str, str]:
        return {kv.key: kv.value for kv in self.diagnostics_status().values}

    def diagnostics_message(self) -> str:
        return self.diagnostics_status().message


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ros_bad_input")
    checkpoint = make_random_checkpoint(directory / "random_vot.pth")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, directory / "node.log",
                                   {"checkpoint": str(checkpoint), "device": "cpu", "mode": "siamrpn",
                                    "diagnostics_period": DIAGNOSTICS_PERIOD_S},
                                   params_file=REPO / "config" / "tracker.yaml", remap={"image": CAMERA_TOPIC})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC)
        try:
            probe.wait_ready(node)
            first_init = probe.init_box(BOX)   # before any image
            yield Harness(node, probe, checkpoint, first_init)
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()


def test_init_before_any_image_fails_with_the_reason(harness):
    assert not harness.first_init.success
    assert "no image received yet" in harness.first_init.status_message


@pytest.mark.parametrize("encoding", ["8UC3", "32FC1", "bayer_rggb32"])
def test_unsupported_encoding(harness, encoding):
    harness.start_tracking()
    bad = harness.frame()
    bad.encoding = encoding
    harness.publish_rejected(bad)
    if encoding == "8UC3":  # the same kind of problem logs once per period: check the first
        harness.assert_logged(f"unsupported encoding '{encoding}'")


def test_data_length_not_matching_step_times_height(harness):
    harness.start_tracking()
    bad = harness.frame()
    bad.data = array.array("B", bytes(len(bad.data) - 7))
    harness.publish_rejected(bad)
    harness.assert_logged(f"but the data holds {SIZE[0] * SIZE[1] * 3 - 7} bytes")


def test_zero_sized_image(harness):
    harness.start_tracking()
    bad = harness.stamped(Image(height=0, width=0, encoding="bgr8", step=0))
    harness.publish_rejected(bad)
    harness.assert_logged("zero-sized image (0x0)")


def test_mono16_and_padded_rows_are_tracked(harness):
    harness.start_tracking()
    harness.publish_tracked(harness.frame(encoding="mono16"))
    padded = harness.frame()
    rows = np.frombuffer(padded.data, np.uint8).reshape(padded.height, padded.step)
    padded.data = array.array("B", np.pad(rows, ((0, 0), (0, 16))).tobytes())
    padded.step += 16
    harness.publish_tracked(padded)


def test_size_change_mid_stream(harness):
    harness.start_tracking()
    big = harness.frame(size=(120, 160))
    harness.publish_rejected(big)
    harness.assert_logged("image size changed from 128x96 to 160x120")
    harness.start_tracking(size=(120, 160))   # re-initialising at the new size tracks it
    harness.publish_tracked(harness.frame(size=(120, 160)))


@pytest.mark.parametrize("box, image_size, words", [
    ((10, 10, 0, 20), (0, 0), "empty box"),
    ((10, 10, 20, 0), (0, 0), "empty box"),
    ((120, 10, 20, 20), (0, 0), "is not inside the 128x96 image"),
    ((2**32 - 5, 10, 20, 20), (0, 0), "is not inside"),      # a negative x sent through the uint32 field
    ((10, 10, 2**32 - 1, 20), (0, 0), "is not inside"),
    ((10, 10, 20, 20), (640, 480), "drawn on a 640x480 image, but the frame"),
])
def test_bad_boxes_fail_and_tracking_goes_on(harness, box, image_size, words):
    harness.start_tracking()
    response = harness.probe.init_box(box, image_size=image_size)
    assert not response.success and words in response.status_message, response.status_message
    harness.publish_tracked(harness.frame())  # the previous target is still tracked


def test_init_on_a_stamp_not_in_the_buffer(harness):
    harness.start_tracking()
    response = harness.probe.init_box(BOX, stamp=Time(sec=12, nanosec=345))
    assert not response.success
    assert "no buffered frame with stamp 12.000000345" in response.status_message
    assert "frame_buffer_size=30" in response.status_message
    harness.publish_tracked(harness.frame())


def test_concurrent_init_calls_are_all_answered(harness):
    harness.start_tracking()
    requests = []
    for i in range(4):
        req = SetCameraInfo.Request()
        req.camera_info.roi.x_offset, req.camera_info.roi.y_offset = 10 + i, 20
        req.camera_info.roi.width, req.camera_info.roi.height = 30, 30
        requests.append(req)
    futures = [harness.probe.init_client.call_async(r) for r in requests]
    assert harness.probe.wait_until(lambda: all(f.done() for f in futures), WAIT_S)
    assert all(f.result().success for f in futures), [f.result().status_message for f in futures]
    harness.publish_tracked(harness.frame())


def test_runtime_parameter_changes(harness):
    harness.start_tracking()
    bad = harness.probe.set_parameters({"recovery_threshold": 0.1})[0]
    assert not bad.successful and "recovery_threshold (0.1) must be >= failure_threshold" in bad.reason
    out_of_range = harness.probe.set_parameters({"failure_threshold": 2.0})[0]
    assert not out_of_range.successful
    fixed = harness.probe.set_parameters({"use_compressed": True})[0]
    assert not fixed.successful and "fixed at start-up" in fixed.reason
    live = harness.probe.set_parameters({"failure_threshold": 0.2, "frame_buffer_size": 10})
    assert all(r.successful for r in live)
    missing = harness.probe.set_parameters({"checkpoint": "/nonexistent/model.pth"})[0]
    assert missing.successful  # rclpy returns no reason on success: the node logs it and shows it in diagnostics
    harness.assert_logged("checkpoint changed: the model is reloaded at the next ~/init_box call")
    assert "pending: checkpoint changed" in harness.diagnostics_message()
    harness.publish_tracked(harness.frame())   # the loaded model keeps tracking until then
    response = harness.probe.init_box(BOX)
    assert not response.success and "model failed to load" in response.status_message
    assert "/nonexistent/model.pth" in response.status_message
    harness.publish_tracked(harness.frame())   # the previous model stays loaded
    restore = {"checkpoint": str(harness.checkpoint), "failure_threshold": defaults()["failure_threshold"],
               "frame_buffer_size": defaults()["frame_buffer_size"]}
    assert all(r.successful for r in harness.probe.set_parameters(restore))
    harness.start_tracking()


def test_stop(harness):
    harness.start_tracking()
    response = harness.probe.stop_tracking()
    assert response.success and response.message == "tracking stopped"
    idle = harness.frame()
    harness.probe.publish(idle)
    threading.Event().wait(QUIET_S)
    assert harness.probe.boxes_with_stamp(idle.header.stamp) == []
    assert harness.diagnostics()["state"] == "idle"
    assert harness.probe.stop_tracking().message == "was not tracking"


def test_debug_image_and_diagnostics(harness):
    harness.start_tracking()
    harness.probe.subscribe_debug_image()
    for _ in range(20):  # until the node has matched the new subscriber
        harness.publish_tracked(harness.frame())
        if harness.probe.count("debug_image"):
            break
    assert harness.probe.count("debug_image"), "no debug image while subscribed"
    debug = harness.probe.snapshot("debug_image")[-1].msg
    assert (debug.height, debug.width, debug.encoding) == (*SIZE, "bgr8") and debug.header.frame_id == "cam"
    diag = harness.diagnostics()
    assert diag["state"] == "tracking" and diag["mode"] == "siamrpn" and diag["device"] == "cpu"
    assert "random_vot.pth" in diag["model"] and "float32" in diag["model"]   # arch (file, backend, precision)
    assert int(diag["frames_tracked"]) > 0
    assert float(diag["latency_ms"]) > 0

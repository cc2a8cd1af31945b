"""The node plugs into a robot (issue 15), against a real node process over Fast DDS:

* a detector starts tracking: ~/init_detections picks the class and the best score above the
  threshold, on the buffered frame with the detections' stamp; below it nothing starts;
* with reinit_on_lost, a longterm target that is lost is re-initialised by the next detection
  (a new target id), without it the detection is ignored;
* ~/marker (visualization_msgs/ImageMarker) overlays the box; ~/debug_image/compressed is a JPEG;
* camera encodings (YUYV, UYVY, NV21, Bayer) are tracked like bgr8;
* half on the CPU is ignored with a notice; device accepts cuda:N (and rejects the rest).
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from dasiamrpn_ros.image_conversion import bgr_to_image  # noqa: E402
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe, make_random_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NODE = "dasiamrpn_tracker"
CAMERA_TOPIC = "/camera/image_raw"
SIZE = (96, 128)
WAIT_S = 60.0
# thresholds under which the random test weights go searching -> lost on blank frames (as test_ros_node)
LOST_FAST = {"failure_threshold": 0.6, "failure_patience": 1, "recovery_threshold": 0.95, "lost_after_frames": 2}


def detections_msg(stamp, *items) -> Detection2DArray:
    """items: (class_id, score, (x, y, w, h))."""
    msg = Detection2DArray(header=Header(stamp=stamp, frame_id="cam"))
    for class_id, score, (x, y, w, h) in items:
        det = Detection2D(header=msg.header)
        det.bbox.center.position.x, det.bbox.center.position.y = x + w / 2, y + h / 2
        det.bbox.size_x, det.bbox.size_y = float(w), float(h)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, float(score)
        det.results = [hyp]
        msg.detections.append(det)
    return msg


class Harness:
    def __init__(self, node: NodeProcess, probe: Probe):
        self.node, self.probe = node, probe
        self.base = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
        self.init_pub = probe.node.create_publisher(Detection2DArray, f"/{NODE}/init_detections", 10)
        self.records: dict[str, list] = {"marker": [], "jpeg": []}
        self._lock = threading.Lock()
        from sensor_msgs.msg import CompressedImage
        from visualization_msgs.msg import ImageMarker
        probe.node.create_subscription(ImageMarker, f"/{NODE}/marker", self._record("marker"), 100)
        probe.node.create_subscription(CompressedImage, f"/{NODE}/debug_image/compressed", self._record("jpeg"), 10)

    def _record(self, key):
        def record(msg):
            with self._lock:
                self.records[key].append(msg)
        return record

    def frame(self, image=None, encoding="bgr8"):
        return bgr_to_image(self.base if image is None else image, encoding,
                            header=Header(stamp=self.probe.now(), frame_id="cam"))

    def buffered_frame(self):
        """A frame the node has received (its stamp is then in the buffer)."""
        before = self.received()
        msg = self.frame()
        for _ in range(10):
            self.probe.publish(msg)
            if self.probe.wait_until(lambda: self.received() > before, 5.0):
                return msg
        raise AssertionError(self.node.output()[-2000:])

    def rejected(self) -> int:
        records = self.probe.snapshot("diagnostics")
        return int({kv.key: kv.value for kv in records[-1].msg.status[0].values}["frames_rejected"]) \
            if records else 0

    def received(self) -> int:
        records = self.probe.snapshot("diagnostics")
        return int({kv.key: kv.value for kv in records[-1].msg.status[0].values}["frames_received"]) \
            if records else 0

    def tracked(self, image=None, encoding="bgr8"):
        """Publish frames until one is tracked; its ~/detections message."""
        for _ in range(20):
            msg = self.frame(image, encoding)
            self.probe.publish(msg)
            if self.probe.wait_until(lambda: self._detections(msg.header.stamp) is not None, 3.0):
                return self._detections(msg.header.stamp)
        raise AssertionError(f"no detections for a good frame:\n{self.node.output()[-3000:]}")

    def _detections(self, stamp):
        found = [r.msg for r in self.probe.snapshot("detections") if r.msg.header.stamp == stamp]
        return found[0] if found else None


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node for the module (longterm mode; each test sets the live parameters it needs)."""
    directory = tmp_path_factory.mktemp("ros_integration")
    checkpoint = make_random_checkpoint(directory / "random_vot.pth")
    with DomainLease() as lease:
        process = NodeProcess.tracker(lease.domain_id, directory / "node.log",
                                      {"checkpoint": str(checkpoint), "device": "cpu", "diagnostics_period": 0.2,
                                       "mode": "longterm", "half": True, "threads": 1},
                                      params_file=REPO / "config" / "tracker.yaml", remap={"image": CAMERA_TOPIC})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC)
        try:
            probe.wait_ready(process)
            harness = Harness(process, probe)
            assert probe.wait_until(lambda: harness.init_pub.get_subscription_count() > 0, WAIT_S)
            yield harness
        finally:
            probe.close()
            code = process.stop()
        assert code == 0, process.output()


DEFAULTS = {"init_class_id": "", "init_min_score": 0.5, "reinit_on_lost": False, "failure_threshold": 0.5,
            "failure_patience": 3, "recovery_threshold": 0.65, "lost_after_frames": 30}


@pytest.fixture
def h(node):
    """The module's node, idle, with these tests' default live parameters."""
    assert node.probe.stop_tracking().success
    assert all(r.successful for r in node.probe.set_parameters(DEFAULTS))
    node.mark = len(node.node.output())
    return node


def targets_started(h) -> list[int]:
    return [int(t) for t in re.findall(r"tracking target (\d+)", h.node.output()[h.mark:])]


def test_a_detector_starts_tracking_with_its_best_matching_detection(h):
    assert all(r.successful for r in h.probe.set_parameters({"init_class_id": "person"}))
    stamp = h.buffered_frame().header.stamp
    h.init_pub.publish(detections_msg(stamp, ("person", 0.3, (5, 5, 20, 20)),        # below the threshold
                                      ("car", 0.99, (70, 40, 30, 30)),               # another class
                                      ("person", 0.8, (30, 20, 40, 36)),             # the one
                                      ("person", 0.6, (80, 10, 20, 20))))
    # the chosen detection's box, on the frame with the detections' stamp
    words = (f"init from detection 'person' (score 0.80, stamp {stamp.sec}.{stamp.nanosec:09d}): tracking "
             f"target {{}}: box (x=30, y=20, w=40, h=36)")
    assert h.probe.wait_until(lambda: bool(targets_started(h)), WAIT_S), h.node.output()[-2000:]
    target = targets_started(h)[0]
    assert words.format(target) in h.node.output()
    out = h.tracked()
    assert out.detections[0].id == str(target) and out.detections[0].results[0].hypothesis.class_id == "target"
    # markers overlay the same box with the target id
    assert h.probe.wait_until(lambda: any(m.id == target for m in h.records["marker"]), 10.0)
    marker = [m for m in h.records["marker"] if m.id == target][-1]
    assert marker.type == marker.POLYGON and len(marker.points) == 4


def test_detections_below_the_threshold_start_nothing(h):
    assert all(r.successful for r in h.probe.set_parameters({"init_min_score": 0.9}))
    stamp = h.buffered_frame().header.stamp
    h.init_pub.publish(detections_msg(stamp, ("person", 0.89, (30, 20, 40, 36))))
    time.sleep(1.0)
    before = len(h.probe.snapshot("detections"))
    h.probe.publish(h.frame())
    time.sleep(1.0)
    assert len(h.probe.snapshot("detections")) == before and targets_started(h) == []


@pytest.mark.parametrize("reinit", [True, False])
def test_reinit_on_lost(h, reinit):
    assert all(r.successful for r in h.probe.set_parameters({"reinit_on_lost": reinit, **LOST_FAST}))
    stamp = h.buffered_frame().header.stamp
    h.init_pub.publish(detections_msg(stamp, ("target", 0.9, (30, 20, 40, 36))))
    assert h.probe.wait_until(lambda: len(targets_started(h)) == 1, WAIT_S)
    first = targets_started(h)[0]
    assert h.tracked().detections[0].id == str(first)
    blank = np.full((*SIZE, 3), 128, np.uint8)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:   # blank frames: searching, then lost (a loaded machine drops some)
        h.probe.publish(h.frame(blank))
        time.sleep(0.05)
        states = [r.msg.data for r in h.probe.snapshot("state")]
        if states and states[-1] == "lost":
            break
    assert [r.msg.data for r in h.probe.snapshot("state")][-1] == "lost"
    stamp = h.buffered_frame().header.stamp
    h.init_pub.publish(detections_msg(stamp, ("target", 0.9, (30, 20, 40, 36))))
    if reinit:
        assert h.probe.wait_until(lambda: len(targets_started(h)) == 2, WAIT_S), h.node.output()[-2000:]
        assert targets_started(h)[1] == first + 1
        assert h.tracked().detections[0].id == str(first + 1)
    else:
        time.sleep(1.5)
        assert targets_started(h) == [first]


def _start(h) -> None:
    stamp = h.buffered_frame().header.stamp
    h.init_pub.publish(detections_msg(stamp, ("target", 0.9, (30, 20, 40, 36))))
    assert h.probe.wait_until(lambda: bool(targets_started(h)), WAIT_S)
    h.tracked()


def test_compressed_debug_image(h):
    _start(h)
    for _ in range(50):
        h.tracked()
        if h.records["jpeg"]:
            break
    assert h.records["jpeg"], "no compressed debug image while subscribed"
    jpeg = h.records["jpeg"][-1]
    image = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.format == "jpeg" and image.shape == (*SIZE, 3) and jpeg.header.frame_id == "cam"


@pytest.mark.parametrize("encoding", ["yuv422_yuy2", "uyvy", "nv21", "bayer_rggb8", "bayer_grbg16"])
def test_camera_encodings_are_tracked(h, encoding):
    _start(h)
    target = targets_started(h)[0]
    rejected = h.rejected()
    out = h.tracked(encoding=encoding)
    assert out.detections == [] or out.detections[0].id == str(target)   # tracked (or searching), not rejected
    assert h.rejected() == rejected


def test_half_on_the_cpu_runs_bfloat16_or_is_ignored_with_a_notice_and_device_accepts_cuda_n(h):
    from dasiamrpn_core.tracker import bf16_supported
    # the node was started with half: true (torch backend): bfloat16 where the CPU computes it natively
    expected = "inference in bfloat16 on cpu (torch)" if bf16_supported() else "half is ignored on cpu"
    assert expected in h.node.output()
    ok = h.probe.set_parameters({"device": "cuda:1"})[0]
    assert ok.successful   # accepted; applies (and would fail without that GPU) at the next init
    bad = h.probe.set_parameters({"device": "gpu0"})[0]
    assert not bad.successful and "device must be auto, cpu, cuda or cuda:N" in bad.reason
    assert h.probe.set_parameters({"device": "cpu"})[0].successful


def test_the_node_runs_without_vision_msgs(tmp_path):
    """vision_msgs hidden (an import that fails, as on an install without it): ~/detections and
    ~/init_detections are off, said once, and the node tracks as before."""
    hidden = tmp_path / "hide"
    (hidden / "vision_msgs").mkdir(parents=True)
    (hidden / "vision_msgs" / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    checkpoint = make_random_checkpoint(tmp_path / "random_vot.pth")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"checkpoint": str(checkpoint), "device": "cpu", "mode": "siamrpn"},
                                   remap={"image": CAMERA_TOPIC},
                                   extra_env={"PYTHONPATH": f"{hidden}:{os.environ.get('PYTHONPATH', '')}"})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC)
        try:
            probe.wait_ready(node)
            assert node.wait_for_output("vision_msgs is not importable (hidden by the test); ~/detections is off",
                                        WAIT_S), node.output()[-2000:]
            image = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
            probe.init_on_new_frame(image, (40, 30, 32, 28))
            msg = bgr_to_image(image, header=Header(stamp=probe.now(), frame_id="cam"))
            probe.publish(msg)
            assert probe.wait_box(msg.header.stamp, WAIT_S) is not None
            assert node.output().count("vision_msgs is not importable") == 1
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()

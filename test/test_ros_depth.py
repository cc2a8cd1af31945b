"""The tracker node with ``use_depth`` over real DDS (console script, remapped RealSense-style topics):
a synthetic RGB-D scene with known geometry (a textured target 1.5 m away before a wall at 4 m, a
thin pole 2 m away, depth holes and noise, a camera with known K) in both depth encodings.

* ``~/detections_3d`` and ``~/position`` carry the target's position within 1 cm + 1 % of the
  distance of the truth and its size within 5 %, header = the depth frame's frame_id and the colour
  frame's stamp, id = the target id, the score of ``~/detections``; they equal the core's estimate
  on the published 2D box.
* Missing depth, stale depth, an all-hole box, an unknown encoding, a CameraInfo with zero focal
  length and a depth image of another size each give an empty array, no position, their count in
  /diagnostics and a log line naming the problem; the node goes on and the next good frame has its
  3D output.
* Without ``use_depth`` the node subscribes to no depth topic and publishes no 3D topic.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import PointStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection3DArray  # noqa: E402

from dasiamrpn_core.demo_rgbd import QVGA, QVGA_INTRINSICS, Plate, RGBDScene, depth_to_millimetres  # noqa: E402
from dasiamrpn_core.depth import METRE, MILLIMETRE, Intrinsics, estimate_3d  # noqa: E402
from dasiamrpn_ros.image_conversion import bgr_to_image, depth_to_image  # noqa: E402
from dasiamrpn_ros.messages import detection_box  # noqa: E402
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COLOUR_TOPIC, DEPTH_TOPIC, INFO_TOPIC = ("/camera/color/image_raw", "/camera/aligned_depth_to_color/image_raw",
                                         "/camera/aligned_depth_to_color/camera_info")
COLOUR_FRAME, DEPTH_FRAME = "camera_color_optical_frame", "camera_depth_optical_frame"
NODE = "/dasiamrpn_tracker"
WAIT_S = 60.0
SETTLE_S = 0.1      # depth and camera info go out this long before their colour frame (other topics: no order)
POSITION_TOL_M, POSITION_TOL_REL, SIZE_TOL_REL = 0.01, 0.01, 0.05
MAX_AGE_S = 0.05
PERSON = RGBDScene(plates=(Plate((0.2, -0.1, 1.5), 0.3, 0.5),), size=QVGA, intrinsics=QVGA_INTRINSICS, holes=0.3)
POLE = RGBDScene(plates=(Plate((-0.3, 0.0, 2.0), 0.04, 1.0),), size=QVGA, intrinsics=QVGA_INTRINSICS, holes=0.2)


def camera_info(k: Intrinsics, size=QVGA, frame_id=DEPTH_FRAME, stamp=None) -> CameraInfo:
    info = CameraInfo(width=size[0], height=size[1], distortion_model="plumb_bob")
    info.header = Header(stamp=stamp or Time(), frame_id=frame_id)
    info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    return info


class Rig:
    """The probe publishing an RGB-D camera's three topics, and the node's 3D outputs recorded."""

    def __init__(self, node: NodeProcess, probe: Probe):
        self.node, self.probe = node, probe
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.depth_pub = probe.node.create_publisher(Image, DEPTH_TOPIC, qos)
        self.info_pub = probe.node.create_publisher(CameraInfo, INFO_TOPIC, qos)
        probe.add_recorder("detections_3d", Detection3DArray, f"{NODE}/detections_3d")
        probe.add_recorder("position", PointStamped, f"{NODE}/position")
        self.info = camera_info(QVGA_INTRINSICS)

    def frame(self, scene: RGBDScene, encoding: str = "32FC1", depth_stamp_offset_s: float = 0.0,
              depth: Image | None = None, info: CameraInfo | None = None, with_depth: bool = True):
        """Publish one RGB-D frame (camera info, depth, then colour, stamped alike unless told);
        the colour frame's stamp."""
        colour, depth_m = scene.render()
        stamp = self.probe.now()
        if with_depth:
            info = info or self.info
            info.header.stamp = stamp
            self.info_pub.publish(info)
            if depth is None:
                raw = depth_to_millimetres(depth_m) if encoding == "16UC1" else depth_m
                depth = depth_to_image(raw)
            offset_ns = stamp.sec * 10**9 + stamp.nanosec + int(depth_stamp_offset_s * 1e9)
            depth.header = Header(stamp=Time(sec=offset_ns // 10**9, nanosec=offset_ns % 10**9), frame_id=DEPTH_FRAME)
            self.depth_pub.publish(depth)
            time.sleep(SETTLE_S)
        self.probe.publish(bgr_to_image(colour, header=Header(stamp=stamp, frame_id=COLOUR_FRAME)))
        return stamp

    def outputs(self, stamp):
        """The 3D array and the 2D detections of the colour frame ``stamp`` (waits for both)."""
        def both() -> bool:
            return bool(self.probe.with_stamp("detections_3d", stamp)) and bool(self.probe.with_stamp("detections", stamp))
        assert self.probe.wait_until(both, WAIT_S), f"no 3D/2D output for {stamp}:\n{self.node.output()[-3000:]}"
        return self.probe.with_stamp("detections_3d", stamp)[0].msg, self.probe.with_stamp("detections", stamp)[0].msg

    def diagnostics(self) -> dict[str, str]:
        start = self.probe.count("diagnostics")
        assert self.probe.wait_until(lambda: self.probe.count("diagnostics") > start + 1, WAIT_S)
        return {kv.key: kv.value for kv in self.probe.snapshot("diagnostics")[-1].msg.status[0].values}

    def init(self, scene: RGBDScene, box) -> None:
        colour, _ = scene.render()
        assert self.probe.init_on_new_frame(colour, box, frame_id=COLOUR_FRAME), self.node.output()[-3000:]


def as_tracked(plate: Plate, det2d, size: bool = True) -> Plate:
    """The plate where the node's own 2D box puts it at the plate's true depth (its centre, and with
    ``size`` its metric size): the 3D step is checked, not the tracker's box precision (a box 5 %
    wider or a few pixels off the pole's centre is the model's doing, not the depth's)."""
    k, z = QVGA_INTRINSICS, plate.centre[2]
    centre = ((det2d.bbox.center.position.x - k.cx) * z / k.fx, (det2d.bbox.center.position.y - k.cy) * z / k.fy, z)
    tracked = replace(plate, centre=centre)
    return replace(tracked, width=det2d.bbox.size_x * z / k.fx, height=det2d.bbox.size_y * z / k.fy) if size else tracked


def assert_close_to_truth(array: Detection3DArray, plate: Plate, check_width: bool = True) -> None:
    (det,) = array.detections
    p, size = det.bbox.center.position, det.bbox.size
    error = np.linalg.norm(np.subtract((p.x, p.y, p.z), plate.centre))
    limit = POSITION_TOL_M + POSITION_TOL_REL * np.linalg.norm(plate.centre)
    assert error <= limit, f"position ({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) is {error * 100:.1f} cm from {plate.centre}"
    assert abs(size.y - plate.height) <= SIZE_TOL_REL * plate.height, (size.y, plate.height)
    if check_width:
        assert abs(size.x - plate.width) <= SIZE_TOL_REL * plate.width, (size.x, plate.width)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ros_depth")
    with DomainLease() as lease:
        node = NodeProcess.tracker(
            lease.domain_id, directory / "node.log",
            {"device": "cpu", "backend": "torch", "threads": 1, "mode": "siamrpn", "use_depth": True,
             "depth_max_age": MAX_AGE_S, "image_reliability": "reliable", "diagnostics_period": 0.2},
            params_file=REPO / "config" / "tracker.yaml",
            remap={"image": COLOUR_TOPIC, "depth": DEPTH_TOPIC, "depth/camera_info": INFO_TOPIC})
        probe = Probe(lease.domain_id, image_topic=COLOUR_TOPIC)
        try:
            probe.wait_ready(node)
            yield Rig(node, probe)
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()


def test_missing_depth_before_any_depth_frame(rig):
    """First (module order): no depth frame has ever come; the 2D output is unchanged."""
    rig.init(PERSON, PERSON.plates[0].box(QVGA_INTRINSICS))
    stamp = rig.frame(PERSON, with_depth=False)
    array, detections = rig.outputs(stamp)
    assert array.detections == [] and len(detections.detections) == 1
    assert rig.probe.with_stamp("position", stamp) == []
    assert int(rig.diagnostics()["depth_missing"]) >= 1
    assert rig.node.wait_for_output(f"no depth image received on {DEPTH_TOPIC} yet", 10)
    assert f"waiting for images on {COLOUR_TOPIC} and depth on {DEPTH_TOPIC} + {INFO_TOPIC}; " \
           f"call {NODE}/init_box to start" in rig.node.output()


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_position_and_size_of_a_target_before_a_wall(rig, encoding):
    rig.init(PERSON, PERSON.plates[0].box(QVGA_INTRINSICS))
    for i in range(3):
        scene = replace(PERSON, seed=10 + i)
        stamp = rig.frame(scene, encoding)
        array, detections = rig.outputs(stamp)
        assert array.header.stamp == stamp and array.header.frame_id == DEPTH_FRAME
        (det,), (det2d,) = array.detections, detections.detections
        assert_close_to_truth(array, as_tracked(PERSON.plates[0], det2d))
        assert det.id == det2d.id and det.results[0].hypothesis.score == det2d.results[0].hypothesis.score
        assert det.results[0].hypothesis.class_id == "target" and det.bbox.center.orientation.w == 1.0
        # the node's 3D is the core's estimate on the node's own 2D box, on this frame's depth
        _, depth_m = scene.render()
        raw, unit = (depth_to_millimetres(depth_m), MILLIMETRE) if encoding == "16UC1" else (depth_m, METRE)
        core = estimate_3d(detection_box(det2d), raw, QVGA_INTRINSICS, unit)
        p = det.bbox.center.position
        assert (p.x, p.y, p.z) == pytest.approx(core.position, abs=1e-5)
        assert (det.bbox.size.x, det.bbox.size.y, det.bbox.size.z) == pytest.approx(core.size, abs=1e-5)
        assert rig.probe.wait_until(lambda: bool(rig.probe.with_stamp("position", stamp)), WAIT_S)
        point = rig.probe.with_stamp("position", stamp)[0].msg
        assert point.header.frame_id == DEPTH_FRAME and (point.point.x, point.point.y, point.point.z) == (p.x, p.y, p.z)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_thin_target_before_a_wall(rig, encoding):
    """A 4 cm pole tracked with a box five times its width: most of the box is wall. The tracker
    keeps such a thin box's centre but not its height (about 9 % shorter after a frame), so the
    metric height is checked against the tracked box's height at the pole's true depth (at the
    wall's depth it would be twice that); test_core_depth checks it against the pole itself."""
    pole = POLE.plates[0]
    x, y, w, h = pole.box(QVGA_INTRINSICS)
    rig.init(POLE, (x - 2 * w, y, 5 * w, h))
    for i in range(2):
        stamp = rig.frame(replace(POLE, seed=20 + i), encoding)
        array, detections = rig.outputs(stamp)
        tracked_height = detections.detections[0].bbox.size_y * pole.centre[2] / QVGA_INTRINSICS.fy
        assert_close_to_truth(array, as_tracked(replace(pole, height=tracked_height), detections.detections[0],
                                                size=False), check_width=False)


def failure_case(rig, kind: str, log_text: str, **frame) -> None:
    """One bad RGB-D frame: no 3D output, its count, the problem named in /diagnostics and the log;
    then a good frame is located again."""
    rig.init(PERSON, PERSON.plates[0].box(QVGA_INTRINSICS))
    good = rig.frame(PERSON)
    rig.outputs(good)
    before = int(rig.diagnostics()[f"depth_{kind}"])
    stamp = rig.frame(PERSON, **frame)
    array, detections = rig.outputs(stamp)
    assert array.detections == [] and len(detections.detections) == 1, "a 2D box but no 3D one"
    assert rig.probe.with_stamp("position", stamp) == []
    values = rig.diagnostics()
    assert int(values[f"depth_{kind}"]) == before + 1
    assert log_text in values["depth_last_problem"], values["depth_last_problem"]
    # logged too (rate-limited per kind: the first of each kind is in the log)
    assert rig.node.wait_for_output(f"no 3D position ({kind})", 10), rig.node.output()[-3000:]
    assert rig.node.alive()
    after = rig.frame(PERSON)
    assert len(rig.outputs(after)[0].detections) == 1


def test_stale_depth(rig):
    failure_case(rig, "stale", "s older (depth_max_age 0.05 s", depth_stamp_offset_s=-4 * MAX_AGE_S)


def test_depth_newer_than_the_colour_frame_is_not_used(rig):
    failure_case(rig, "stale", "s newer (depth_max_age 0.05 s", depth_stamp_offset_s=0.1)


def test_all_hole_box(rig):
    box = PERSON.plates[0].box(QVGA_INTRINSICS)
    failure_case(rig, "invalid", "0 valid depth pixels", depth=depth_to_image(
        replace(PERSON, hole_blob=(box[0] - 10, box[1] - 10, box[2] + 20, box[3] + 20)).render()[1]))


def test_unknown_encoding(rig):
    bad = depth_to_image(depth_to_millimetres(PERSON.render()[1]))
    bad.encoding = "mono16"
    failure_case(rig, "invalid", "unsupported encoding 'mono16'; supported: 16UC1, 32FC1", depth=bad)


def test_zero_focal_length(rig):
    zero = camera_info(QVGA_INTRINSICS)
    zero.k = [0.0] * 9
    failure_case(rig, "invalid", "zero or negative focal length", info=zero)


def test_depth_of_another_size_is_refused(rig):
    small = depth_to_image(np.full((120, 160), 1.5, np.float32))
    failure_case(rig, "invalid", "is 160x120 but the colour image is 320x240", depth=small,
                 info=camera_info(Intrinsics(131.25, 131.25, 79.5, 59.5), size=(160, 120)))


def test_replayed_rgbd_sequence(rig, tmp_path):
    """dasiamrpn-replay publishes a recorded RGB-D sequence (16-bit PNG depth + calibration YAML)
    beside its colour frames, stamped alike; the node tracks it and locates the target."""
    from dasiamrpn_core.demo_rgbd import write_rgbd_sequence
    from dasiamrpn_ros.testing import console_script
    folder = write_rgbd_sequence(tmp_path / "rgbd", PERSON, frames=6)
    rig.probe.add_recorder("replayed_depth", Image, DEPTH_TOPIC)
    rig.probe.add_recorder("replayed_info", CameraInfo, INFO_TOPIC)
    replay = NodeProcess(console_script("dasiamrpn-replay") + [
        str(folder / "img"), "--depth", str(folder / "depth"), "--camera-info", str(folder / "camera_info.yaml"),
        "--frame-id", COLOUR_FRAME, "--depth-frame-id", DEPTH_FRAME, "--rate", "5", "--loop", "--ros-args",
        "-r", f"image:={COLOUR_TOPIC}", "-r", f"depth:={DEPTH_TOPIC}", "-r", f"depth/camera_info:={INFO_TOPIC}"],
        rig.probe.context.get_domain_id(), tmp_path / "replay.log")
    try:
        # (no service call inside wait_until: its predicate runs under the lock the probe's callbacks take)
        assert rig.probe.wait_until(lambda: rig.probe.count("replayed_depth") > 0, WAIT_S), replay.output()
        deadline = time.monotonic() + WAIT_S
        while not rig.probe.init_box(PERSON.plates[0].box(QVGA_INTRINSICS)).success:
            assert time.monotonic() < deadline, rig.node.output()[-3000:]
            time.sleep(0.1)
        start = rig.probe.count("detections_3d")

        def located() -> bool:
            return any(r.msg.detections for r in rig.probe.snapshot("detections_3d")[start:])
        assert rig.probe.wait_until(located, WAIT_S), rig.node.output()[-3000:]
        array = next(r.msg for r in rig.probe.snapshot("detections_3d")[start:] if r.msg.detections)
        assert rig.probe.wait_until(lambda: bool(rig.probe.with_stamp("detections", array.header.stamp)), WAIT_S)
        (det2d,) = rig.probe.with_stamp("detections", array.header.stamp)[0].msg.detections
        assert_close_to_truth(array, as_tracked(PERSON.plates[0], det2d))
        depth = rig.probe.with_stamp("replayed_depth", array.header.stamp)[0].msg
        info = rig.probe.with_stamp("replayed_info", array.header.stamp)[0].msg
        assert (depth.encoding, depth.header.frame_id, info.header.frame_id) == ("16UC1", DEPTH_FRAME, DEPTH_FRAME)
        assert list(info.k) == [262.5, 0.0, 159.5, 0.0, 262.5, 119.5, 0.0, 0.0, 1.0]
    finally:
        assert replay.stop() == 0, replay.output()


def test_diagnostics_report_the_depth_step(rig):
    values = rig.diagnostics()
    assert int(values["depth_estimated"]) >= 1 and int(values["depth_frames_received"]) >= 1
    assert 0 < float(values["depth_ms"]) < 100 and values["depth_last_problem"]


def test_without_use_depth_nothing_of_it_exists(tmp_path):
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"device": "cpu", "backend": "torch", "threads": 1, "mode": "siamrpn"},
                                   params_file=REPO / "config" / "tracker.yaml", remap={"image": COLOUR_TOPIC})
        probe = Probe(lease.domain_id, image_topic=COLOUR_TOPIC)
        try:
            probe.wait_ready(node)
            subscribed: set[str] = set()

            def discovered() -> bool:   # the node's subscriptions as the graph sees them
                subscribed.update(name for name, _ in probe.node.get_subscriber_names_and_types_by_node(
                    "dasiamrpn_tracker", "/"))
                return COLOUR_TOPIC in subscribed
            assert probe.wait_until(discovered, WAIT_S), subscribed
            topics = dict(probe.node.get_topic_names_and_types())
            assert not any("depth" in name or "camera_info" in name for name in subscribed), subscribed
            assert f"{NODE}/detections_3d" not in topics and f"{NODE}/position" not in topics
            assert probe.wait_until(lambda: probe.count("diagnostics") > 0, WAIT_S)
            keys = {kv.key for kv in probe.snapshot("diagnostics")[-1].msg.status[0].values}
            assert not any(key.startswith("depth") for key in keys), keys
        finally:
            probe.close()
            assert node.stop() == 0, node.output()


def test_replay_refuses_an_rgbd_sequence_that_does_not_fit(tmp_path):
    """One depth PNG per colour frame and a calibration YAML, or exit code 2 naming the problem."""
    import subprocess

    from dasiamrpn_core.demo_rgbd import write_rgbd_sequence
    from dasiamrpn_ros.testing import console_script
    folder = write_rgbd_sequence(tmp_path / "rgbd", PERSON, frames=3)
    (tmp_path / "bad.yaml").write_text("image_width: 320\n")
    cases = ((["--camera-info", str(tmp_path / "bad.yaml")], "not a camera calibration YAML"),
             (["--camera-info", str(folder / "camera_info.yaml")], "2 depth PNG frames for 3 colour frames"))
    for extra, words in cases:
        if "2 depth" in words:
            (folder / "depth" / "000002.png").unlink()
        done = subprocess.run(console_script("dasiamrpn-replay") + [str(folder / "img"), "--depth",
                                                                     str(folder / "depth")] + extra,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and words in done.stderr, done.stderr

"""rosbag2 in and out (issue 15 §4): small MCAP and sqlite3 bags written with ``rosbags`` from a
shared sequence.

* ``dasiamrpn-track-bag`` tracks a bag offline (no ROS graph): its results equal the core
  tracker's on the same frames, and ``--out-bag`` holds one Detection2DArray per image, stamped
  like it;
* ``dasiamrpn-replay`` publishes a bag as recorded, as fast as it can; the node with
  ``frame_policy:=every`` tracks every frame, in order, with the core tracker's boxes.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from conftest import require_shared  # noqa: E402
from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from dasiamrpn_core import load_tracker  # noqa: E402
from dasiamrpn_ros.bags import _register_vision_msgs, _typestore  # noqa: E402
from dasiamrpn_ros.messages import polygon_box  # noqa: E402
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe, console_script, ros_env  # noqa: E402

FRAMES = 16
TOPIC = "/camera/image_raw"
WAIT_S = 60.0


def girl(count: int = FRAMES):
    folder = require_shared("data", "sequences", "Girl")
    files = sorted((folder / "img").glob("*.jpg"))[:count]
    truth = np.loadtxt(folder / "groundtruth.txt", delimiter=",")
    return [cv2.imread(str(f)) for f in files], tuple(int(v) for v in truth[0])


def write_bag(path: Path, frames, storage: str, first_index: int = 0) -> None:
    ts = get_typestore(Stores.ROS2_JAZZY)
    Image, Header, Time = (ts.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                   "builtin_interfaces/msg/Time"))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    writer.open()
    conn = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=ts)
    for i, frame in enumerate(frames, start=first_index):
        h, w = frame.shape[:2]
        msg = Image(header=Header(stamp=Time(sec=1000 + i, nanosec=i), frame_id="cam"), height=h, width=w,
                    encoding="bgr8", is_bigendian=0, step=w * 3, data=frame.reshape(-1))
        writer.write(conn, (1000 + i) * 10**9 + i, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    writer.close()


def core_boxes(checkpoint, frames, box) -> list[tuple]:
    tracker = load_tracker(checkpoint, device="cpu", mode="siamrpn", backend="torch")
    tracker.init(frames[0], box)
    return [tracker.track(f) for f in frames[1:]]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_track_bag_offline_with_a_detections_bag(tmp_path, official_weights, storage):
    frames, box = girl()
    bag = tmp_path / "bag"
    write_bag(bag, frames, storage)
    checkpoint = official_weights("vot")
    out_bag = tmp_path / "detections"
    run = subprocess.run(console_script("dasiamrpn-track-bag") + [
        str(bag), "--topic", TOPIC, "--box", ",".join(map(str, box)), "--checkpoint", str(checkpoint),
        "--mode", "siamrpn", "--device", "cpu", "--backend", "torch", "--output", str(tmp_path / "r.txt"),
        "--out-bag", str(out_bag), "--storage", storage], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "r.txt").read_text().splitlines()
    want = core_boxes(checkpoint, frames, box)
    assert len(lines) == FRAMES
    for line, result in zip(lines[1:], want):
        assert line == "{:.3f},{:.3f},{:.3f},{:.3f},{:.4f},{}".format(*result.box, result.score, result.state)
    store = _typestore()
    _register_vision_msgs(store)
    with AnyReader([out_bag], default_typestore=store) as reader:
        msgs = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert [m.header.stamp.sec for _, m in msgs] == [1000 + i for i in range(FRAMES)]
    det = msgs[5][1].detections[0]
    x, y, w, h = want[4].box
    assert det.id == "1" and det.results[0].hypothesis.class_id == "target"
    assert abs(det.bbox.center.position.x - (x + w / 2)) < 1e-6 and abs(det.bbox.size_y - h) < 1e-6


def test_bad_bag_is_a_clear_error(tmp_path):
    (tmp_path / "x.mcap").write_bytes(b"not a bag")
    run = subprocess.run(console_script("dasiamrpn-track-bag") + [str(tmp_path / "x.mcap"), "--box", "1,1,5,5"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "x.mcap: cannot read it as a rosbag2" in run.stderr


def test_replay_of_a_bag_with_every_frame_policy(tmp_path, official_weights):
    frames, box = girl()
    bag = tmp_path / "bag"
    write_bag(bag, frames[1:], "mcap", first_index=1)      # frame 0 is the init frame, sent by the probe
    checkpoint = official_weights("vot")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"checkpoint": str(checkpoint), "device": "cpu", "mode": "siamrpn",
                                    "backend": "torch", "frame_policy": "every", "image_reliability": "reliable",
                                    "image_queue_depth": 100}, remap={"image": TOPIC})
        probe = Probe(lease.domain_id, image_topic=TOPIC)
        try:
            probe.wait_ready(node)
            from builtin_interfaces.msg import Time
            from std_msgs.msg import Header

            from dasiamrpn_ros.image_conversion import bgr_to_image
            first = bgr_to_image(frames[0], header=Header(stamp=Time(sec=1000, nanosec=0), frame_id="cam"))
            for _ in range(50):
                probe.publish(first)
                time.sleep(0.1)
                if probe.init_box(box, stamp=first.header.stamp).success:
                    break
            else:
                raise AssertionError(node.output()[-2000:])
            replay = subprocess.run(console_script("dasiamrpn-replay") + [
                str(bag), "--topic", TOPIC, "--rate-factor", "0", "--wait-subscribers", "1",
                "--ros-args", "-r", f"image:={TOPIC}"], env=ros_env(lease.domain_id), capture_output=True,
                text=True, timeout=120)
            assert replay.returncode == 0, replay.stderr
            assert probe.wait_until(lambda: probe.count("box") >= FRAMES - 1, WAIT_S), \
                (probe.count("box"), node.output()[-2000:])
            time.sleep(0.5)
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()
    boxes = probe.snapshot("box")
    assert [b.msg.header.stamp.sec for b in boxes] == list(range(1001, 1000 + FRAMES)), "every frame, in order"
    for got, want in zip(boxes, core_boxes(checkpoint, frames, box)):
        assert np.allclose(polygon_box(got.msg), want.box, atol=1e-3)


def test_replay_clock_drives_a_node_with_use_sim_time(tmp_path, official_weights):
    frames, _ = girl(8)
    bag = tmp_path / "bag"
    write_bag(bag, frames, "mcap")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"checkpoint": str(official_weights("vot")), "device": "cpu", "mode": "siamrpn",
                                    "use_sim_time": True, "diagnostics_period": 0.1}, remap={"image": TOPIC})
        probe = Probe(lease.domain_id, image_topic=TOPIC)
        try:
            probe.wait_ready(node)
            replay = subprocess.run(console_script("dasiamrpn-replay") + [
                str(bag), "--clock", "--rate-factor", "4", "--wait-subscribers", "1",
                "--ros-args", "-r", f"image:={TOPIC}"], env=ros_env(lease.domain_id), capture_output=True,
                text=True, timeout=120)
            assert replay.returncode == 0, replay.stderr
            # the node's timers and stamps follow /clock: its diagnostics carry the bag's times
            assert probe.wait_until(lambda: any(1000 <= r.msg.header.stamp.sec <= 1000 + 8
                                                for r in probe.snapshot("diagnostics")), WAIT_S), node.output()[-2000:]
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()

"""The tracker node over real DDS, started as a user starts it (console script, params file, remap).

* It adds no error: the boxes, scores and states it publishes for the frames of a real sequence
  equal what the core tracker returns on the same frames with the same checkpoint and mode (up to
  the float32 of the message), and every output carries the source image's header. In longterm mode
  the run ends on blank frames so the searching and lost outputs are checked too.
* Ctrl-C and SIGTERM exit with code 0; a checkpoint that fails to load exits with code 1 and the
  reason.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from conftest import require_shared  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from dasiamrpn_core import load_tracker  # noqa: E402
from dasiamrpn_core.demo_sequence import make_sequence  # noqa: E402
from dasiamrpn_ros.image_conversion import bgr_to_image  # noqa: E402
from dasiamrpn_ros.messages import box_corners  # noqa: E402
from dasiamrpn_ros.parameters import NodeSettings, defaults  # noqa: E402
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / "config" / "tracker.yaml"
CAMERA_TOPIC = "/camera/image_raw"
FRAME_ID = "camera_optical_frame"
BOX_TIMEOUT_S = 60.0
RETRIES = 2
INIT_POLLS, INIT_POLL_S = 30, 0.1
BLANK_FRAMES = 5   # longterm: uniform frames after the sequence: the target disappears
# thresholds under which the test weights (random, but really correlating) go searching -> lost on them
LONGTERM_THRESHOLDS = {"failure_threshold": 0.6, "failure_patience": 1, "recovery_threshold": 0.95,
                       "lost_after_frames": 2}


def sequence(name: str, count: int) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """Frames and the first ground-truth box of a shared sequence or the built-in 640x480 "demo"."""
    if name == "demo":
        demo = make_sequence("demo")
        return demo.frames[:count], tuple(int(round(v)) for v in demo.boxes[0])
    folder = require_shared("data", "sequences", name)
    files = sorted((folder / "img").glob("*.jpg"))[:count]
    truth = np.loadtxt(folder / "groundtruth.txt", delimiter=",")
    return [cv2.imread(str(f)) for f in files], tuple(int(v) for v in truth[0])


def start_node(domain: int, log: Path, params: dict) -> NodeProcess:
    return NodeProcess.tracker(domain, log, params, params_file=PARAMS_FILE, remap={"image": CAMERA_TOPIC})


def publish_until_received(probe: Probe, msg) -> None:
    """Publish and wait for the box of this frame (re-publishing if a best-effort frame was lost)."""
    for _ in range(RETRIES + 1):
        probe.publish(msg)
        if probe.wait_box(msg.header.stamp, BOX_TIMEOUT_S / (RETRIES + 1)) is not None:
            return
    raise AssertionError(f"no box for the frame stamped {msg.header.stamp}")


def init_on(probe: Probe, msg, box) -> None:
    """Publish the init frame, then init on its stamp once the node has buffered it (re-publishing
    only if it has not arrived within a few seconds, so no late duplicate gets tracked)."""
    for _ in range(RETRIES + 1):
        probe.publish(msg)
        for _ in range(INIT_POLLS):
            response = probe.init_box(box, stamp=msg.header.stamp)
            if response.success:
                return
            assert "no image received yet" in response.status_message or \
                "no buffered frame" in response.status_message, response.status_message
            time.sleep(INIT_POLL_S)
    raise AssertionError(f"init_box kept failing: {response.status_message}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("source, mode, frames, encoding, stop_signal", [
    ("Girl", "siamrpn", 30, "bgr8", signal.SIGINT),
    ("Girl", "longterm", 10, "rgb8", signal.SIGTERM),
    # 640x480 frames (900 KiB) with reliable QoS: best effort needs a Fast DDS profile for them
    ("demo", "dasiamrpn", 6, "bgr8", signal.SIGINT),
])
def test_node_adds_no_error(tmp_path, official_weights, source, mode, frames, encoding, stop_signal):
    images, init_box = sequence(source, frames)
    checkpoint = official_weights("vot")
    extra = dict(LONGTERM_THRESHOLDS) if mode == "longterm" else {}
    if source == "demo":
        extra["image_reliability"] = "reliable"
    if mode == "longterm":
        images += [np.full_like(images[0], 128)] * BLANK_FRAMES
    with DomainLease() as lease:
        node = start_node(lease.domain_id, tmp_path / "node.log",
                          {"checkpoint": str(checkpoint), "mode": mode, "device": "cpu", "backend": "torch", **extra})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC)
        try:
            probe.wait_ready(node)
            messages = []
            for image in images:
                messages.append(bgr_to_image(image, encoding, header=Header(stamp=probe.now(), frame_id=FRAME_ID)))
            init_on(probe, messages[0], init_box)
            for msg in messages[1:]:
                publish_until_received(probe, msg)
            tracked = len(messages) - 1
            assert probe.wait_until(lambda: all(len(probe.records[k]) >= tracked for k in ("score", "state")),
                                    BOX_TIMEOUT_S)
        finally:
            probe.close()
            code = node.stop(stop_signal)
        assert code == 0, f"exit code {code} after {signal.Signals(stop_signal).name}:\n{node.output()}"

    # the same frames through the core tracker, in this process
    thresholds = NodeSettings.from_values({**defaults(), **extra}).thresholds.overrides()
    tracker = load_tracker(checkpoint, device="cpu", mode=mode, **thresholds)
    tracker.init(images[0], init_box)
    boxes = {(r.msg.header.stamp.sec, r.msg.header.stamp.nanosec): r.msg for r in probe.records["box"]}
    assert len(probe.records["box"]) == len(messages) - 1, "exactly one box per tracked frame"
    states = [r.msg.data for r in probe.records["state"]]
    scores = [r.msg.data for r in probe.records["score"]]
    for i, (image, msg) in enumerate(zip(images[1:], messages[1:])):
        want = tracker.track(image)
        got = boxes[(msg.header.stamp.sec, msg.header.stamp.nanosec)]
        assert got.header.frame_id == FRAME_ID and got.header.stamp == msg.header.stamp
        assert states[i] == want.state, f"frame {i + 1}"
        assert scores[i] == np.float32(want.score), f"frame {i + 1}: score {scores[i]} != {want.score}"
        if want.state == "lost":
            assert len(got.polygon.points) == 0, "lost: an empty polygon"
            continue
        corners = [(p.x, p.y) for p in got.polygon.points]
        expected = [(np.float32(x), np.float32(y)) for x, y in box_corners(want.box)]
        assert corners == expected, f"frame {i + 1}: {corners} != {expected}"
    if mode == "longterm":
        assert states[-1] == "lost" and "searching" in states, states


@pytest.mark.timeout(120)
def test_checkpoint_that_fails_to_load_exits_nonzero_with_the_reason(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log", {"checkpoint": str(bad)})
        try:
            code = node.proc.wait(90)
        finally:
            node.stop()
    out = node.output()
    assert code == 1, out
    assert "model failed to load" in out and str(bad) in out, out


@pytest.mark.timeout(180)
def test_compressed_images_from_the_replay_camera(tmp_path):
    """use_compressed: the node tracks image/compressed (PNG here) published by the replay camera."""
    from dasiamrpn_ros.testing import console_script, make_random_checkpoint

    folder = tmp_path / "frames"
    folder.mkdir()
    demo = make_sequence("demo")
    for i, frame in enumerate(demo.frames[:20]):
        cv2.imwrite(str(folder / f"{i:08d}.jpg"), cv2.resize(frame, (160, 120)))
    checkpoint = make_random_checkpoint(tmp_path / "random_vot.pth")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"checkpoint": str(checkpoint), "device": "cpu", "use_compressed": True},
                                   remap={"image/compressed": f"{CAMERA_TOPIC}/compressed"})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC, compressed=True)
        replay = None
        try:
            probe.wait_ready(node)
            replay = NodeProcess(console_script("dasiamrpn-replay") + [
                str(folder), "--rate", "15", "--loop", "--compressed", "png", "--frame-id", FRAME_ID,
                "--wait-subscribers", "1", "--ros-args", "-r", f"image/compressed:={CAMERA_TOPIC}/compressed"],
                lease.domain_id, tmp_path / "replay.log")
            for _ in range(300):
                if probe.init_box((60, 40, 30, 30)).success:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"init_box kept failing:\n{node.output()}\n{replay.output()}")
            assert probe.wait_until(lambda: probe.count("box") >= 5, BOX_TIMEOUT_S), node.output()
        finally:
            replay_code = replay.stop() if replay is not None else None
            probe.close()
            node_code = node.stop()
    assert replay_code == 0 and node_code == 0, f"{replay.output()}\n{node.output()}"
    assert all(r.msg.header.frame_id == FRAME_ID and len(r.msg.polygon.points) == 4 for r in probe.records["box"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("params, words", [
    ({"failure_threshold": 1}, "expecting type 'DOUBLE'"),   # an int where a float is declared
    ({"recovery_threshold": 0.1}, "recovery_threshold (0.1) must be >= failure_threshold (0.5)"),
    ({"image_reliability": "sometimes"}, "image_reliability must be one of best_effort, reliable"),
])
def test_invalid_parameters_at_start_up_exit_nonzero_with_the_reason(tmp_path, params, words):
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log", params)
        try:
            code = node.proc.wait(90)
        finally:
            node.stop()
    out = node.output()
    assert code == 1 and "invalid parameters" in out and words in out, out

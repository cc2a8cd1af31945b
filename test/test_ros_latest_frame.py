"""Latest-frame behaviour over real DDS: the replay camera publishes at 60 Hz, faster than the CPU
tracker; the node tracks the newest frame and drops the others instead of queueing, so the age of
the published boxes stays bounded and does not grow, and its memory stays flat over thousands of
frames. Also checks the replay camera (console script, stamps, frame_id, clean Ctrl-C)."""
from __future__ import annotations

import re
import signal
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from dasiamrpn_ros.testing import (DomainLease, NodeProcess, Probe, console_script,  # noqa: E402
                                   make_random_checkpoint)

CAMERA_TOPIC = "/camera/image_raw"
RATE_HZ = 60.0
RUN_S = 50.0             # ~3000 frames at 60 Hz
WARMUP_S = 10.0          # memory baseline taken after this
MIN_FRAMES = 1500        # the replay must really have published thousands of frames
AGE_BOUND_S = 2.0        # a queueing node would be ~20 s behind by the end (24 ms work per 16.7 ms frame)
AGE_GROWTH_S = 1.0       # late boxes are not older than early ones by more than this
RSS_GROWTH_BYTES = 30 * 2**20
FRAME_ID = "replay_cam"


def image_folder(directory: Path, count: int = 60, size=(96, 128)) -> Path:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    for i in range(count):
        cv2.imwrite(str(directory / f"{i:08d}.png"), np.roll(base, i, axis=1))
    return directory


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_newest_frame_is_tracked_and_latency_and_memory_stay_bounded(tmp_path):
    (tmp_path / "frames").mkdir()
    frames = image_folder(tmp_path / "frames")
    checkpoint = make_random_checkpoint(tmp_path / "random_vot.pth")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"checkpoint": str(checkpoint), "device": "cpu"}, remap={"image": CAMERA_TOPIC})
        # best-effort box subscription: a reliable one turned each lost sample into a box delivered
        # 1-4 s late (repaired after Fast DDS's heartbeat period), which measured DDS, not the node
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC, reliable_outputs=False)
        replay = None
        try:
            probe.wait_ready(node)
            replay = NodeProcess(console_script("dasiamrpn-replay") + [
                str(frames), "--rate", str(RATE_HZ), "--loop", "--frame-id", FRAME_ID,
                "--wait-subscribers", "1", "--ros-args", "-r", f"image:={CAMERA_TOPIC}"],
                lease.domain_id, tmp_path / "replay.log")
            for _ in range(300):
                if probe.init_box((40, 30, 32, 28)).success:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"init_box kept failing:\n{node.output()}\n{replay.output()}")
            started = time.time()
            time.sleep(WARMUP_S)
            rss_start = node.rss_bytes()
            time.sleep(RUN_S - WARMUP_S)
            rss_end = node.rss_bytes()
            diagnostics = {kv.key: kv.value for kv in probe.snapshot("diagnostics")[-1].msg.status[0].values}
        finally:
            replay_code = replay.stop(signal.SIGINT, timeout=60.0) if replay is not None else None
            probe.close()
            node_code = node.stop(timeout=60.0)
    assert replay_code == 0 and node_code == 0, f"{replay.output()}\n{node.output()}"

    published = int(re.search(r"published (\d+) frames", replay.output()).group(1))
    boxes = [r for r in probe.records["box"] if r.at >= started]
    assert published >= MIN_FRAMES, f"the replay published only {published} frames in {RUN_S} s"
    assert 0 < len(boxes) < published / 2, f"{len(boxes)} boxes for {published} frames: frames were queued"
    # the excess is dropped by the depth-1 subscription history and by the node's newest-frame slot
    assert int(diagnostics["frames_dropped"]) > 0

    all_ages = sorted(r.at - stamp_s(r.msg.header.stamp) for r in boxes)
    print(f"published {published} frames, {len(boxes)} boxes, dropped {diagnostics['frames_dropped']}, "
          f"box age median {statistics.median(all_ages):.3f} s, p95 {all_ages[int(0.95 * (len(all_ages) - 1))]:.3f} s, "
          f"max {all_ages[-1]:.3f} s, RSS {rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB")
    assert all(r.msg.header.frame_id == FRAME_ID for r in boxes)
    stamps = [stamp_s(r.msg.header.stamp) for r in boxes]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "each frame tracked once, in order"
    ages = [r.at - s for r, s in zip(boxes, stamps)]
    quarter = max(1, len(ages) // 4)
    # a queueing node would be tens of seconds behind; the bound is on the median of the second half
    # so that a scheduling hiccup of the loaded CPU does not decide the test
    assert statistics.median(ages[len(ages) // 2:]) < AGE_BOUND_S, f"box age up to {max(ages):.2f} s"
    assert statistics.median(ages[-quarter:]) < statistics.median(ages[:quarter]) + AGE_GROWTH_S, \
        "boxes get older over time: the node falls behind"
    assert rss_end - rss_start < RSS_GROWTH_BYTES, f"RSS grew by {(rss_end - rss_start) / 2**20:.1f} MiB"

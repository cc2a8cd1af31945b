"""Several targets in one node over real DDS (issue 30): max_targets 2 on a replayed clip with two
look-alike objects (the built-in "lookalike" sequence: a face and its mirrored twin beside it).

Both are added by ~/init_box (the answers name ids 1 and 2), a third add is refused naming the limit
and changes nothing, every frame's ~/detections array carries both ids with the image's stamp and
boxes on the right objects, ~/remove_target ends one by id (an unknown id is refused naming the
tracked ones) and the other goes on alone; /diagnostics has one entry per target.
"""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rclpy  # noqa: F401  (a broken ROS install fails the run; it never skips)
from std_msgs.msg import Header
from visualization_msgs.msg import ImageMarker

from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.geometry import iou_xywh
from dasiamrpn_ros.image_conversion import bgr_to_image
from dasiamrpn_ros.messages import detection_box
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe, console_script, ros_env

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 90.0
HELD_IOU = 0.5          # mean IoU of each target's boxes with its own object
REMOVE_AT = 25          # frames published before target 1 is removed


@pytest.fixture
def node_and_probe(tmp_path):
    lease = DomainLease()
    node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                               {"mode": "dasiamrpn", "device": "cpu", "image_reliability": "reliable",
                                "image_queue_depth": 10, "max_targets": 2, "frame_policy": "every"},
                               params_file=REPO / "config" / "tracker.yaml")
    probe = Probe(lease.domain_id)
    probe.add_recorder("marker", ImageMarker, "/dasiamrpn_tracker/marker")
    try:
        probe.wait_ready(node, WAIT_S)
        yield node, probe, lease.domain_id
    finally:
        probe.close()
        node.stop(signal.SIGKILL) if node.alive() else node.stop()
        lease.release()


def publish_and_wait(probe: Probe, image, ids_expected: int):
    """Publish one frame and wait for its detection array; (stamp, {id: box})."""
    msg = bgr_to_image(image, "bgr8", header=Header(stamp=probe.now(), frame_id="cam"))
    probe.publish(msg)
    stamp = msg.header.stamp
    assert probe.wait_until(lambda: len(probe.with_stamp("detections", stamp)) >= 1, WAIT_S), "no detections"
    (record,) = probe.with_stamp("detections", stamp)
    return stamp, {int(d.id): detection_box(d) for d in record.msg.detections}


def test_two_targets_one_node_ids_limit_and_removal(node_and_probe):
    node, probe, domain_id = node_and_probe
    seq = make_sequence("lookalike")
    first = bgr_to_image(seq.frames[0], "bgr8", header=Header(stamp=probe.now(), frame_id="cam"))
    probe.publish(first)
    face = tuple(int(round(v)) for v in seq.boxes[0])
    twin = tuple(int(round(v)) for v in seq.twin[0])
    assert probe.wait_until(lambda: probe.init_box(face, stamp=first.header.stamp, timeout=5.0).success, WAIT_S)
    answers = [probe.init_box(twin, stamp=first.header.stamp)]
    answers.append(probe.init_box((10, 10, 40, 40), stamp=first.header.stamp))
    assert answers[0].success and answers[0].status_message.startswith("tracking target 2:"), answers[0]
    assert not answers[1].success and "max_targets is 2" in answers[1].status_message, answers[1]

    boxes = {1: [], 2: []}
    for i in range(1, REMOVE_AT):
        stamp, tracked = publish_and_wait(probe, seq.frames[i], 2)
        assert set(tracked) <= {1, 2}, tracked   # the refused third box never became a target
        for target_id, truth in ((1, seq.boxes[i]), (2, seq.twin[i])):
            if target_id in tracked:
                boxes[target_id].append(float(np.squeeze(iou_xywh(np.asarray(tracked[target_id]), truth))))
    for target_id in (1, 2):
        assert len(boxes[target_id]) >= (REMOVE_AT - 1) // 2, (target_id, len(boxes[target_id]))
        assert np.mean(boxes[target_id]) >= HELD_IOU, (target_id, np.round(boxes[target_id], 2))
    both = sum(1 for r in probe.snapshot("detections") if {d.id for d in r.msg.detections} == {"1", "2"})
    assert both >= (REMOVE_AT - 1) // 2, "one detection array per frame carries both targets"

    unknown = probe.remove_target(9)
    assert not unknown.success and "no target with id 9" in unknown.message and "target 1" in unknown.message
    removed = subprocess.run(console_script("dasiamrpn-client") + ["remove", "1"], env=ros_env(domain_id),
                             capture_output=True, text=True, timeout=WAIT_S)   # the README's way
    assert removed.returncode == 0 and "ok: ended target 1" in removed.stdout, (removed.stdout, removed.stderr)
    after = [publish_and_wait(probe, seq.frames[i], 1)[1] for i in range(REMOVE_AT, REMOVE_AT + 6)]
    assert all(set(tracked) <= {2} for tracked in after) and any(2 in tracked for tracked in after), after
    assert any(m.msg.id == 1 and m.msg.action == m.msg.REMOVE for m in probe.snapshot("marker"))

    assert probe.wait_until(lambda: any(s.name.endswith("target 2") for r in probe.snapshot("diagnostics")
                                        for s in r.msg.status), 10.0), "a /diagnostics entry per target"
    assert probe.stop_tracking().success

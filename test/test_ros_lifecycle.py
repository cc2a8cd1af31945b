"""The managed node (``dasiamrpn-tracker-lifecycle-node``) driven through the lifecycle_msgs
services from another process, as a lifecycle manager does: a configure that fails on a bad
checkpoint (the node stays up, unconfigured), then succeeds once the parameter is fixed; activate
tracks; deactivate stops publishing and serving; cleanup; shutdown exits 0."""
from __future__ import annotations

import time

import numpy as np

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from dasiamrpn_ros.image_conversion import bgr_to_image  # noqa: E402
from dasiamrpn_ros.testing import (DomainLease, NodeProcess, Probe, console_script,  # noqa: E402
                                   make_random_checkpoint)

NODE = "dasiamrpn_tracker"
SIZE = (96, 128)
WAIT_S = 60.0
EXIT_S = 10.0


def test_lifecycle_transitions(tmp_path):
    checkpoint = make_random_checkpoint(tmp_path / "random_vot.pth")
    command = console_script("dasiamrpn-tracker-lifecycle-node") + [
        "--ros-args", "-p", f"checkpoint:={tmp_path / 'missing.pth'}", "-p", "device:=cpu", "-p", "mode:=siamrpn"]
    with DomainLease() as lease:
        node = NodeProcess(command, lease.domain_id, tmp_path / "node.log")
        probe = Probe(lease.domain_id)
        change = probe.node.create_client(ChangeState, f"/{NODE}/change_state")
        get = probe.node.create_client(GetState, f"/{NODE}/get_state")
        try:
            assert change.wait_for_service(timeout_sec=WAIT_S) and get.wait_for_service(timeout_sec=WAIT_S), \
                node.output()

            def state() -> int:
                return probe.call(get, GetState.Request()).current_state.id

            def transition(tid: int) -> bool:
                return probe.call(change, ChangeState.Request(transition=Transition(id=tid))).success

            assert state() == State.PRIMARY_STATE_UNCONFIGURED
            assert not transition(Transition.TRANSITION_CONFIGURE)          # the bad checkpoint
            assert node.alive() and state() == State.PRIMARY_STATE_UNCONFIGURED
            assert node.wait_for_output("configure failed: model failed to load", 10.0)
            assert "missing.pth" in node.output()
            assert probe.set_parameters({"checkpoint": str(checkpoint)})[0].successful
            assert transition(Transition.TRANSITION_CONFIGURE)
            assert state() == State.PRIMARY_STATE_INACTIVE
            assert not probe.init_client.wait_for_service(timeout_sec=1.0)  # nothing is served while inactive

            assert transition(Transition.TRANSITION_ACTIVATE)
            assert state() == State.PRIMARY_STATE_ACTIVE
            probe.wait_ready(node)
            image = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
            probe.init_on_new_frame(image, (40, 30, 32, 28))
            msg = bgr_to_image(image, header=Header(stamp=probe.now(), frame_id="cam"))
            probe.publish(msg)
            assert probe.wait_box(msg.header.stamp, WAIT_S) is not None, node.output()[-2000:]

            assert transition(Transition.TRANSITION_DEACTIVATE)
            assert state() == State.PRIMARY_STATE_INACTIVE
            quiet = bgr_to_image(image, header=Header(stamp=probe.now(), frame_id="cam"))
            probe.publish(quiet)
            time.sleep(1.0)
            assert probe.boxes_with_stamp(quiet.header.stamp) == []
            assert not probe.init_client.wait_for_service(timeout_sec=1.0)

            assert transition(Transition.TRANSITION_CLEANUP)
            assert state() == State.PRIMARY_STATE_UNCONFIGURED
            assert transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
            start = time.monotonic()
            while node.alive() and time.monotonic() - start < EXIT_S:
                time.sleep(0.1)
            assert not node.alive(), "shutdown did not end the process"
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()

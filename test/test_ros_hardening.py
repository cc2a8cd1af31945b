"""The tracker node hardened for robots (issue 14), each item against a real node process over
Fast DDS: faults are injected from outside through the node's faults file (dasiamrpn_ros/faults.py),
never by mocking rclpy.

* a service callback that raises answers success=false naming the exception; the node keeps
  tracking the previous target (init) and keeps running (stop);
* ~/stop answers within one tracking step while an init_box reloads a model, and cancels that init;
* tracking errors escalate /diagnostics to WARN then ERROR; no image while tracking is a WARN;
* the frame buffer is bounded in bytes, shown in /diagnostics;
* rclpy's own parameters (use_sim_time, a `ros2 param dump` loaded back) are accepted;
* the parameters file applies to a renamed node (`__node:=...`): the node here runs as `tracker_left`;
* no output of a session after ~/stop or a new ~/init_box has answered (many calls racing 60 Hz);
* init by stamp on a frame 20 frames old catches up and follows a fast target;
* SIGTERM during a model reload or a slow tracking step exits 0 within a few seconds;
* `client echo | head -n 1` exits quietly.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from std_msgs.msg import Header  # noqa: E402

from dasiamrpn_core.demo_sequence import make_sequence  # noqa: E402
from dasiamrpn_core.geometry import iou_xywh  # noqa: E402
from dasiamrpn_ros.faults import ENV as FAULTS_ENV  # noqa: E402
from dasiamrpn_ros.image_conversion import bgr_to_image  # noqa: E402
from dasiamrpn_ros.testing import (DomainLease, NodeProcess, Probe, console_script, make_random_checkpoint,  # noqa: E402
                                    ros_env)

REPO = Path(__file__).resolve().parents[1]
NODE = "tracker_left"          # a renamed node: the parameters file's `/**:` key must still apply
CAMERA_TOPIC = "/camera/image_raw"
SIZE = (96, 128)               # (H, W): 36,864 bytes per bgr8 frame
BOX = (40, 30, 32, 28)
WAIT_S = 60.0
DIAGNOSTICS_PERIOD_S = 0.2
STOP_ANSWER_S = 1.5            # ~/stop during a 4 s model reload must answer well within this
SHUTDOWN_S = 8.0               # SIGTERM during a 30 s reload / tracking step: exit within this


def write_faults(path: Path, faults: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults))
    tmp.replace(path)


def params_file(directory: Path, **changes) -> Path:
    """config/tracker.yaml with some values changed (the file's own `/**:` key kept)."""
    data = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    (key,) = data
    data[key]["ros__parameters"].update(changes)
    path = directory / "tracker.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Harness:
    def __init__(self, node: NodeProcess, probe: Probe, checkpoint: Path, faults: Path, domain_id: int):
        self.node, self.probe, self.checkpoint, self.faults = node, probe, checkpoint, faults
        self.domain_id = domain_id
        self._base = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)

    def frame(self) -> object:
        return bgr_to_image(self._base, "bgr8", header=Header(stamp=self.probe.now(), frame_id="cam"))

    def publish_tracked(self, timeout: float = WAIT_S):
        """Publish frames until one gets a box; that frame's detections message (or None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.frame()
            self.probe.publish(msg)
            if self.probe.wait_box(msg.header.stamp, 2.0) is not None:
                self.probe.wait_until(lambda: self._detections(msg.header.stamp), 2.0)
                return self._detections(msg.header.stamp)
        raise AssertionError(f"no box for a good frame:\n{self.node.output()[-3000:]}")

    def _detections(self, stamp):
        found = [r.msg for r in self.probe.snapshot("detections") if r.msg.header.stamp == stamp]
        return found[0] if found else None

    def start_tracking(self) -> int:
        """Initialise on a fresh frame; the new target id."""
        for _ in range(60):
            msg = self.frame()
            self.probe.publish(msg)
            time.sleep(0.1)
            response = self.probe.init_box(BOX, stamp=msg.header.stamp)
            if response.success:
                self.publish_tracked()
                return int(response.status_message.split("tracking target ")[1].split(":")[0])
        raise AssertionError(f"init failed: {response.status_message}")

    def diagnostics(self, predicate=lambda status: True, timeout: float = WAIT_S):
        """The first /diagnostics status, published after this call, that satisfies ``predicate``."""
        start = self.probe.count("diagnostics")
        found = []

        def check() -> bool:
            for r in self.probe.snapshot("diagnostics")[start:]:
                if predicate(r.msg.status[0]):
                    found.append(r.msg.status[0])
                    return True
            return False
        assert self.probe.wait_until(check, timeout), \
            f"no matching diagnostics; last: {self.probe.snapshot('diagnostics')[-1].msg.status[0]}"
        return found[0]


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ros_hardening")
    checkpoint = make_random_checkpoint(directory / "random_vot.pth")
    faults = directory / "faults.json"
    write_faults(faults, {})
    params = params_file(directory, mode="siamrpn", diagnostics_period=DIAGNOSTICS_PERIOD_S,
                         checkpoint=str(checkpoint), device="cpu")
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, directory / "node.log", {}, params_file=params,
                                   remap={"image": CAMERA_TOPIC, "__node": NODE},
                                   extra_env={FAULTS_ENV: str(faults)})
        probe = Probe(lease.domain_id, node_name=NODE, image_topic=CAMERA_TOPIC)
        try:
            probe.wait_ready(node)
            yield Harness(node, probe, checkpoint, faults, lease.domain_id)
        finally:
            probe.close()
            code = node.stop()
        assert code == 0, node.output()


def test_parameters_file_applies_to_a_renamed_node(harness):
    status = harness.diagnostics()
    assert status.name.startswith(f"/{NODE}") and values(status)["mode"] == "siamrpn"


@pytest.mark.parametrize("exception", ["RuntimeError", "ImportError"])
def test_init_that_raises_answers_and_keeps_the_previous_target(harness, exception):
    target = harness.start_tracking()
    write_faults(harness.faults, {"init": exception})
    try:
        response = harness.probe.init_box((10, 10, 30, 30))
    finally:
        write_faults(harness.faults, {})
    assert not response.success
    assert exception in response.status_message and f"still tracking target {target}" in response.status_message
    assert harness.node.alive()
    detections = harness.publish_tracked()
    assert detections.detections[0].id == str(target)   # the previous target, not a half-initialised one


def test_stop_that_raises_answers(harness):
    harness.start_tracking()
    write_faults(harness.faults, {"stop": "RuntimeError"})
    try:
        response = harness.probe.stop_tracking()
    finally:
        write_faults(harness.faults, {})
    assert not response.success and "RuntimeError while stopping" in response.message
    assert harness.node.alive()
    assert harness.probe.stop_tracking().message == "tracking stopped"


def test_stop_answers_while_init_reloads_a_model(harness, tmp_path):
    harness.start_tracking()
    other = shutil.copy(harness.checkpoint, tmp_path / "copy.pth")
    assert harness.probe.set_parameters({"checkpoint": str(other)})[0].successful
    write_faults(harness.faults, {"load_delay_s": 4.0})
    try:
        future = harness.probe.init_client.call_async(_init_request(BOX))
        time.sleep(1.0)   # the init is inside the 4 s model load now
        start = time.monotonic()
        response = harness.probe.stop_tracking()
        answered_s = time.monotonic() - start
        assert harness.probe.wait_until(future.done, WAIT_S)
    finally:
        write_faults(harness.faults, {})
    assert response.success and answered_s < STOP_ANSWER_S, f"stop answered after {answered_s:.2f} s"
    init = future.result()
    assert not init.success and "cancelled: ~/stop was called" in init.status_message, init.status_message
    assert harness.probe.set_parameters({"checkpoint": str(harness.checkpoint)})[0].successful
    harness.start_tracking()


def _init_request(box):
    from sensor_msgs.srv import SetCameraInfo
    req = SetCameraInfo.Request()
    roi = req.camera_info.roi
    roi.x_offset, roi.y_offset, roi.width, roi.height = box
    return req


def test_tracking_errors_escalate_diagnostics(harness):
    from diagnostic_msgs.msg import DiagnosticStatus
    harness.start_tracking()
    write_faults(harness.faults, {"track": "RuntimeError"})
    stop = threading.Event()
    feeder = threading.Thread(target=lambda: [harness.probe.publish(harness.frame()) or time.sleep(0.03)
                                              for _ in iter(lambda: stop.is_set(), True)])
    feeder.start()
    try:
        warn = harness.diagnostics(lambda s: s.level == DiagnosticStatus.WARN and "tracking raised" in s.message)
        error = harness.diagnostics(lambda s: s.level == DiagnosticStatus.ERROR)
    finally:
        write_faults(harness.faults, {})
        stop.set()
        feeder.join()
    assert "RuntimeError" in warn.message or "tracking raised on the last" in warn.message
    assert "the model is not usable" in error.message and "RuntimeError" in error.message
    assert harness.node.alive()
    harness.publish_tracked()   # the fault is gone: tracking again, and the level comes back to OK
    harness.diagnostics(lambda s: s.level == DiagnosticStatus.OK and "tracking" in s.message)


def test_no_image_while_tracking_warns(harness):
    from diagnostic_msgs.msg import DiagnosticStatus
    assert harness.probe.set_parameters({"image_timeout": 0.5})[0].successful
    try:
        harness.start_tracking()
        status = harness.diagnostics(lambda s: s.level == DiagnosticStatus.WARN and "no image for" in s.message)
        assert f"on {CAMERA_TOPIC}" in status.message
        harness.publish_tracked()
        harness.diagnostics(lambda s: s.level == DiagnosticStatus.OK)
    finally:
        harness.probe.set_parameters({"image_timeout": 1.0})


def test_frame_buffer_is_bounded_in_bytes(harness):
    harness.probe.stop_tracking()
    assert harness.probe.set_parameters({"frame_buffer_max_mb": 1.0})[0].successful
    try:
        for _ in range(40):   # 40 frames of 36,864 bytes, more than 1 MiB; frame_buffer_size is 30
            harness.probe.publish(harness.frame())
            time.sleep(0.02)
        status = harness.diagnostics(lambda s: int(values(s)["frames_evicted_for_memory"]) > 0)
        v = values(status)
        assert int(v["frame_buffer_frames"]) == 2**20 // (SIZE[0] * SIZE[1] * 3) == 28
        assert float(v["frame_buffer_mb"]) <= 1.0 and v["frame_buffer_limit_mb"] == "1.0"
    finally:
        harness.probe.set_parameters({"frame_buffer_max_mb": 200.0})


def test_rclpy_parameters_and_a_dump_loaded_back(harness):
    from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters
    from rclpy.parameter import Parameter
    assert harness.probe.set_parameters({"use_sim_time": True})[0].successful
    assert harness.probe.set_parameters({"use_sim_time": False})[0].successful
    node = harness.probe.node
    lister = node.create_client(ListParameters, f"/{NODE}/list_parameters")
    getter = node.create_client(GetParameters, f"/{NODE}/get_parameters")
    setter = node.create_client(SetParameters, f"/{NODE}/set_parameters")
    names = list(harness.probe.call(lister, ListParameters.Request()).result.names)
    got = harness.probe.call(getter, GetParameters.Request(names=names)).values
    dump = [Parameter.from_parameter_msg(_msg(n, v)) for n, v in zip(names, got)]
    results = harness.probe.call(setter, SetParameters.Request(
        parameters=[p.to_parameter_msg() for p in dump])).results
    failed = {p.name: r.reason for p, r in zip(dump, results) if not r.successful}
    # what `ros2 param load` of a dump does: only rclpy's read-only parameters may refuse
    assert set(failed) <= {"start_type_description_service"}, failed
    assert "use_sim_time" in names and "frame_buffer_max_mb" in names


def _msg(name, value):
    from rcl_interfaces.msg import Parameter as ParameterMsg
    return ParameterMsg(name=name, value=value)


def test_client_echo_into_head_exits_quietly(harness):
    harness.start_tracking()
    proc = subprocess.Popen(console_script("dasiamrpn-client") + ["--node", f"/{NODE}", "echo"],
                            env=ros_env(harness.domain_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = b""
        deadline = time.monotonic() + WAIT_S
        while not line and time.monotonic() < deadline:
            harness.probe.publish(harness.frame())
            time.sleep(0.05)
            if proc.poll() is not None:
                break
            line = proc.stdout.readline() if _readable(proc.stdout) else b""
        assert line, proc.stderr.read().decode() if proc.poll() is not None else "no line"
        proc.stdout.close()      # what `head -n 1` does after its line
        for _ in range(100):
            harness.probe.publish(harness.frame())
            time.sleep(0.05)
            if proc.poll() is not None:
                break
        code = proc.wait(WAIT_S)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0 and "Traceback" not in err and "BrokenPipeError" not in err, (code, err)


def _readable(stream) -> bool:
    import select
    return bool(select.select([stream], [], [], 0.2)[0])


@pytest.fixture
def fresh_node(tmp_path):
    """A node of its own (the caller's params and faults), its probe and its faults file."""
    started = []

    def start(params: dict, faults: dict | None = None, checkpoint: Path | None = None):
        lease = DomainLease()
        faults_path = tmp_path / f"faults{len(started)}.json"
        write_faults(faults_path, faults or {})
        base = {"checkpoint": str(checkpoint or make_random_checkpoint(tmp_path / "random_vot.pth")),
                "device": "cpu", "diagnostics_period": DIAGNOSTICS_PERIOD_S}
        node = NodeProcess.tracker(lease.domain_id, tmp_path / f"node{len(started)}.log", {**base, **params},
                                   params_file=REPO / "config" / "tracker.yaml", remap={"image": CAMERA_TOPIC},
                                   extra_env={FAULTS_ENV: str(faults_path)})
        probe = Probe(lease.domain_id, image_topic=CAMERA_TOPIC)
        started.append((lease, node, probe))
        probe.wait_ready(node)
        return node, probe, faults_path

    yield start
    for lease, node, probe in started:
        probe.close()
        node.stop(signal.SIGKILL) if node.alive() else node.stop()
        lease.release()


@pytest.mark.slow
def test_no_output_of_an_old_session_after_stop_or_init_answered(fresh_node):
    node, probe, _ = fresh_node({"mode": "siamrpn"})
    base = np.random.default_rng(1).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    stop = threading.Event()

    def stream():   # 60 Hz
        while not stop.is_set():
            probe.publish(bgr_to_image(base, "bgr8", header=Header(stamp=probe.now(), frame_id="cam")))
            time.sleep(1 / 60)
    feeder = threading.Thread(target=stream)
    feeder.start()
    rng = np.random.default_rng(2)
    answered = []
    try:
        time.sleep(0.5)
        for i in range(60):
            if rng.random() < 0.6:
                response = probe.init_box((10 + i % 20, 20, 30, 30))
                if response.success:
                    answered.append(int(response.status_message.split("tracking target ")[1].split(":")[0]))
            else:
                probe.stop_tracking()
            time.sleep(float(rng.uniform(0.0, 0.08)))
        probe.stop_tracking()
        time.sleep(0.5)
    finally:
        stop.set()
        feeder.join()
    outputs = [r.msg for r in probe.snapshot("detections")]
    assert len(answered) >= 15 and len(outputs) > 40, (len(answered), len(outputs))
    # one ordered topic: a target's detections never follow the end of its session (the empty array
    # of ~/stop in siamrpn mode, which is never lost) or a later target's detections
    ended, newest = set(), 0
    for msg in outputs:
        if not msg.detections:
            ended.add(newest)
            continue
        target = int(msg.detections[0].id)
        assert target >= newest, f"target {target} after target {newest}"
        assert target not in ended, f"target {target} after its ~/stop"
        newest = target
    assert {int(m.detections[0].id) for m in outputs if m.detections} <= set(answered)


def test_init_on_an_older_frame_catches_up_with_a_fast_target(fresh_node):
    from dasiamrpn_core import DEFAULT_CHECKPOINT
    demo = make_sequence("demo")
    frames = list(range(0, 48, 2))[:24]    # every 2nd frame: the target moves ~16 px per frame
    node, probe, _ = fresh_node({"mode": "dasiamrpn", "image_reliability": "reliable", "image_queue_depth": 30},
                                checkpoint=DEFAULT_CHECKPOINT)
    messages = [bgr_to_image(demo.frames[i], "bgr8", header=Header(stamp=probe.now(), frame_id="cam"))
                for i in frames]
    received = 0
    for msg in messages:   # paced by the node's received count: every frame is buffered
        probe.publish(msg)
        received += 1
        ok = probe.wait_until(lambda: _received(probe) >= received, WAIT_S)
        assert ok, f"frame {received} not received:\n{node.output()[-2000:]}"
    init_at = len(messages) - 1 - 20           # 20 frames older than the newest
    response = probe.init_box(tuple(int(round(v)) for v in demo.boxes[frames[init_at]]),
                              stamp=messages[init_at].header.stamp)
    assert response.success, response.status_message
    newest = messages[-1]
    got = probe.wait_box(newest.header.stamp, WAIT_S)
    assert got is not None, node.output()[-2000:]
    from dasiamrpn_ros.messages import polygon_box
    box = polygon_box(got.msg)
    assert float(np.squeeze(iou_xywh(np.array(box), np.array(demo.boxes[frames[-1]])))) >= 0.5, (box, demo.boxes[frames[-1]])
    tracked = [r.msg.header.stamp for r in probe.snapshot("box")]
    assert tracked == [m.header.stamp for m in messages[init_at + 1:]], "every frame since the init frame, in order"


def _received(probe: Probe) -> int:
    records = probe.snapshot("diagnostics")
    if not records:
        return 0
    return int({kv.key: kv.value for kv in records[-1].msg.status[0].values}["frames_received"])


@pytest.mark.parametrize("fault", ["load_delay_s", "track_delay_s"])
def test_sigterm_during_a_slow_reload_or_tracking_step_exits_0_quickly(fresh_node, tmp_path, fault):
    node, probe, faults = fresh_node({"mode": "siamrpn"})
    if not probe.init_on_new_frame(np.zeros((*SIZE, 3), np.uint8), BOX):
        raise AssertionError(node.output())
    write_faults(faults, {fault: 30.0})
    if fault == "load_delay_s":
        other = shutil.copy(tmp_path / "random_vot.pth", tmp_path / "copy.pth")
        assert probe.set_parameters({"checkpoint": str(other)})[0].successful
        probe.init_client.call_async(_init_request(BOX))       # stays inside the 30 s load
    else:
        probe.publish(bgr_to_image(np.zeros((*SIZE, 3), np.uint8), "bgr8",
                                   header=Header(stamp=probe.now(), frame_id="cam")))  # a 30 s step
    time.sleep(1.5)
    start = time.monotonic()
    code = node.stop(signal.SIGTERM, timeout=SHUTDOWN_S)
    took = time.monotonic() - start
    assert code == 0 and took < SHUTDOWN_S, (code, took, node.output()[-2000:])
    assert "still busy" in node.output()


def _target_id(response) -> int:
    return int(response.status_message.split("tracking target ")[1].split(":")[0])


def test_live_threshold_changes_are_seen_in_the_next_frames_states(fresh_node):
    """Threshold parameters set at run time reach the tracker, seen in ~/state on the next frames
    (longterm mode, the built-in reappear sequence: the target leaves the view at frame 25):
    failure_threshold 0 with similarity_failure_ratio 0 keeps a confident box on the background; the
    similarity ratio back at -1 (the default model's own 0.7) starts the search after failure_patience
    low frames; failure_threshold 0.9 (ratio 0 again) does too; lost_after_frames 1 turns the search into
    lost at once and 1000 back into searching."""
    from dasiamrpn_core import DEFAULT_CHECKPOINT
    seq = make_sequence("reappear")
    gone = seq.frames[30]
    assert not seq.present[30]
    node, probe, _ = fresh_node({"mode": "longterm", "image_reliability": "reliable", "failure_threshold": 0.0,
                                 "similarity_failure_ratio": 0.0}, checkpoint=DEFAULT_CHECKPOINT)
    assert probe.init_on_new_frame(seq.frames[0], tuple(int(round(v)) for v in seq.boxes[0]))

    def states(frames: list) -> list[str]:
        start = probe.count("state")
        for frame in frames:
            msg = bgr_to_image(frame, "bgr8", header=Header(stamp=probe.now(), frame_id="cam"))
            probe.publish(msg)
            assert probe.wait_box(msg.header.stamp, WAIT_S) is not None, node.output()[-2000:]
        assert probe.wait_until(lambda: probe.count("state") >= start + len(frames), WAIT_S)
        return [r.msg.data for r in probe.snapshot("state")[start:start + len(frames)]]

    def set_live(**values) -> None:
        results = probe.set_parameters(values)
        assert all(r.successful for r in results), [r.reason for r in results]

    assert states(seq.frames[1:25] + [gone] * 6) == ["tracking"] * 30     # never low at threshold 0
    patience = 3
    set_live(similarity_failure_ratio=-1.0)     # the model file's own value: low on the background
    assert states([gone] * (patience + 3)) == ["tracking"] * patience + ["searching"] * 3
    probe.init_on_new_frame(seq.frames[0], tuple(int(round(v)) for v in seq.boxes[0]))
    set_live(similarity_failure_ratio=0.0)
    set_live(recovery_threshold=0.95, failure_threshold=0.9)   # one by one: recovery >= failure at each
    assert states(seq.frames[1:3]) == ["tracking"] * 2
    assert states([gone] * (patience + 3)) == ["tracking"] * patience + ["searching"] * 3
    set_live(lost_after_frames=1)
    assert states([gone] * 2) == ["lost"] * 2
    set_live(lost_after_frames=1000)
    assert states([gone] * 2) == ["searching"] * 2


def test_the_last_of_concurrent_init_box_calls_wins(fresh_node):
    """init_box calls racing each other: all answer, with increasing target ids in the order served, and
    what the node tracks afterwards is the box of the call served last (its id in ~/detections)."""
    from dasiamrpn_core import DEFAULT_CHECKPOINT
    node, probe, _ = fresh_node({"mode": "siamrpn", "image_reliability": "reliable"}, checkpoint=DEFAULT_CHECKPOINT)
    base = make_sequence("demo", num_frames=1).frames[0]
    # far apart in the 640 x 480 frame; on this still frame the trained model keeps each (IoU > 0.9)
    boxes = [(278, 198, 84, 84), (40, 40, 80, 80), (480, 40, 80, 80), (60, 360, 80, 80)]
    assert probe.init_on_new_frame(base, boxes[0])
    for round_ in range(4):
        answers: dict[int, int] = {}

        def call(i: int) -> None:
            response = probe.init_box(boxes[i])
            assert response.success, response.status_message
            answers[_target_id(response)] = i
        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(boxes))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT_S)
        assert len(answers) == len(boxes), answers
        last_id = max(answers)
        winner = boxes[answers[last_id]]
        msg = bgr_to_image(base, "bgr8", header=Header(stamp=probe.now(), frame_id="cam"))
        probe.publish(msg)
        got = probe.wait_box(msg.header.stamp, WAIT_S)
        assert got is not None, node.output()[-2000:]
        from dasiamrpn_ros.messages import polygon_box
        box = np.array(polygon_box(got.msg))
        ious = [float(np.squeeze(iou_xywh(box, np.array(b, float)))) for b in boxes]
        assert ious[answers[last_id]] > 0.5 and sorted(ious)[-2] < 0.1, (round_, answers, ious, winner)
        assert probe.wait_until(lambda: any(r.msg.header.stamp == msg.header.stamp and r.msg.detections
                                            for r in probe.snapshot("detections")), WAIT_S)
        detection = [r.msg for r in probe.snapshot("detections") if r.msg.header.stamp == msg.header.stamp][0]
        assert int(detection.detections[0].id) == last_id

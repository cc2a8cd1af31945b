"""The ``dasiamrpn_tracker`` ROS 2 node: camera images in, init-box service, tracked box and score out.

Threads: the image subscription (its own mutually exclusive callback group) only validates and
buffers frames; a tracking thread takes the newest buffered frame and drops older ones, so latency
stays bounded when frames come faster than the tracker (a target initialised on an older buffered
frame first walks the frames since then, see ``sessions.py``). The targets (one, or up to
``max_targets``: one batched network call per frame) live in :class:`TargetSessions`; this file wires
them to topics and services. ``~/init_box``, ``~/stop`` and ``~/remove_target`` have their groups: a
stop answers within one tracking step even while an init reloads a model. docs/ros.md documents the
interface.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np
import torch
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from sensor_msgs.srv import SetCameraInfo
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from dasiamrpn_core import CheckpointError, ExportError, describe, load_tracker
from dasiamrpn_core.tracker import STATES

from .depth_input import DEPTH_WAIT_S, DepthInput, DepthOutcome
from .frame_buffer import BufferedFrame, FrameBuffer, Stamp
from .image_conversion import (ImageConversionError, check_image_layout,
                               compressed_to_bgr, image_to_bgr)
from .faults import Faults
from .messages import (VISION_MSGS_ERROR, Detection2DArray, DiagnosticsSnapshot, Target2D,
                       choose_detection, diagnostics_array, image_qos, matching_detections, target_status)
from .node_stats import HealthInputs, NodeStats, depth_diagnostics, health
from .parameters import PARAMS, SPECS, ModelSettings, NodeSettings, Thresholds, check_changes
from .rate_limited_log import RateLimitedLog
from .outputs import TrackerOutputs
from .sessions import Step, TargetLimit, TargetSessions, box_inside_image
from .ros_main import run_node

try:   # the project's interface package (ros_interfaces/dasiamrpn_interfaces, built by make setup)
    from dasiamrpn_interfaces.srv import RemoveTarget
    INTERFACES_ERROR = None
except ImportError as _exc:
    RemoveTarget = None
    INTERFACES_ERROR = (f"dasiamrpn_interfaces is not importable ({_exc}): ~/remove_target is not offered "
                        f"(build it: make setup, or colcon build in a ROS 2 workspace)")

NODE_NAME = "dasiamrpn_tracker"
EXECUTOR_THREADS = 6     # images, init_box, stop, diagnostics, parameter services, depth
WAIT_FRAME_S = 0.2       # the tracking thread re-checks for shutdown this often
LOG_PERIOD_S = 5.0       # per-kind throttle of bad-input log lines
NS_PER_MS = 1e6
BYTES_PER_MB = 2**20
CLOSE_TIMEOUT_S = 2.0      # the tracking thread is waited for this long at shutdown
DEPTH_QUEUE_DEPTH = 5      # use_depth: keep-last depth of the depth and camera_info subscriptions


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, model failed to load); the message says why."""


@dataclass(frozen=True)
class InitOutcome:
    success: bool
    message: str


class TrackerCore:
    """The tracker node's behaviour, over an rclpy node of either kind (a mixin: the class that uses
    it also derives from ``Node`` or ``LifecycleNode``). The plain node runs all four steps at
    construction; the lifecycle node maps them onto its transitions:

    * :meth:`_declare` (construction): parameters, their callback, the node's state;
    * :meth:`_configure`: load the model (``StartupError`` naming the reason);
    * :meth:`_activate`: subscriptions, publishers, services, the diagnostics timer, the tracking thread;
    * :meth:`_deactivate`: stop tracking and destroy what ``_activate`` made; :meth:`_cleanup`: drop the model.
    """

    def _declare(self) -> None:
        try:
            for spec in PARAMS:
                self.declare_parameter(spec.name, spec.default, spec.descriptor())
            self._settings = NodeSettings.from_values(self._parameter_values())
        except (ParameterException, ValueError) as exc:
            raise StartupError(f"invalid parameters: {exc}") from exc
        self._log_bad = RateLimitedLog(self.get_logger().warning, LOG_PERIOD_S)
        self._bridge = CvBridge()
        self._buffer: FrameBuffer[Any] = FrameBuffer(self._settings.frame_buffer_size,
                                                     self._buffer_bytes(self._settings))
        self._stats = NodeStats()
        self._faults = Faults()
        self._depth: DepthInput | None = None   # use_depth: made by _activate
        self._depth_problem = ""                 # the newest depth problem, for diagnostics

        # the loaded model (a tracker without a target: every target is a fresh() copy) and the
        # targets; guarded by _tracker_lock. ~/init_box builds and initialises a new target's tracker
        # outside this lock and adds it only once its init succeeded, so a failed init changes nothing.
        self._tracker_lock = threading.Lock()
        self._tracker = None
        self._model_info: dict = {}
        self._last_problem = ""   # the newest bad input / failure, for diagnostics
        self._notice = ""         # a pending model reload, for diagnostics
        self._track_failures = 0  # frames in a row on which tracking raised

        # the targets change under both locks, and every output is published under _session_lock
        # for the targets still there, so no output of a target goes out after ~/stop, its
        # ~/remove_target or a replacing ~/init_box has answered
        self._session_lock = threading.Lock()
        self._sessions = TargetSessions(self._settings.max_targets, self._settings.mutual_awareness)
        self._stops = 0          # ~/stop calls so far (an init that overlaps one is cancelled)
        self._last_image_ns = time.monotonic_ns()
        self._in_callbacks = 0   # service callbacks running now (shutdown does not wait for them)
        self._busy_lock = threading.Lock()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._entities: list[tuple[Callable[[Any], Any], Any]] = []   # (destroy, entity) made by _activate
        # validated and applied in one callback: rclpy sets the values right after it accepts them
        # (Humble's rclpy has no post-set callback)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _configure(self) -> None:
        """Load the model with the current parameters; ``StartupError`` with the reason."""
        self._settings = NodeSettings.from_values(self._parameter_values())
        try:
            self._tracker = self._load_model(self._settings.model, self._settings.thresholds)
        except (CheckpointError, ExportError, ValueError, OSError, RuntimeError) as exc:
            raise StartupError(f"model failed to load: {exc}") from exc
        self._loaded_model: ModelSettings = self._settings.model
        self._applied_thresholds: Thresholds = self._settings.thresholds
        self._notice = ""
        self._model_info = describe(self._tracker)
        self.get_logger().info(_model_line(self._model_info))

    def _made(self, destroy: Callable[[Any], Any], entity):
        self._entities.append((destroy, entity))
        return entity

    def _activate(self) -> None:
        """Subscribe, advertise, serve and start the tracking thread."""
        settings = self._settings
        self._buffer = FrameBuffer(settings.frame_buffer_size, self._buffer_bytes(settings))
        self._buffer.in_order = settings.frame_policy == "every"
        self._image_group = MutuallyExclusiveCallbackGroup()
        self._init_group = MutuallyExclusiveCallbackGroup()   # init_box calls run one at a time ...
        self._stop_group = MutuallyExclusiveCallbackGroup()   # ... and never delay a stop
        self._diagnostics_group = MutuallyExclusiveCallbackGroup()
        sub, pub = self.destroy_subscription, self.destroy_publisher
        qos = image_qos(settings.image_reliability, settings.image_queue_depth)
        if settings.use_compressed:
            self._image_sub = self._made(sub, self.create_subscription(
                CompressedImage, "image/compressed", self._on_compressed, qos, callback_group=self._image_group))
        else:
            self._image_sub = self._made(sub, self.create_subscription(
                Image, "image", self._on_image, qos, callback_group=self._image_group))
        self._out = TrackerOutputs(self, self._made, settings.use_depth, self.get_logger().warning)
        self._diag_pub = self._made(pub, self.create_publisher(DiagnosticArray, "/diagnostics", 10))
        init_service = self._made(self.destroy_service, self.create_service(
            SetCameraInfo, "~/init_box", self._on_init_box, callback_group=self._init_group))
        if VISION_MSGS_ERROR is None:   # a detector starts (and, once lost, restarts) tracking
            self._made(sub, self.create_subscription(Detection2DArray, "~/init_detections", self._on_init_detections,
                                                     10, callback_group=self._init_group))
        self._made(self.destroy_service, self.create_service(
            Trigger, "~/stop", self._on_stop, callback_group=self._stop_group))
        if RemoveTarget is not None:
            self._made(self.destroy_service, self.create_service(
                RemoveTarget, "~/remove_target", self._on_remove_target, callback_group=self._stop_group))
        else:
            self.get_logger().warning(INTERFACES_ERROR)
        self._made(self.destroy_timer, self.create_timer(settings.diagnostics_period, self._publish_diagnostics,
                                                         callback_group=self._diagnostics_group))
        self._activate_depth(settings)
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._track_loop, name="tracking", daemon=True)
        self._worker.start()
        topic = self._image_sub.topic_name
        depth = (f" and depth on {self._depth.depth_topic} + {self._depth.info_topic}"
                 if self._depth is not None else "")
        init_box = self.resolve_service_name(init_service.srv_name)   # fully qualified: /<ns>/<node>/init_box
        self.get_logger().info(f"waiting for images on {topic}{depth}; call {init_box} to start")

    def _activate_depth(self, settings: NodeSettings) -> None:
        """use_depth: the depth and camera_info subscriptions (else none)."""
        self._depth = None
        if not settings.use_depth:
            return
        sub = self.destroy_subscription
        group = MutuallyExclusiveCallbackGroup()
        qos = image_qos(settings.image_reliability, DEPTH_QUEUE_DEPTH)
        depth_sub = self._made(sub, self.create_subscription(Image, "depth", self._on_depth, qos,
                                                             callback_group=group))
        info_sub = self._made(sub, self.create_subscription(CameraInfo, "depth/camera_info", self._on_depth_info,
                                                            qos, callback_group=group))
        self._depth = DepthInput(depth_sub.topic_name, info_sub.topic_name)

    def _deactivate(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Stop tracking and publishing: the session ends, the thread stops, the entities go."""
        self._stop_session()
        closed = self.close(timeout)
        for destroy, entity in reversed(self._entities):
            destroy(entity)
        self._entities = []
        return closed

    def _cleanup(self) -> None:
        """Drop the model (its GPU memory goes back to the device)."""
        self._tracker = None
        self._model_info = {}
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> bool:
        """Stop the tracking thread (after the executor has shut down, before destroy_node).

        False if it is still inside a tracking step after ``timeout`` s (it is a daemon thread).
        """
        self._stopping.set()
        self._buffer.close()
        if self._worker is None:
            return True
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def busy(self) -> list[str]:
        """What is still running (for a bounded shutdown): service callbacks, the tracking thread."""
        with self._busy_lock:
            busy = [f"{self._in_callbacks} service call(s)"] if self._in_callbacks else []
        return busy + ["the tracking thread"] * (self._worker is not None and self._worker.is_alive())

    @contextmanager
    def _service_call(self):
        with self._busy_lock:
            self._in_callbacks += 1
        try:
            yield
        finally:
            with self._busy_lock:
                self._in_callbacks -= 1

    # -- parameters --------------------------------------------------------------------------
    def _parameter_values(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in SPECS}

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        # rclpy's own parameters (use_sim_time, ...) are rclpy's business: they pass through
        ours = [(p.name, p.value) for p in params if p.name in SPECS or not self.has_parameter(p.name)]
        check = check_changes(self._parameter_values(), ours)
        if not check.ok:
            self.get_logger().warning(f"parameter change rejected: {check.reason}")
            return SetParametersResult(successful=False, reason=check.reason)
        if check.reason:  # rclpy drops the reason of a successful change: log it, show it in diagnostics
            self.get_logger().info(check.reason)
            self._notice = check.reason
        if check.settings is not None and ours:
            self._apply_settings(check.settings)
        return SetParametersResult(successful=True, reason=check.reason)

    @staticmethod
    def _buffer_bytes(settings: NodeSettings) -> int:
        return int(settings.frame_buffer_max_mb * BYTES_PER_MB)

    def _apply_settings(self, settings: NodeSettings) -> None:
        self._buffer.resize(settings.frame_buffer_size, self._buffer_bytes(settings))
        self._buffer.in_order = settings.frame_policy == "every"
        self._sessions.max_targets = settings.max_targets   # the next add; lowering it ends no target
        self._settings = settings  # thresholds are applied by the tracking thread before its next frame

    # -- model -------------------------------------------------------------------------------
    def _load_model(self, model: ModelSettings, thresholds: Thresholds):
        if model.threads:
            torch.set_num_threads(model.threads)
        tracker = load_tracker(model.checkpoint, device=model.device, mode=model.mode, backend=model.backend,
                               half=model.half, threads=model.threads, **thresholds.overrides())
        if model.half and tracker.precision == "float32":
            self.get_logger().info(f"half is ignored on {tracker.device} with backend {tracker.backend} (16-bit "
                                   f"inference: float16 on CUDA, bfloat16 on CPUs with AVX512-BF16/AMX on the "
                                   f"torch and openvino backends)")
        elif model.half:   # otherwise the model line at start-up and after a reload says the precision
            self.get_logger().info(f"inference in {tracker.precision} on {tracker.device} ({tracker.backend})")
        # first-call costs paid now, not on the first frames after an init (a catch-up would stall)
        self.get_logger().info(f"warmed up in {tracker.warm_up():.2f} s")
        return tracker

    def _apply_thresholds(self) -> None:
        """Hand changed threshold parameters to the tracker (holding _tracker_lock, between frames)."""
        thresholds = self._settings.thresholds
        if thresholds != self._applied_thresholds:
            def apply(tracker) -> None:
                tracker.config = tracker.config.with_overrides(**thresholds.overrides(tracker.checkpoint.tracker))
            apply(self._tracker)
            self._sessions.set_config(apply)
            self._applied_thresholds = thresholds

    # -- images ------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self._last_image_ns = time.monotonic_ns()
        try:
            check_image_layout(msg)
        except ImageConversionError as exc:
            self._reject(exc.kind, f"rejected the image stamped {Stamp.of(msg.header.stamp)}: {exc}")
            return
        self._buffer.push(Stamp.of(msg.header.stamp), time.monotonic_ns(), msg, len(msg.data))
        self._stats.on_received()

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._last_image_ns = time.monotonic_ns()
        if len(msg.data) == 0:
            self._reject("data", f"rejected the compressed image stamped {Stamp.of(msg.header.stamp)}: "
                                 f"no data")
            return
        self._buffer.push(Stamp.of(msg.header.stamp), time.monotonic_ns(), msg, len(msg.data))
        self._stats.on_received()

    def _on_depth(self, msg: Image) -> None:
        problem = self._depth.on_depth(msg)
        if problem:
            self._depth_problem = problem
            self._log_bad("depth_image", problem)

    def _on_depth_info(self, msg: CameraInfo) -> None:
        problem = self._depth.on_info(msg)
        if problem:
            self._depth_problem = problem
            self._log_bad("depth_camera_info", problem)

    def _reject(self, kind: str, message: str) -> None:
        self._stats.on_rejected()
        self._last_problem = message
        self._log_bad(kind, message)

    def _decode(self, msg: Any) -> np.ndarray:
        if isinstance(msg, CompressedImage):
            return compressed_to_bgr(msg, self._bridge)
        return image_to_bgr(msg, self._bridge)

    # -- tracking ----------------------------------------------------------------------------
    def _track_loop(self) -> None:
        """Live frames for the live targets (newest-frame hand-out) and, while some target catches up
        after an init on an older frame, one catch-up step of it between two live frames."""
        while not self._stopping.is_set():
            with self._tracker_lock:
                catching_up = self._sessions.catching_up
            if catching_up:
                self._guarded("the catch-up frames", self._catch_up_step)
            frame = self._buffer.wait_next(0.0 if catching_up else WAIT_FRAME_S)
            if frame is not None:
                self._guarded(f"the frame stamped {frame.stamp}", self._live_step, frame)

    def _guarded(self, what: str, step: Callable[..., None], *args) -> None:
        try:
            step(*args)
        except Exception as exc:  # bad input must never kill the node: log and go on
            self._track_failures += 1
            self._reject("tracking", f"tracking failed on {what}: {type(exc).__name__}: {exc}")

    def _decoded(self, frame: BufferedFrame[Any]) -> np.ndarray | None:
        try:
            return self._decode(frame.payload)
        except ImageConversionError as exc:
            self._reject(exc.kind, f"skipped the frame stamped {frame.stamp}: {exc}")
            return None

    def _catch_up_step(self) -> None:
        with self._tracker_lock:
            self._apply_thresholds()
            start_ns = time.monotonic_ns()
            self._faults.at("track")
            steps = self._sessions.catch_up_steps(self._buffer, self._decoded)
            track_ns = time.monotonic_ns() - start_ns
        self._track_failures = 0
        for step in steps:
            self._publish_step(step, track_ns // max(1, len(steps)))

    def _live_step(self, frame: BufferedFrame[Any]) -> None:
        with self._tracker_lock:
            if not self._sessions.live_ids(frame, None):
                return
            image = self._decoded(frame)
            if image is None:
                return
            ids = self._sessions.live_ids(frame, image.shape[:2])
            if not ids:
                shape = self._sessions.first.image_shape
                self._reject("size_change", f"skipped the frame stamped {frame.stamp}: image size changed from "
                                            f"{shape[1]}x{shape[0]} to {image.shape[1]}x{image.shape[0]}; call "
                                            f"init_box to track at the new size")
                return
            self._apply_thresholds()
            start_ns = time.monotonic_ns()
            self._faults.at("track")
            step = self._sessions.track_live(frame, image, ids)
            track_ns = time.monotonic_ns() - start_ns
        self._track_failures = 0
        self._publish_step(step, track_ns)

    def _publish_step(self, step: Step, track_ns: int) -> None:
        """One frame's outputs for the targets tracked on it (those still there when it is published)."""
        frame, image = step.frame, step.image
        targets: dict[int, Target2D] = {}
        states: dict[int, str] = {}
        for target_id, result in sorted(step.results.items()):
            box = result.box if result.state != "lost" else None
            if box is not None and not all(np.isfinite(box)):
                self._reject("nan", f"the tracker returned a non-finite box {box} for target {target_id} on the "
                                    f"frame stamped {frame.stamp}: published as lost")
                box = None
            states[target_id] = result.state if box is not None else "lost"
            targets[target_id] = Target2D(target_id, box, float(result.score))
        settings = self._settings
        debug = None
        if settings.publish_debug_image and self._out.debug_watched():
            debug = self._out.debug_image(image, list(targets.values()), states, settings.max_targets > 1)
        located = self._locate(frame.stamp, image.shape[:2], {
            i: t.box for i, t in targets.items() if states[i] == "tracking" and t.box is not None})
        with self._session_lock:   # the outputs go out only for the targets still there
            current, first = self._sessions.targets, self._sessions.first
            kept = [t for i, t in targets.items() if i in current]
            if not kept:
                return  # stopped, removed or replaced while this frame was tracked
            header: Header = frame.payload.header
            if located is not None:
                self._out.publish_3d(header, located, {t.target_id: t.score for t in kept}, settings.label)
            self._out.publish_frame(header, kept, states, first.target_id if first else None, settings.label, debug)
            stamp_age_ns = self.get_clock().now().nanoseconds - (header.stamp.sec * 10**9 + header.stamp.nanosec)
            self._stats.on_tracked((time.monotonic_ns() - frame.received_ns) / NS_PER_MS, track_ns / NS_PER_MS,
                                   stamp_age_ns / NS_PER_MS)

    def _locate(self, stamp: Stamp, image_shape: tuple[int, int], boxes: dict) -> DepthOutcome | None:
        """use_depth: the 3D step of a tracked frame for the targets tracking on it (counted in
        /diagnostics, failures logged); None without depth, and an empty outcome without such targets."""
        if self._depth is None:
            return None
        if not boxes:
            return DepthOutcome(self._depth.last_frame_id)
        start_ns = time.monotonic_ns()
        height, width = image_shape
        outcome = self._depth.locate(stamp, (width, height), boxes, self._settings.depth_max_age, DEPTH_WAIT_S)
        self._stats.on_depth(["estimated"] * len(outcome.estimates) + [f.kind for f in outcome.failures.values()],
                             (time.monotonic_ns() - start_ns) / NS_PER_MS)
        for failure in outcome.failures.values():
            self._depth_problem = failure.message
            self._log_bad(f"depth_{failure.kind}", f"no 3D position ({failure.kind}): {failure.message}")
        return outcome

    # -- services ----------------------------------------------------------------------------
    def _on_init_box(self, request: SetCameraInfo.Request, response: SetCameraInfo.Response):
        with self._service_call():
            try:
                outcome = self._init_box(request)
            except Exception as exc:  # never kill the node: the caller gets the reason
                outcome = InitOutcome(False, f"{type(exc).__name__} while initialising: {exc}; "
                                             f"{self._current_target_text()}")
                self._last_problem = f"init_box: {outcome.message}"
            response.success, response.status_message = outcome.success, outcome.message
            if outcome.success:  # rclpy caches the severity per call site: one call per severity
                self.get_logger().info(f"init_box: {outcome.message}")
            else:
                self.get_logger().warning(f"init_box failed: {outcome.message}")
            return response

    def _current_target_text(self) -> str:
        with self._session_lock:
            return self._current_target_text_locked()

    def _on_init_detections(self, msg) -> None:
        """A detector's output starts tracking: with max_targets 1 when idle (and, with reinit_on_lost,
        once lost) from the best matching detection; with more, every matching detection that is not
        already a target (IoU >= DUPLICATE_IOU with one) starts one, best score first, up to the limit
        (with reinit_on_lost, lost targets are ended first)."""
        settings = self._settings
        if settings.max_targets == 1:
            with self._session_lock:
                first = self._sessions.first
                state = first.state if first is not None else "idle"
            if state != "idle" and not (state == "lost" and settings.reinit_on_lost):
                return
            chosen = choose_detection(msg, settings.init_class_id, settings.init_min_score)
            candidates = [chosen] if chosen is not None else []
        else:
            if settings.reinit_on_lost:
                self._end_lost_targets()
            candidates = matching_detections(msg, settings.init_class_id, settings.init_min_score)
        for chosen in candidates:
            with self._session_lock:
                if self._sessions.overlapping(chosen.box) is not None:
                    continue   # already tracked: never a duplicate
                full = settings.max_targets > 1 and len(self._sessions) >= settings.max_targets
            if full:
                return
            with self._service_call():
                try:
                    outcome = self._init_target(Stamp.of(msg.header.stamp), chosen.box, clip=True)
                except Exception as exc:  # never kill the node
                    outcome = InitOutcome(False, f"{type(exc).__name__} while initialising: {exc}")
            what = f"detection {chosen.class_id!r} (score {chosen.score:.2f}, stamp {Stamp.of(msg.header.stamp)})"
            if outcome.success:
                self.get_logger().info(f"init from {what}: {outcome.message}")
            else:
                self._last_problem = f"init from {what} failed: {outcome.message}"
                self._log_bad("init_detections", self._last_problem)

    def _end_lost_targets(self) -> None:
        with self._tracker_lock, self._session_lock:
            for target_id, target in self._sessions.targets.items():
                if target.state == "lost":
                    self._sessions.remove(target_id)

    def _init_box(self, request: SetCameraInfo.Request) -> InitOutcome:
        info = request.camera_info
        roi = info.roi
        return self._init_target(Stamp.of(info.header.stamp), (roi.x_offset, roi.y_offset, roi.width, roi.height),
                                 (info.width, info.height))

    def _init_target(self, stamp: Stamp, box, image_size: tuple[int, int] = (0, 0), clip: bool = False
                     ) -> InitOutcome:
        """Initialise on the buffered frame ``stamp`` (zero: the newest) with ``box`` = (x, y, w, h).

        ``clip``: a detector's box is clipped to the image (it may reach past the border) and rounded;
        a user's box must lie inside it.
        """
        found = self._init_frame(stamp, image_size)
        if isinstance(found, InitOutcome):
            return found
        frame, image = found
        height, width = image.shape[:2]
        try:
            box = box_inside_image(box, width, height, clip)
        except ValueError as exc:
            return InitOutcome(False, str(exc))
        with self._session_lock:
            stops = self._stops
            try:   # a full multi-target node refuses before any work
                self._sessions.check_room()
            except TargetLimit as exc:
                return InitOutcome(False, str(exc))
        settings = self._settings
        # the new tracker is built and initialised while the current targets keep tracking
        reloaded = settings.model != self._loaded_model
        candidate = self._initialised_candidate(settings, reloaded, image, box)
        if isinstance(candidate, InitOutcome):
            return candidate
        with self._tracker_lock, self._session_lock:
            if self._stops != stops:
                return InitOutcome(False, f"cancelled: ~/stop was called while this init_box ran "
                                          f"({self._current_target_text_locked()})")
            try:
                target, replaced = self._adopt(candidate, settings, reloaded, box, frame, (height, width))
            except TargetLimit as exc:   # filled up meanwhile (another init)
                return InitOutcome(False, str(exc))
        ended = ""
        if replaced and settings.max_targets > 1:
            ended = f"; the model changed: ended target(s) {', '.join(str(t.target_id) for t in replaced)}"
        return InitOutcome(True, f"tracking target {target.target_id}: box (x={box[0]}, y={box[1]}, w={box[2]}, "
                                 f"h={box[3]}) from the frame stamped {frame.stamp} ({width}x{height}, "
                                 f"frame_id '{frame.payload.header.frame_id}'){ended}")

    def _init_frame(self, stamp: Stamp, image_size: tuple[int, int]):
        """The buffered frame to initialise on and its decoded image, or the InitOutcome saying why not."""
        if self._buffer.newest() is None:
            return InitOutcome(False, "no image received yet on "
                                      f"{self._image_sub.topic_name}; cannot initialise")
        frame = self._buffer.newest() if stamp.is_zero else self._buffer.find(stamp)
        if frame is None:
            return InitOutcome(False, f"no buffered frame with stamp {stamp} ({self._buffer.describe()}; "
                                      f"frame_buffer_size={self._buffer.capacity})")
        try:
            image = self._decode(frame.payload)
        except ImageConversionError as exc:
            return InitOutcome(False, f"the frame stamped {frame.stamp} cannot be decoded: {exc}")
        height, width = image.shape[:2]
        if any(image_size) and tuple(image_size) != (width, height):
            return InitOutcome(False, f"camera_info says the box was drawn on a {image_size[0]}x{image_size[1]} "
                                      f"image, but the frame stamped {frame.stamp} is {width}x{height}")
        return frame, image

    def _initialised_candidate(self, settings, reloaded: bool, image, box):
        """A fresh tracker (of a newly loaded model when the ``model`` parameter changed) initialised on
        ``image``, or the InitOutcome saying why not (the current tracker is untouched either way)."""
        base = self._tracker
        if reloaded:
            try:
                self._faults.at("load")
                base = self._load_model(settings.model, settings.thresholds)
            except (CheckpointError, ValueError, OSError, RuntimeError) as exc:
                self._last_problem = f"model failed to load: {exc}"
                return InitOutcome(False, f"{self._last_problem} (the previous model stays loaded; "
                                          f"{self._current_target_text()})")
        candidate = base.fresh()
        candidate.config = candidate.config.with_overrides(**settings.thresholds.overrides(base.checkpoint.tracker))
        try:
            self._faults.at("init")
            candidate.init(image, box)
        except ValueError as exc:
            return InitOutcome(False, f"the tracker rejected the box {box}: {exc}; "
                                      f"{self._current_target_text()}")
        return candidate

    def _adopt(self, candidate, settings, reloaded: bool, box, frame, image_shape: tuple[int, int]):
        """Add ``candidate`` as a new target (both locks held): (the target, the targets it replaced)."""
        if reloaded:
            self._tracker, self._applied_thresholds = candidate.fresh(), settings.thresholds
            self._loaded_model, self._notice = settings.model, ""
            self._model_info = describe(candidate)
            self.get_logger().info(f"reloaded {_model_line(self._model_info)}")
        target, replaced = self._sessions.add(candidate, box, frame, image_shape, self._buffer)
        self._track_failures = 0
        return target, replaced

    def _current_target_text_locked(self) -> str:
        if len(self._sessions) == 0:
            return "no target is tracked"
        if self._settings.max_targets == 1:
            return f"still tracking target {self._sessions.first.target_id}"
        return f"still {self._sessions.describe()}"

    def _stop_session(self) -> bool:
        with self._tracker_lock, self._session_lock:
            ended = self._sessions.clear()
            self._stops += 1
            if ended:   # (targets exist only while active: the publishers exist)
                frame_id = ended[0].frame_id
                self._out.end(Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id),
                              None if self._depth is None else self._depth.last_frame_id or frame_id,
                              [t.target_id for t in ended])
        return bool(ended)

    def _on_remove_target(self, request, response):
        """~/remove_target: end one target by id; an unknown id is refused naming the tracked ones."""
        with self._service_call():
            try:
                with self._tracker_lock, self._session_lock:
                    target = self._sessions.remove(int(request.target_id))
                    self._out.remove_marker(Header(stamp=self.get_clock().now().to_msg(), frame_id=target.frame_id),
                                            target.target_id)
                    rest = self._sessions.describe()
                response.success, response.message = True, f"ended target {target.target_id}; {rest}"
                self.get_logger().info(f"remove_target: {response.message}")
            except KeyError as exc:
                response.success, response.message = False, str(exc.args[0])
                self.get_logger().warning(f"remove_target failed: {response.message}")
            except Exception as exc:  # never kill the node
                response.success, response.message = False, f"{type(exc).__name__} while removing: {exc}"
                self._last_problem = f"remove_target: {response.message}"
                self.get_logger().warning(f"remove_target failed: {response.message}")
            return response

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response):
        with self._service_call():
            try:
                self._faults.at("stop")
                was_active = self._stop_session()
                response.success = True
                response.message = "tracking stopped" if was_active else "was not tracking"
                self.get_logger().info(f"stop: {response.message}")
            except Exception as exc:  # never kill the node
                response.success = False
                response.message = f"{type(exc).__name__} while stopping: {exc}"
                self._last_problem = f"stop: {response.message}"
                self.get_logger().warning(f"stop failed: {response.message}")
            return response

    # -- diagnostics -------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        view = self._stats.view()
        with self._session_lock:
            targets = self._sessions.targets
        states = {i: t.state for i, t in sorted(targets.items())}
        # the node's state: idle, or the best of its targets' (one entry per target says each)
        state = min(states.values(), key=STATES.index) if states else "idle"   # STATES: best first
        level, reasons = health(HealthInputs(
            self._track_failures, self._last_problem, (time.monotonic_ns() - self._last_image_ns) / 1e9,
            self._settings.image_timeout, self._image_sub.topic_name, states, self._settings.max_targets > 1))
        info = self._model_info
        header = Header(stamp=self.get_clock().now().to_msg())
        buffer = self._buffer
        node_name = self.get_fully_qualified_name()
        per_target = () if self._settings.max_targets == 1 else tuple(
            target_status(node_name, i, t.state, t.result.score, t.result.box if t.state == "tracking" else None,
                          str(info["device"])) for i, t in sorted(targets.items()))
        snap = DiagnosticsSnapshot(
            state=state, fps=view.fps, latency_ms=view.latency_ms, track_ms=view.track_ms,
            overhead_ms=view.overhead_ms, stamp_age_ms=view.stamp_age_ms,
            frames_received=view.received, frames_tracked=view.tracked, frames_dropped=buffer.dropped,
            frames_rejected=view.rejected, device=str(info["device"]),
            model=f"{info['arch']} ({info['checkpoint']}, {info['backend']}, {info['precision']})",
            mode=str(info["mode"]),
            message="; ".join([state] + reasons + [f"pending: {self._notice}"] * bool(self._notice)
                              + [f"last problem: {self._last_problem}"] * bool(self._last_problem)),
            level=level,
            extra=(("target_id", ",".join(map(str, states))),
                   ("targets", str(len(states))), ("max_targets", str(self._settings.max_targets)),
                   ("frame_buffer_frames", str(len(buffer))),
                   ("frame_buffer_mb", f"{buffer.bytes / BYTES_PER_MB:.1f}"),
                   ("frame_buffer_limit_mb", f"{buffer.max_bytes / BYTES_PER_MB:.1f}"),
                   ("frames_evicted_for_memory", str(buffer.evicted_for_memory)),
                   ("detections", "on" if self._out.detections is not None else "off: vision_msgs missing"))
            + depth_diagnostics(self._depth, view, self._depth_problem), targets=per_target)
        self._diag_pub.publish(diagnostics_array(header, node_name, snap))

class TrackerNode(TrackerCore, Node):
    """The tracker node: configured and active from construction until shutdown."""

    def __init__(self) -> None:
        Node.__init__(self, NODE_NAME)
        self._declare()
        self._configure()
        self._activate()


class LifecycleTrackerNode(TrackerCore, LifecycleNode):
    """The same node as a managed (``rclpy.lifecycle``) node, for a lifecycle manager: ``configure``
    loads the model (a failure is a failed transition with the reason, the node stays unconfigured
    and can be configured again), ``activate`` subscribes, publishes and serves, ``deactivate``
    stops tracking and publishing, ``cleanup`` frees the model, ``shutdown`` ends the process (0)."""

    def __init__(self, stop: threading.Event) -> None:
        LifecycleNode.__init__(self, NODE_NAME)
        self._process_stop = stop
        self._declare()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except StartupError as exc:
            self._last_problem = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activate()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._entities:
            self._deactivate()
        self._cleanup()
        self._process_stop.set()   # the main thread then shuts down and exits 0
        return TransitionCallbackReturn.SUCCESS


def _model_line(info: dict) -> str:
    """The log line that says which model runs where and how (``describe``'s fields)."""
    return (f"model {info['arch']} from {info['checkpoint']} on {info['device']}, backend {info['backend']} "
            f"({info['precision']}), mode {info['mode']}")


def _run(argv: Sequence[str] | None, make_node: Callable[[threading.Event], TrackerCore], prog: str) -> int:
    return run_node(argv, make_node, prog, __doc__.split("\n\n")[0], StartupError, NODE_NAME, EXECUTOR_THREADS,
                    "Settings are ROS parameters: --ros-args -p NAME:=VALUE or --params-file config/tracker.yaml "
                    "(the list: docs/ros.md, or `ros2 param describe` on a running node).")


def lifecycle_main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-tracker-lifecycle-node`` / ``tracker_lifecycle_node``."""
    return _run(argv, LifecycleTrackerNode, "dasiamrpn-tracker-lifecycle-node")


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-tracker-node`` / ``tracker_node`` (takes the usual --ros-args)."""
    return _run(argv, lambda _stop: TrackerNode(), "dasiamrpn-tracker-node")


if __name__ == "__main__":
    sys.exit(main())

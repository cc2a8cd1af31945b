"""The ``dasiamrpn_tracker`` ROS 2 node: camera images in, init-box service, tracked box and score out.

Threads: the image subscription (its own mutually exclusive callback group) only validates and
buffers frames; a tracking thread takes the newest buffered frame and drops older ones, so latency
stays bounded when frames come faster than the tracker (after an init on an older buffered frame it
first tracks the frames since then in order). ``~/init_box`` and ``~/stop`` have a group each: a stop
answers within one tracking step even while an init reloads a model. docs/ros.md documents the
interface.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np
import rclpy
import torch
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, PolygonStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import ImageMarker
from sensor_msgs.srv import SetCameraInfo
from std_msgs.msg import Float32, Header, String
from std_srvs.srv import Trigger

from dasiamrpn_core import CheckpointError, ExportError, describe, load_tracker
from dasiamrpn_core.visualize import annotate

from .depth_input import DEPTH_WAIT_S, DepthInput, DepthOutcome
from .frame_buffer import BufferedFrame, FrameBuffer, Stamp
from .image_conversion import (ImageConversionError, bgr_to_compressed, bgr_to_image, check_image_layout,
                               compressed_to_bgr, image_to_bgr)
from .faults import Faults
from .messages import (VISION_MSGS_ERROR, Detection2DArray, Detection3DArray, DiagnosticsSnapshot, Target3D,
                       box_polygon, choose_detection, detections, detections_3d, diagnostics_array, image_marker,
                       image_qos, position_point)
from .node_stats import DEPTH_OUTCOMES, NodeStats
from .parameters import PARAMS, SPECS, ModelSettings, NodeSettings, Thresholds, check_changes
from .rate_limited_log import RateLimitedLog
from .ros_main import init_without_signal_handlers, install_stop_signals, spin_until_stopped

NODE_NAME = "dasiamrpn_tracker"
EXECUTOR_THREADS = 6     # images, init_box, stop, diagnostics, parameter services, depth
WAIT_FRAME_S = 0.2       # the tracking thread re-checks for shutdown this often
LOG_PERIOD_S = 5.0       # per-kind throttle of bad-input log lines
NS_PER_MS = 1e6
BYTES_PER_MB = 2**20
TRACK_FAILURES_WARN = 3    # tracking raised on this many frames in a row: /diagnostics WARN
TRACK_FAILURES_ERROR = 10  # ... this many: ERROR, the model is not usable
CLOSE_TIMEOUT_S = 2.0      # the tracking thread is waited for this long at shutdown
DEPTH_QUEUE_DEPTH = 5      # use_depth: keep-last depth of the depth and camera_info subscriptions


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, model failed to load); the message says why."""


@dataclass
class Session:
    """One tracked target, from a successful ~/init_box to ~/stop or the next init."""

    target_id: int                 # 1, 2, ... per successful init: the id in ~/detections
    image_shape: tuple[int, int]   # (H, W) of the init frame: frames of another size are skipped
    last_sequence: int             # receive sequence of the newest frame the tracker has seen
    frame_id: str
    state: str = "tracking"


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

        # the tracker in use and the model settings it was built with; guarded by _tracker_lock.
        # ~/init_box builds and initialises a new tracker outside this lock and swaps it in only
        # once its init succeeded, so a failed init leaves the current target tracked.
        self._tracker_lock = threading.Lock()
        self._tracker = None
        self._model_info: dict = {}
        self._last_problem = ""   # the newest bad input / failure, for diagnostics
        self._notice = ""         # a pending model reload, for diagnostics
        self._track_failures = 0  # frames in a row on which tracking raised

        # the current target; swapped under _session_lock, and every output is published under it,
        # so no output of a session goes out after ~/stop or a new ~/init_box has answered
        self._session_lock = threading.Lock()
        self._session: Session | None = None
        self._targets = 0        # successful inits so far (the next target id - 1)
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
        self._detections_pub = None
        if VISION_MSGS_ERROR is None:
            self._detections_pub = self._made(pub, self.create_publisher(Detection2DArray, "~/detections", 10))
        else:
            self.get_logger().warning(VISION_MSGS_ERROR)
        self._box_pub = self._made(pub, self.create_publisher(PolygonStamped, "~/box", 10))
        self._score_pub = self._made(pub, self.create_publisher(Float32, "~/score", 10))
        self._state_pub = self._made(pub, self.create_publisher(String, "~/state", 10))
        self._marker_pub = self._made(pub, self.create_publisher(ImageMarker, "~/marker", 10))
        self._debug_pub = self._made(pub, self.create_publisher(Image, "~/debug_image", 1))
        self._debug_compressed_pub = self._made(
            pub, self.create_publisher(CompressedImage, "~/debug_image/compressed", 1))
        self._diag_pub = self._made(pub, self.create_publisher(DiagnosticArray, "/diagnostics", 10))
        init_service = self._made(self.destroy_service, self.create_service(
            SetCameraInfo, "~/init_box", self._on_init_box, callback_group=self._init_group))
        if VISION_MSGS_ERROR is None:   # a detector starts (and, once lost, restarts) tracking
            self._made(sub, self.create_subscription(Detection2DArray, "~/init_detections", self._on_init_detections,
                                                     10, callback_group=self._init_group))
        self._made(self.destroy_service, self.create_service(
            Trigger, "~/stop", self._on_stop, callback_group=self._stop_group))
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
        """use_depth: the depth and camera_info subscriptions and the 3D publishers (else none)."""
        self._depth = None
        self._detections_3d_pub = self._position_pub = None
        if not settings.use_depth:
            return
        sub, pub = self.destroy_subscription, self.destroy_publisher
        group = MutuallyExclusiveCallbackGroup()
        qos = image_qos(settings.image_reliability, DEPTH_QUEUE_DEPTH)
        depth_sub = self._made(sub, self.create_subscription(Image, "depth", self._on_depth, qos,
                                                             callback_group=group))
        info_sub = self._made(sub, self.create_subscription(CameraInfo, "depth/camera_info", self._on_depth_info,
                                                            qos, callback_group=group))
        self._depth = DepthInput(depth_sub.topic_name, info_sub.topic_name)
        if VISION_MSGS_ERROR is None:
            self._detections_3d_pub = self._made(pub, self.create_publisher(Detection3DArray, "~/detections_3d", 10))
        self._position_pub = self._made(pub, self.create_publisher(PointStamped, "~/position", 10))

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
        return tracker

    def _apply_thresholds(self) -> None:
        """Hand changed threshold parameters to the tracker (holding _tracker_lock, between frames)."""
        thresholds = self._settings.thresholds
        if thresholds != self._applied_thresholds:
            self._tracker.config = self._tracker.config.with_overrides(
                **thresholds.overrides(self._tracker.checkpoint.tracker))
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
        while not self._stopping.is_set():
            frame = self._buffer.wait_next(WAIT_FRAME_S)
            if frame is not None:
                try:
                    self._track_frame(frame)
                except Exception as exc:  # bad input must never kill the node: log and go on
                    self._track_failures += 1
                    self._reject("tracking", f"tracking failed on the frame stamped {frame.stamp}: "
                                             f"{type(exc).__name__}: {exc}")

    def _track_frame(self, frame: BufferedFrame[Any]) -> None:
        with self._tracker_lock:
            session = self._session
            if session is None or frame.sequence <= session.last_sequence:
                return
            try:
                image = self._decode(frame.payload)
            except ImageConversionError as exc:
                self._reject(exc.kind, f"skipped the frame stamped {frame.stamp}: {exc}")
                return
            if image.shape[:2] != session.image_shape:
                self._reject("size_change", f"skipped the frame stamped {frame.stamp}: image size changed from "
                                     f"{session.image_shape[1]}x{session.image_shape[0]} to "
                                     f"{image.shape[1]}x{image.shape[0]}; call init_box to track at the "
                                     f"new size")
                return
            session.last_sequence = frame.sequence
            self._apply_thresholds()
            track_start_ns = time.monotonic_ns()
            self._faults.at("track")
            result = self._tracker.track(image)
            track_ns = time.monotonic_ns() - track_start_ns
        self._track_failures = 0
        box = result.box if result.state != "lost" else None
        if box is not None and not all(np.isfinite(box)):
            self._reject("nan", f"the tracker returned a non-finite box {box} on the frame stamped "
                                f"{frame.stamp}: published as lost")
            box = None
        state = result.state if box is not None else "lost"
        debug = None
        if self._settings.publish_debug_image and (self._debug_pub.get_subscription_count() > 0
                                                   or self._debug_compressed_pub.get_subscription_count() > 0):
            text = None if box is not None else f"{state} {result.score:.2f}"
            debug = annotate(image, box, float(result.score), state, text=text)
        located = self._locate(frame.stamp, image.shape[:2], session, state, box)
        with self._session_lock:   # the outputs go out only while this session is still the current one
            if self._session is not session:
                return  # stopped or re-initialised while this frame was tracked
            session.state = state
            self._publish(frame, debug, box, float(result.score), session, track_ns, located)

    def _locate(self, stamp: Stamp, image_shape: tuple[int, int], session: Session, state: str,
                box) -> DepthOutcome | None:
        """use_depth: the 3D step of a tracked frame (counted in /diagnostics, failures logged); None
        without depth, and an empty outcome while the target is not tracked (searching, lost)."""
        if self._depth is None:
            return None
        if state != "tracking" or box is None:
            return DepthOutcome(self._depth.last_frame_id)
        start_ns = time.monotonic_ns()
        height, width = image_shape
        outcome = self._depth.locate(stamp, (width, height), {session.target_id: box},
                                     self._settings.depth_max_age, DEPTH_WAIT_S)
        self._stats.on_depth(["estimated"] * len(outcome.estimates) + [f.kind for f in outcome.failures.values()],
                             (time.monotonic_ns() - start_ns) / NS_PER_MS)
        for failure in outcome.failures.values():
            self._depth_problem = failure.message
            self._log_bad(f"depth_{failure.kind}", f"no 3D position ({failure.kind}): {failure.message}")
        return outcome

    def _publish(self, frame: BufferedFrame[Any], debug: np.ndarray | None, box, score: float,
                 session: Session, track_ns: int, located: DepthOutcome | None = None) -> None:
        """One frame's outputs (holding _session_lock)."""
        header: Header = frame.payload.header
        if self._detections_pub is not None:  # the stamped output: box, score and target id together
            tracked = box if session.state == "tracking" else None
            self._detections_pub.publish(detections(header, tracked, score, session.target_id,
                                                    self._settings.label))
        if located is not None:
            self._publish_3d(header, located, score)
        # the header-less score and state (for people and simple scripts; they cannot be paired with
        # a frame reliably) before the box: a consumer keyed on the box has seen them
        self._score_pub.publish(Float32(data=score))
        self._state_pub.publish(String(data=session.state))
        self._box_pub.publish(box_polygon(header, box))
        self._marker_pub.publish(image_marker(header, box, session.target_id, session.state))
        if debug is not None:
            if self._debug_pub.get_subscription_count() > 0:
                self._debug_pub.publish(bgr_to_image(debug, header=header))
            if self._debug_compressed_pub.get_subscription_count() > 0:
                self._debug_compressed_pub.publish(bgr_to_compressed(debug, header=header))
        done_ns = time.monotonic_ns()
        stamp_age_ns = self.get_clock().now().nanoseconds - (header.stamp.sec * 10**9 + header.stamp.nanosec)
        self._stats.on_tracked((done_ns - frame.received_ns) / NS_PER_MS, track_ns / NS_PER_MS,
                               stamp_age_ns / NS_PER_MS)

    def _publish_3d(self, header: Header, located: DepthOutcome, score: float) -> None:
        """``~/detections_3d`` (every tracked frame; empty without an estimate) and ``~/position`` (each
        estimate), stamped like the colour frame, in the depth frame's frame_id."""
        header_3d = Header(stamp=header.stamp, frame_id=located.frame_id or header.frame_id)
        targets = [Target3D(target_id, estimate, score) for target_id, estimate in sorted(located.estimates.items())]
        if self._detections_3d_pub is not None:
            self._detections_3d_pub.publish(detections_3d(header_3d, targets, self._settings.label))
        for target in targets:
            self._position_pub.publish(position_point(header_3d, target.estimate))

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
            session = self._session
        return ("no target was being tracked" if session is None
                else f"still tracking target {session.target_id}")

    def _on_init_detections(self, msg) -> None:
        """A detector's output starts tracking when idle (and, with reinit_on_lost, once lost)."""
        settings = self._settings
        with self._session_lock:
            session = self._session
            state = session.state if session is not None else "idle"
        if state != "idle" and not (state == "lost" and settings.reinit_on_lost):
            return
        chosen = choose_detection(msg, settings.init_class_id, settings.init_min_score)
        if chosen is None:
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
        box = self._box_inside(box, width, height, clip)
        if isinstance(box, InitOutcome):
            return box
        with self._session_lock:
            stops = self._stops
        settings = self._settings
        # the new tracker is built and initialised while the current one keeps tracking
        reloaded = settings.model != self._loaded_model
        candidate = self._initialised_candidate(settings, reloaded, image, box)
        if isinstance(candidate, InitOutcome):
            return candidate
        with self._tracker_lock, self._session_lock:
            if self._stops != stops:
                return InitOutcome(False, f"cancelled: ~/stop was called while this init_box ran "
                                          f"({self._current_target_text_locked()})")
            self._adopt(candidate, settings, reloaded, frame, (height, width))
        return InitOutcome(True, f"tracking target {self._targets}: box (x={box[0]}, y={box[1]}, w={box[2]}, "
                                 f"h={box[3]}) from the frame stamped {frame.stamp} ({width}x{height}, "
                                 f"frame_id '{frame.payload.header.frame_id}')")

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

    @staticmethod
    def _box_inside(box, width: int, height: int, clip: bool):
        """The box (clipped to the image and rounded when ``clip``), or the InitOutcome rejecting it."""
        if clip:
            x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
            x1 = min(width, int(round(box[0] + box[2])))
            y1 = min(height, int(round(box[1] + box[3])))
            box = (x0, y0, x1 - x0, y1 - y0)
        x, y, w, h = box
        if w <= 0 or h <= 0:
            return InitOutcome(False, f"empty box: width {w}, height {h} "
                                      f"(set camera_info.roi x_offset, y_offset, width, height in pixels)")
        if x + w > width or y + h > height:
            return InitOutcome(False, f"box (x={x}, y={y}, w={w}, h={h}) is not inside the {width}x{height} image")
        return box

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

    def _adopt(self, candidate, settings, reloaded: bool, frame, image_shape: tuple[int, int]) -> None:
        """Make ``candidate`` the tracker of a new target session (both locks held)."""
        self._tracker, self._applied_thresholds = candidate, settings.thresholds
        if reloaded:
            self._loaded_model, self._notice = settings.model, ""
            self._model_info = describe(candidate)
            self.get_logger().info(f"reloaded {_model_line(self._model_info)}")
        self._targets += 1
        self._session = Session(target_id=self._targets, image_shape=image_shape,
                                last_sequence=frame.sequence, frame_id=frame.payload.header.frame_id)
        # frames that came after the init frame are tracked in order, then the newest again
        self._buffer.restart_after(frame.sequence, catch_up=True)
        self._track_failures = 0

    def _current_target_text_locked(self) -> str:
        return "no target is tracked" if self._session is None else f"still tracking target {self._session.target_id}"

    def _stop_session(self) -> bool:
        with self._session_lock:
            session, self._session = self._session, None
            self._stops += 1
            if session is not None:   # (a session exists only while active: the publishers exist)
                # one empty detection array ends the session on the stamped output
                header = Header(stamp=self.get_clock().now().to_msg(), frame_id=session.frame_id)
                if self._detections_pub is not None:
                    self._detections_pub.publish(detections(header, None, 0.0, session.target_id, ""))
                if self._depth is not None and self._detections_3d_pub is not None:
                    self._detections_3d_pub.publish(detections_3d(
                        Header(stamp=header.stamp, frame_id=self._depth.last_frame_id or session.frame_id), [], ""))
        return session is not None

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
    def _health(self, state: str) -> tuple[str, list[str]]:
        """(level, reasons): ERROR when the model is not usable, WARN when the robot should look."""
        errors, warnings = [], []
        if self._track_failures >= TRACK_FAILURES_ERROR:
            errors.append(f"tracking raised on the last {self._track_failures} frames: the model is not "
                          f"usable ({self._last_problem})")
        elif self._track_failures >= TRACK_FAILURES_WARN:
            warnings.append(f"tracking raised on the last {self._track_failures} frames")
        silent_s = (time.monotonic_ns() - self._last_image_ns) / 1e9
        if state not in ("idle",) and silent_s > self._settings.image_timeout:
            warnings.append(f"no image for {silent_s:.1f} s while tracking (image_timeout "
                            f"{self._settings.image_timeout} s) on {self._image_sub.topic_name}")
        if state in ("searching", "lost"):
            warnings.append(f"target {state}")
        return ("error" if errors else "warn" if warnings else "ok"), errors + warnings

    def _publish_diagnostics(self) -> None:
        view = self._stats.view()
        with self._session_lock:
            session = self._session
            state = session.state if session is not None else "idle"
        level, reasons = self._health(state)
        info = self._model_info
        header = Header(stamp=self.get_clock().now().to_msg())
        buffer = self._buffer
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
            extra=(("target_id", str(session.target_id if session is not None else "")),
                   ("frame_buffer_frames", str(len(buffer))),
                   ("frame_buffer_mb", f"{buffer.bytes / BYTES_PER_MB:.1f}"),
                   ("frame_buffer_limit_mb", f"{buffer.max_bytes / BYTES_PER_MB:.1f}"),
                   ("frames_evicted_for_memory", str(buffer.evicted_for_memory)),
                   ("detections", "on" if self._detections_pub is not None else "off: vision_msgs missing"))
            + self._depth_diagnostics(view))
        self._diag_pub.publish(diagnostics_array(header, self.get_fully_qualified_name(), snap))

    def _depth_diagnostics(self, view) -> tuple[tuple[str, str], ...]:
        """use_depth: depth frames received, 3D outcomes per kind, the 3D step's median time, the last
        depth problem; nothing without depth."""
        if self._depth is None:
            return ()
        return ((("depth_frames_received", str(self._depth.received)),)
                + tuple((f"depth_{kind}", str(view.depth[kind])) for kind in DEPTH_OUTCOMES)
                + (("depth_ms", f"{view.depth_ms:.2f}"), ("depth_last_problem", self._depth_problem)))


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


def _answer_help(argv: Sequence[str], prog: str) -> None:
    """``--help`` prints where the settings are and exits 0 before rclpy starts; anything else outside
    ``--ros-args`` is left to rclpy, as before."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0],
        epilog="Settings are ROS parameters: --ros-args -p NAME:=VALUE or --params-file config/tracker.yaml "
               "(the list: docs/ros.md, or `ros2 param describe` on a running node).")
    parser.parse_known_args(remove_ros_args(list(argv))[1:])


def _run(argv: Sequence[str] | None, make_node: Callable[[threading.Event], TrackerCore], prog: str) -> int:
    """Start rclpy, build the node (exit 1 with the reason if it cannot start), spin until stopped."""
    argv = list(sys.argv if argv is None else argv)
    _answer_help(argv, prog)
    init_without_signal_handlers(argv)
    stop = install_stop_signals()
    try:
        node = make_node(stop)
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    return spin_until_stopped(node, MultiThreadedExecutor(num_threads=EXECUTOR_THREADS), stop,
                              close=node.close, busy=node.busy)


def lifecycle_main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-tracker-lifecycle-node`` / ``tracker_lifecycle_node``."""
    return _run(argv, LifecycleTrackerNode, "dasiamrpn-tracker-lifecycle-node")


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-tracker-node`` / ``tracker_node`` (takes the usual --ros-args)."""
    return _run(argv, lambda _stop: TrackerNode(), "dasiamrpn-tracker-node")


if __name__ == "__main__":
    sys.exit(main())

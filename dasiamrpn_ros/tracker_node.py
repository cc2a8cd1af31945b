"""The ``dasiamrpn_tracker`` ROS 2 node: camera images in, init-box service, tracked box and score out.

Threads: the image subscription (its own mutually exclusive callback group) only validates and
buffers frames; a tracking thread always takes the newest buffered frame and drops older ones, so
latency stays bounded when frames come faster than the tracker; the services (another group) answer
while a frame is being tracked. See docs/ros.md for the interface.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import rclpy
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PolygonStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from sensor_msgs.srv import SetCameraInfo
from std_msgs.msg import Float32, Header, String
from std_srvs.srv import Trigger

from dasiamrpn_core import CheckpointError, describe, load_tracker
from dasiamrpn_core.visualize import annotate

from .frame_buffer import BufferedFrame, FrameBuffer, Stamp
from .image_conversion import (ImageConversionError, bgr_to_image, check_image_layout, compressed_to_bgr,
                               image_to_bgr)
from .messages import DiagnosticsSnapshot, box_polygon, diagnostics_array, image_qos
from .node_stats import NodeStats
from .parameters import PARAMS, SPECS, ModelSettings, NodeSettings, Thresholds, check_changes
from .rate_limited_log import RateLimitedLog
from .ros_main import init_without_signal_handlers, install_stop_signals, spin_until_stopped

NODE_NAME = "dasiamrpn_tracker"
EXECUTOR_THREADS = 4     # images, services, diagnostics, parameter services
WAIT_FRAME_S = 0.2       # the tracking thread re-checks for shutdown this often
LOG_PERIOD_S = 5.0       # per-kind throttle of bad-input log lines
NS_PER_MS = 1e6


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, model failed to load); the message says why."""


@dataclass
class Session:
    """One tracked target, from a successful ~/init_box to ~/stop or the next init."""

    image_shape: tuple[int, int]   # (H, W) of the init frame: frames of another size are skipped
    last_sequence: int             # receive sequence of the newest frame the tracker has seen
    state: str = "tracking"


@dataclass(frozen=True)
class InitOutcome:
    success: bool
    message: str


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        try:
            for spec in PARAMS:
                self.declare_parameter(spec.name, spec.default, spec.descriptor())
            self._settings = NodeSettings.from_values(self._parameter_values())
        except (ParameterException, ValueError) as exc:
            raise StartupError(f"invalid parameters: {exc}") from exc
        self._log_bad = RateLimitedLog(self.get_logger().warning, LOG_PERIOD_S)
        self._bridge = CvBridge()
        self._buffer: FrameBuffer[Any] = FrameBuffer(self._settings.frame_buffer_size)
        self._stats = NodeStats()

        # the tracker and the model settings it was built with; guarded by _tracker_lock
        self._tracker_lock = threading.Lock()
        self._loaded_model: ModelSettings = self._settings.model
        self._applied_thresholds: Thresholds = self._settings.thresholds
        self._last_problem = ""   # the newest bad input / failure, for diagnostics
        self._notice = ""         # a pending model reload, for diagnostics
        try:
            self._tracker = self._load_model(self._settings.model, self._settings.thresholds)
        except (CheckpointError, ValueError, OSError, RuntimeError) as exc:
            raise StartupError(f"model failed to load: {exc}") from exc
        self._model_info = describe(self._tracker)
        self.get_logger().info(
            f"model {self._model_info['arch']} from {self._model_info['checkpoint']} on "
            f"{self._model_info['device']}, mode {self._model_info['mode']}")

        # the current target; the reference is swapped under _session_lock (stop never waits for tracking)
        self._session_lock = threading.Lock()
        self._session: Optional[Session] = None

        self._image_group = MutuallyExclusiveCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()
        self._diagnostics_group = MutuallyExclusiveCallbackGroup()
        qos = image_qos(self._settings.image_reliability, self._settings.image_queue_depth)
        if self._settings.use_compressed:
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_compressed, qos,
                callback_group=self._image_group)
        else:
            self._image_sub = self.create_subscription(
                Image, "image", self._on_image, qos, callback_group=self._image_group)
        self._box_pub = self.create_publisher(PolygonStamped, "~/box", 10)
        self._score_pub = self.create_publisher(Float32, "~/score", 10)
        self._state_pub = self.create_publisher(String, "~/state", 10)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 1)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(SetCameraInfo, "~/init_box", self._on_init_box,
                            callback_group=self._service_group)
        self.create_service(Trigger, "~/stop", self._on_stop, callback_group=self._service_group)
        self.create_timer(self._settings.diagnostics_period, self._publish_diagnostics,
                          callback_group=self._diagnostics_group)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._track_loop, name="tracking", daemon=True)
        self._worker.start()
        topic = self._image_sub.topic_name
        self.get_logger().info(f"waiting for images on {topic}; call {self.get_name()}/init_box to start")

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the tracking thread (call after the executor has shut down, before destroy_node)."""
        self._stopping.set()
        self._buffer.close()
        self._worker.join()

    # -- parameters --------------------------------------------------------------------------
    def _parameter_values(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in SPECS}

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        check = check_changes(self._parameter_values(), [(p.name, p.value) for p in params])
        if not check.ok:
            self.get_logger().warning(f"parameter change rejected: {check.reason}")
        elif check.reason:  # rclpy drops the reason of a successful change: log it, show it in diagnostics
            self.get_logger().info(check.reason)
            self._notice = check.reason
        return SetParametersResult(successful=check.ok, reason=check.reason)

    def _apply_parameters(self, _params: list[Parameter]) -> None:
        settings = NodeSettings.from_values(self._parameter_values())
        if settings.frame_buffer_size != self._settings.frame_buffer_size:
            self._buffer.resize(settings.frame_buffer_size)
        self._settings = settings  # thresholds are applied by the tracking thread before its next frame

    # -- model -------------------------------------------------------------------------------
    def _load_model(self, model: ModelSettings, thresholds: Thresholds):
        return load_tracker(model.checkpoint, device=model.device, mode=model.mode, **thresholds.overrides())

    def _reload_model_if_changed(self) -> Optional[str]:
        """Reload the model if its parameters changed (holding _tracker_lock); the reason on failure.

        On failure the previous model stays loaded (and keeps tracking the current target).
        """
        settings = self._settings
        if settings.model == self._loaded_model:
            return None
        try:
            tracker = self._load_model(settings.model, settings.thresholds)
        except (CheckpointError, ValueError, OSError, RuntimeError) as exc:
            self._last_problem = f"model failed to load: {exc}"
            return self._last_problem
        self._tracker, self._loaded_model = tracker, settings.model
        self._notice = ""
        self._applied_thresholds = settings.thresholds
        self._model_info = describe(tracker)
        self.get_logger().info(f"reloaded model {self._model_info['arch']} from "
                               f"{self._model_info['checkpoint']}, mode {self._model_info['mode']}")
        return None

    def _apply_thresholds(self) -> None:
        """Hand changed threshold parameters to the tracker (holding _tracker_lock, between frames)."""
        thresholds = self._settings.thresholds
        if thresholds != self._applied_thresholds:
            self._tracker.config = self._tracker.config.with_overrides(**thresholds.overrides())
            self._applied_thresholds = thresholds

    # -- images ------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        try:
            check_image_layout(msg)
        except ImageConversionError as exc:
            self._reject(exc.kind, f"rejected the image stamped {Stamp.of(msg.header.stamp)}: {exc}")
            return
        self._buffer.push(Stamp.of(msg.header.stamp), time.monotonic_ns(), msg)
        self._stats.on_received()

    def _on_compressed(self, msg: CompressedImage) -> None:
        if len(msg.data) == 0:
            self._reject("data", f"rejected the compressed image stamped {Stamp.of(msg.header.stamp)}: "
                                 f"no data")
            return
        self._buffer.push(Stamp.of(msg.header.stamp), time.monotonic_ns(), msg)
        self._stats.on_received()

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
            frame = self._buffer.wait_newest_unprocessed(WAIT_FRAME_S)
            if frame is not None:
                try:
                    self._track_frame(frame)
                except Exception as exc:  # bad input must never kill the node: log and go on
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
            result = self._tracker.track(image)
            track_ns = time.monotonic_ns() - track_start_ns
        box = result.box if result.state != "lost" else None
        if box is not None and not all(np.isfinite(box)):
            self._reject("nan", f"the tracker returned a non-finite box {box} on the frame stamped "
                                f"{frame.stamp}: published as lost")
            box = None
        with self._session_lock:
            if self._session is not session:
                return  # stopped or re-initialised while this frame was tracked
            session.state = result.state if box is not None else "lost"
        self._publish(frame, image, box, float(result.score), session.state, track_ns)

    def _publish(self, frame: BufferedFrame[Any], image: np.ndarray, box, score: float, state: str,
                 track_ns: int) -> None:
        header: Header = frame.payload.header
        # score and state first: a consumer keyed on the box has seen this frame's score and state
        self._score_pub.publish(Float32(data=score))
        self._state_pub.publish(String(data=state))
        self._box_pub.publish(box_polygon(header, box))
        if self._settings.publish_debug_image and self._debug_pub.get_subscription_count() > 0:
            text = None if box is not None else f"{state} {score:.2f}"
            self._debug_pub.publish(bgr_to_image(annotate(image, box, score, state, text=text), header=header))
        done_ns = time.monotonic_ns()
        stamp_age_ns = self.get_clock().now().nanoseconds - (header.stamp.sec * 10**9 + header.stamp.nanosec)
        self._stats.on_tracked((done_ns - frame.received_ns) / NS_PER_MS, track_ns / NS_PER_MS,
                               stamp_age_ns / NS_PER_MS)

    # -- services ----------------------------------------------------------------------------
    def _on_init_box(self, request: SetCameraInfo.Request, response: SetCameraInfo.Response):
        outcome = self._init_box(request)
        response.success, response.status_message = outcome.success, outcome.message
        if outcome.success:  # rclpy caches the severity per call site: one call per severity
            self.get_logger().info(f"init_box: {outcome.message}")
        else:
            self.get_logger().warning(f"init_box failed: {outcome.message}")
        return response

    def _init_box(self, request: SetCameraInfo.Request) -> InitOutcome:
        info = request.camera_info
        stamp = Stamp.of(info.header.stamp)
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
        if (info.width or info.height) and (info.width, info.height) != (width, height):
            return InitOutcome(False, f"camera_info says the box was drawn on a {info.width}x{info.height} "
                                      f"image, but the frame stamped {frame.stamp} is {width}x{height}")
        roi = info.roi
        box = (roi.x_offset, roi.y_offset, roi.width, roi.height)
        if roi.width == 0 or roi.height == 0:
            return InitOutcome(False, f"empty box: roi width {roi.width}, height {roi.height} "
                                      f"(set camera_info.roi x_offset, y_offset, width, height in pixels)")
        if roi.x_offset + roi.width > width or roi.y_offset + roi.height > height:
            return InitOutcome(False, f"box (x={roi.x_offset}, y={roi.y_offset}, w={roi.width}, "
                                      f"h={roi.height}) is not inside the {width}x{height} image")
        with self._tracker_lock:
            problem = self._reload_model_if_changed()
            if problem is not None:
                return InitOutcome(False, f"{problem} (the previous model stays loaded)")
            self._apply_thresholds()
            try:
                self._tracker.init(image, box)
            except ValueError as exc:
                return InitOutcome(False, f"the tracker rejected the box {box}: {exc}")
            with self._session_lock:
                self._session = Session(image_shape=(height, width), last_sequence=frame.sequence)
            self._buffer.restart_after(frame.sequence)
        return InitOutcome(True, f"tracking box (x={box[0]}, y={box[1]}, w={box[2]}, h={box[3]}) from "
                                 f"the frame stamped {frame.stamp} ({width}x{height}, frame_id "
                                 f"'{frame.payload.header.frame_id}')")

    def _stop_session(self) -> bool:
        with self._session_lock:
            was_active = self._session is not None
            self._session = None
        return was_active

    def _on_stop(self, _request: Trigger.Request, response: Trigger.Response):
        was_active = self._stop_session()
        response.success = True
        response.message = "tracking stopped" if was_active else "was not tracking"
        self.get_logger().info(f"stop: {response.message}")
        return response

    # -- diagnostics -------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        view = self._stats.view()
        with self._session_lock:
            state = self._session.state if self._session is not None else "idle"
        info = self._model_info
        header = Header(stamp=self.get_clock().now().to_msg())
        snap = DiagnosticsSnapshot(
            state=state, fps=view.fps, latency_ms=view.latency_ms, track_ms=view.track_ms,
            overhead_ms=view.overhead_ms, stamp_age_ms=view.stamp_age_ms,
            frames_received=view.received, frames_tracked=view.tracked, frames_dropped=self._buffer.dropped,
            frames_rejected=view.rejected, device=str(info["device"]),
            model=f"{info['arch']} ({info['checkpoint']})", mode=str(info["mode"]),
            message="; ".join([state] + [f"pending: {self._notice}"] * bool(self._notice)
                              + [f"last problem: {self._last_problem}"] * bool(self._last_problem)))
        self._diag_pub.publish(diagnostics_array(header, self.get_fully_qualified_name(), snap))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console script ``dasiamrpn-tracker-node`` / ``tracker_node`` (takes the usual --ros-args)."""
    init_without_signal_handlers(sys.argv if argv is None else argv)
    stop = install_stop_signals()
    try:
        node = TrackerNode()
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    return spin_until_stopped(node, MultiThreadedExecutor(num_threads=EXECUTOR_THREADS), stop,
                              close=node.close)


if __name__ == "__main__":
    sys.exit(main())

"""Building the node's output messages (standard types only) and its QoS profiles.

``vision_msgs`` is optional: on a ROS 2 install it is the apt package ``ros-<distro>-vision-msgs``, in
the standalone venv ``make setup`` builds it (``ros_interfaces/build.py``). Without it
:data:`VISION_MSGS_ERROR` says why and the node publishes no ``~/detections``.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Point32, PointStamped, PolygonStamped
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import ImageMarker

from dasiamrpn_core.depth import Estimate3D

try:
    from vision_msgs.msg import (Detection2D, Detection2DArray, Detection3D, Detection3DArray,
                                 ObjectHypothesisWithPose)
    VISION_MSGS_ERROR: str | None = None
except ImportError as _exc:  # the node still runs: ~/detections (and ~/detections_3d) are off; it says so once
    Detection2D = Detection2DArray = Detection3D = Detection3DArray = ObjectHypothesisWithPose = None
    VISION_MSGS_ERROR = (f"vision_msgs is not importable ({_exc}); ~/detections is off. Install "
                         f"ros-$ROS_DISTRO-vision-msgs, or run `make setup` in the standalone venv")

def image_qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last ``depth`` with the given reliability ("best_effort" or "reliable")."""
    policy = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    if reliability not in policy:
        raise ValueError(f"unknown reliability {reliability!r}; expected one of {sorted(policy)}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy[reliability])


def box_corners(box: Sequence[float]) -> list[tuple[float, float]]:
    """Corners of an (x, y, w, h) box clockwise from the top-left, in image coordinates (y down)."""
    x, y, w, h = (float(v) for v in box)
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def box_polygon(header: Header, box: Sequence[float] | None) -> PolygonStamped:
    """The box as a polygon of 4 corners; ``None`` gives an empty polygon (target lost)."""
    msg = PolygonStamped()
    msg.header = header
    if box is not None:
        msg.polygon.points = [Point32(x=cx, y=cy, z=0.0) for cx, cy in box_corners(box)]
    return msg


def polygon_box(msg: PolygonStamped) -> tuple[float, float, float, float] | None:
    """Inverse of :func:`box_polygon` (for consumers and tests); None for an empty polygon."""
    pts = msg.polygon.points
    if not pts:
        return None
    if len(pts) != 4:
        raise ValueError(f"expected 4 corners, got {len(pts)}")
    return (pts[0].x, pts[0].y, pts[2].x - pts[0].x, pts[2].y - pts[0].y)


@dataclass(frozen=True)
class Target2D:
    """One target's result in a frame, as the stamped output carries it (box None: not tracking)."""

    target_id: int
    box: Sequence[float] | None
    score: float


def detections(header: Header, targets: Sequence[Target2D], label: str):
    """One frame's ``vision_msgs/Detection2DArray``: one detection per target that is tracking (box
    centre and size in pixels, ``id`` = the target id, ``results[0]`` = (label, score)); targets
    searching or lost, and an ended session, have none."""
    msg = Detection2DArray(header=header)
    for target in targets:
        if target.box is None:
            continue
        x, y, w, h = (float(v) for v in target.box)
        det = Detection2D(header=header, id=str(target.target_id))
        det.bbox.center.position.x, det.bbox.center.position.y = x + w / 2.0, y + h / 2.0
        det.bbox.size_x, det.bbox.size_y = w, h
        det.results = [scored_hypothesis(label, target.score)]
        msg.detections.append(det)
    return msg


@dataclass(frozen=True)
class Target3D:
    """One target's 3D estimate in a frame (a multi-target node passes one per target)."""

    target_id: int
    estimate: Estimate3D
    score: float


def scored_hypothesis(label: str, score: float):
    result = ObjectHypothesisWithPose()
    result.hypothesis.class_id, result.hypothesis.score = label, float(score)
    return result


def detections_3d(header: Header, targets: Sequence[Target3D], label: str):
    """One frame's ``vision_msgs/Detection3DArray``: per target with an estimate one detection
    (``bbox.center.position`` in metres in the depth image's optical frame, orientation identity,
    ``bbox.size`` = metric width, height and visible depth spread, ``id`` = the target id,
    ``results[0].hypothesis`` = (label, score) as in ``~/detections``); an empty array otherwise."""
    msg = Detection3DArray(header=header)
    for target in targets:
        det = Detection3D(header=header, id=str(target.target_id))
        position, size = target.estimate.position, target.estimate.size
        det.bbox.center.position.x, det.bbox.center.position.y, det.bbox.center.position.z = position
        det.bbox.center.orientation.w = 1.0
        det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = size
        det.results = [scored_hypothesis(label, target.score)]
        msg.detections.append(det)
    return msg


def position_point(header: Header, estimate: Estimate3D) -> PointStamped:
    """The target's position (metres, the depth image's optical frame) for RViz and simple consumers."""
    x, y, z = estimate.position
    return PointStamped(header=header, point=Point(x=float(x), y=float(y), z=float(z)))


MARKER_NS = "dasiamrpn"
MARKER_LINE_PX = 2.0
MARKER_COLOURS = {"tracking": ColorRGBA(r=0.0, g=1.0, b=0.0, a=1.0),
                  "searching": ColorRGBA(r=1.0, g=0.6, b=0.0, a=1.0)}


def image_marker(header: Header, box: Sequence[float] | None, target_id: int, state: str) -> ImageMarker:
    """The box as a closed polygon for an image overlay in RViz/Foxglove (id = the target id);
    a REMOVE marker when there is no box (lost)."""
    marker = ImageMarker(header=header, ns=MARKER_NS, id=int(target_id), type=ImageMarker.POLYGON,
                         scale=MARKER_LINE_PX)
    if box is None:
        marker.action = ImageMarker.REMOVE
        return marker
    marker.action = ImageMarker.ADD
    marker.points = [Point(x=cx, y=cy, z=0.0) for cx, cy in box_corners(box)]
    marker.outline_color = MARKER_COLOURS.get(state, MARKER_COLOURS["searching"])
    return marker


@dataclass(frozen=True)
class ChosenDetection:
    box: tuple[float, float, float, float]   # x, y, w, h in pixels
    score: float
    class_id: str


def matching_detections(msg, class_id: str, min_score: float) -> list[ChosenDetection]:
    """Every detection with a hypothesis of ``class_id`` ("" = any) scoring at least ``min_score`` (its
    best such hypothesis), highest score first."""
    chosen = []
    for det in msg.detections:
        scored = [r.hypothesis for r in det.results
                  if not (class_id and r.hypothesis.class_id != class_id) and r.hypothesis.score >= min_score]
        if scored:
            best = max(scored, key=lambda h: h.score)
            chosen.append(ChosenDetection(detection_box(det), float(best.score), best.class_id))
    return sorted(chosen, key=lambda c: -c.score)


def choose_detection(msg, class_id: str, min_score: float) -> ChosenDetection | None:
    """The highest-scoring hypothesis of ``class_id`` ("" = any) scoring at least ``min_score``."""
    chosen = matching_detections(msg, class_id, min_score)
    return chosen[0] if chosen else None


def detection_box(det) -> tuple[float, float, float, float]:
    """Inverse of :func:`detections` for one ``Detection2D``: (x, y, w, h)."""
    cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
    return (cx - det.bbox.size_x / 2.0, cy - det.bbox.size_y / 2.0, det.bbox.size_x, det.bbox.size_y)


@dataclass(frozen=True)
class DiagnosticsSnapshot:
    state: str            # idle | tracking | searching | lost | error
    fps: float            # tracked frames per second over the last period
    latency_ms: float     # median time from receiving a frame to publishing its outputs
    track_ms: float       # median time of the tracker's track() call
    overhead_ms: float    # median per-frame latency minus track time (decoding, queueing, publishing)
    stamp_age_ms: float   # median (publish time - image stamp): includes transport and camera delay
    frames_received: int
    frames_tracked: int
    frames_dropped: int   # newer frames arrived while tracking; never tracked
    frames_rejected: int  # bad input (encoding, sizes)
    device: str
    model: str
    mode: str
    message: str          # why the level is what it is, the pending notice and the last problem
    level: str = "ok"     # ok | warn | error
    extra: tuple[tuple[str, str], ...] = ()   # further key/value pairs (frame buffer, target id, ...)
    targets: tuple = ()   # a multi-target node's per-target DiagnosticStatus entries (target_status)


def diagnostics_array(header: Header, node_name: str, snap: DiagnosticsSnapshot) -> DiagnosticArray:
    level = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}[snap.level]
    status = DiagnosticStatus(level=level, name=f"{node_name}: tracker", message=snap.message,
                              hardware_id=snap.device)
    status.values = [KeyValue(key=k, value=v) for k, v in (
        ("state", snap.state), ("fps", f"{snap.fps:.2f}"), ("latency_ms", f"{snap.latency_ms:.2f}"),
        ("track_ms", f"{snap.track_ms:.2f}"), ("overhead_ms", f"{snap.overhead_ms:.2f}"),
        ("stamp_age_ms", f"{snap.stamp_age_ms:.2f}"), ("frames_received", str(snap.frames_received)),
        ("frames_tracked", str(snap.frames_tracked)), ("frames_dropped", str(snap.frames_dropped)),
        ("frames_rejected", str(snap.frames_rejected)), ("device", snap.device),
        ("model", snap.model), ("mode", snap.mode)) + snap.extra]
    return DiagnosticArray(header=header, status=[status, *snap.targets])


def target_status(node_name: str, target_id: int, state: str, score: float, box, hardware_id: str):
    """A multi-target node's /diagnostics entry of one target: WARN while searching or lost."""
    level = DiagnosticStatus.OK if state == "tracking" else DiagnosticStatus.WARN
    status = DiagnosticStatus(level=level, name=f"{node_name}: target {target_id}", message=state,
                              hardware_id=hardware_id)
    box_text = "" if box is None else ",".join(f"{v:.1f}" for v in box)
    status.values = [KeyValue(key=k, value=v) for k, v in (
        ("target_id", str(target_id)), ("state", state), ("score", f"{score:.3f}"), ("box", box_text))]
    return status

"""rosbag2 files (MCAP and sqlite3) read and written with the pure-Python ``rosbags`` library: no
ROS graph is needed to read a bag.

* :func:`image_messages` yields a bag's image topic as rclpy ``sensor_msgs`` messages with their
  recorded headers and the time they were recorded (the replay camera publishes them as they are);
* :func:`bag_frames` decodes them to the tracker's BGR frames (``dasiamrpn-track --bag``);
* :class:`DetectionsBagWriter` writes ``vision_msgs/Detection2DArray`` messages stamped like the
  images (``--out-bag``), readable by ``ros2 bag`` and Foxglove; the message definitions are this
  repository's ``ros_interfaces/vision_msgs`` (the upstream ones, field for field).
"""
from __future__ import annotations

import array
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator, Sequence

import numpy as np

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
STORAGES = ("mcap", "sqlite3")
VISION_MSGS_DIR = Path(__file__).resolve().parents[1] / "ros_interfaces" / "vision_msgs" / "msg"
DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"


class BagError(ValueError):
    """A bag that cannot be read as asked: the message names the file and the problem."""


def is_bag(path: str | Path) -> bool:
    """A rosbag2 directory (metadata.yaml) or a single .mcap / .db3 file."""
    path = Path(path)
    return (path.is_dir() and (path / "metadata.yaml").exists()) or path.suffix in (".mcap", ".db3")


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_JAZZY)


@dataclass(frozen=True)
class BagImage:
    msg: object          # rclpy sensor_msgs/Image or CompressedImage, recorded header kept
    recorded_ns: int     # when the bag recorded it


def image_topics(path: str | Path) -> dict[str, str]:
    from rosbags.highlevel import AnyReader
    try:
        with AnyReader([Path(path)], default_typestore=_typestore()) as reader:
            return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
    except Exception as exc:   # rosbags' own errors do not name the file
        raise BagError(f"{path}: cannot read it as a rosbag2 (MCAP or sqlite3): {exc}") from exc


def image_messages(path: str | Path, topic: str | None = None) -> Iterator[BagImage]:
    """The image messages of ``topic`` (default: the bag's only image topic) in recorded order."""
    from rosbags.highlevel import AnyReader
    topics = image_topics(path)
    if topic is None:
        if len(topics) != 1:
            raise BagError(f"{path}: {len(topics)} image topics ({', '.join(sorted(topics)) or 'none'}); "
                           f"pick one with --topic")
        topic = next(iter(topics))
    if topic not in topics:
        raise BagError(f"{path}: no image topic {topic!r}; its image topics: {', '.join(sorted(topics)) or 'none'}")
    with AnyReader([Path(path)], default_typestore=_typestore()) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, timestamp, raw in reader.messages(connections=connections):
            yield BagImage(_to_rclpy(reader.deserialize(raw, connection.msgtype), connection.msgtype), timestamp)


def _to_rclpy(msg, msgtype: str):
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header
    header = Header(stamp=Time(sec=int(msg.header.stamp.sec), nanosec=int(msg.header.stamp.nanosec)),
                    frame_id=str(msg.header.frame_id))
    data = array.array("B", np.asarray(msg.data, dtype=np.uint8).tobytes())
    if msgtype == "sensor_msgs/msg/CompressedImage":
        out = CompressedImage(header=header, format=str(msg.format))
    else:
        out = Image(header=header, height=int(msg.height), width=int(msg.width), encoding=str(msg.encoding),
                    is_bigendian=int(msg.is_bigendian), step=int(msg.step))
    out.data = data
    return out


def bag_frames(path: str | Path, topic: str | None = None) -> Iterator[tuple[object, np.ndarray]]:
    """(recorded header, BGR frame) for each image of the topic; bad images raise ImageConversionError."""
    from cv_bridge import CvBridge
    from sensor_msgs.msg import CompressedImage

    from .image_conversion import compressed_to_bgr, image_to_bgr
    bridge = CvBridge()
    for item in image_messages(path, topic):
        msg = item.msg
        frame = compressed_to_bgr(msg, bridge) if isinstance(msg, CompressedImage) else image_to_bgr(msg, bridge)
        yield msg.header, frame


def _register_vision_msgs(typestore) -> None:
    from rosbags.typesys import get_types_from_msg
    types: dict = {}
    for path in sorted(VISION_MSGS_DIR.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"vision_msgs/msg/{path.stem}"))
    typestore.register(types)


class DetectionsBagWriter:
    """A rosbag2 of ``Detection2DArray`` messages on one topic (``storage`` "mcap" or "sqlite3")."""

    def __init__(self, path: str | Path, topic: str = "/dasiamrpn_tracker/detections", storage: str = "mcap"):
        from rosbags.rosbag2 import StoragePlugin, Writer
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {STORAGES}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already: rosbag2 writes a new directory")
        self._store = _typestore()
        _register_vision_msgs(self._store)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        self._connection = self._writer.add_connection(topic, DETECTIONS_TYPE, typestore=self._store)

    def write(self, stamp: tuple[int, int], frame_id: str, box: Sequence[float] | None, score: float,
              target_id: int, label: str) -> None:
        """One frame's detections (none when ``box`` is None), stamped like its image."""
        t = self._store.types
        Header, Time = t["std_msgs/msg/Header"], t["builtin_interfaces/msg/Time"]
        header = Header(stamp=Time(sec=int(stamp[0]), nanosec=int(stamp[1])), frame_id=frame_id)
        detections = []
        if box is not None:
            x, y, w, h = (float(v) for v in box)
            Point2D, Pose2D = t["vision_msgs/msg/Point2D"], t["vision_msgs/msg/Pose2D"]
            bbox = t["vision_msgs/msg/BoundingBox2D"](
                center=Pose2D(position=Point2D(x=x + w / 2, y=y + h / 2), theta=0.0), size_x=w, size_y=h)
            pose = _zero_pose(t)
            hypothesis = t["vision_msgs/msg/ObjectHypothesisWithPose"](
                hypothesis=t["vision_msgs/msg/ObjectHypothesis"](class_id=label, score=float(score)), pose=pose)
            detections.append(t["vision_msgs/msg/Detection2D"](header=header, results=[hypothesis], bbox=bbox,
                                                               id=str(target_id)))
        msg = t[DETECTIONS_TYPE](header=header, detections=detections)
        self._writer.write(self._connection, int(stamp[0]) * 10**9 + int(stamp[1]),
                           self._store.serialize_cdr(msg, DETECTIONS_TYPE))

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> DetectionsBagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _zero_pose(t):
    point = t["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0)
    quat = t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
    pose = t["geometry_msgs/msg/Pose"](position=point, orientation=quat)
    return t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36, dtype=np.float64))

"""``dasiamrpn-replay``: a replay camera publishing a video file, an image folder or a rosbag2.

Publishes ``image`` (``sensor_msgs/Image``; remap it like a camera topic) or, with ``--compressed``,
``image/compressed`` at a fixed rate, stamped with the node's clock at publish time and the given
frame_id, so the tracker node is driven the way a camera drives it::

    dasiamrpn-replay ../shared/data/sequences/Girl --rate 30 --loop --ros-args -r image:=/camera/image_raw

A rosbag2 (a directory with metadata.yaml, a .mcap or a .db3 file; read with ``rosbags``, no ROS
needed to read it) is published as recorded: the messages of ``--topic`` (raw or compressed) with
their recorded headers, at the recorded speed times ``--rate-factor`` (0: no waiting; with the
tracker's ``frame_policy:=every`` every frame is tracked at any speed)::

    dasiamrpn-replay recording.mcap --topic /camera/image_raw --rate-factor 2 --ros-args -r image:=/camera/image_raw

An RGB-D sequence (colour frames plus a folder of 16-bit PNG depth frames in millimetres, registered
to the colour frames, one per colour frame in name order, and the camera's calibration YAML)
also publishes ``depth`` (``16UC1``), ``depth/camera_info`` and ``camera_info``, stamped like the
colour frame, for the tracker's ``use_depth``::

    dasiamrpn-replay seq/img --depth seq/depth --camera-info seq/camera_info.yaml --ros-args \
        -r image:=/camera/color/image_raw -r depth:=/camera/aligned_depth_to_color/image_raw \
        -r depth/camera_info:=/camera/aligned_depth_to_color/camera_info
"""
from __future__ import annotations

import argparse
import array
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.duration import Duration
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Time
from rclpy.utilities import remove_ros_args
from rosgraph_msgs.msg import Clock
import yaml
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from tqdm import tqdm

from dasiamrpn_core.frame_source import FrameSource

from .image_conversion import SUPPORTED_ENCODINGS, bgr_to_image, depth_to_image
from .ros_main import init_without_signal_handlers, install_stop_signals

NODE_NAME = "dasiamrpn_replay"
ACK_WAIT_S = 10.0   # at exit: how long reliable subscribers get to acknowledge the last messages
WAIT_POLL_S = 0.05
COMPRESSED_FORMATS = {"jpg": "jpeg", "png": "png"}   # --compressed choice -> CompressedImage.format


DEPTH_PNG = ".png"


def load_camera_info(path: str) -> CameraInfo:
    """A ``CameraInfo`` from a ROS calibration YAML (camera_calibration / camera_info_manager
    format: image_width, image_height, camera_matrix, distortion_model, distortion_coefficients,
    rectification_matrix, projection_matrix); ValueError naming what is missing or wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        info = CameraInfo(width=int(data["image_width"]), height=int(data["image_height"]))
        info.k = [float(v) for v in data["camera_matrix"]["data"]]
        info.distortion_model = str(data.get("distortion_model", "plumb_bob"))
        info.d = [float(v) for v in data.get("distortion_coefficients", {}).get("data", [])]
        info.r = [float(v) for v in data.get("rectification_matrix", {}).get("data", np.eye(3).ravel())]
        projection = data.get("projection_matrix", {}).get("data")
        info.p = [float(v) for v in projection] if projection else info.k[:3] + [0.0] + info.k[3:6] + [0.0] + \
            info.k[6:] + [0.0]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"{path}: not a camera calibration YAML ({type(exc).__name__}: {exc})") from exc
    return info


class ReplayNode(Node):
    def __init__(self, frame_id: str, encoding: str, compressed: str | None, reliable: bool,
                 camera_info: CameraInfo | None = None, depth_frame_id: str = ""):
        super().__init__(NODE_NAME)
        self.frame_id, self.encoding, self.compressed = frame_id, encoding, compressed
        self.camera_info, self.depth_frame_id = camera_info, depth_frame_id or frame_id
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        if compressed:
            self.publisher = self.create_publisher(CompressedImage, "image/compressed", qos)
        else:
            self.publisher = self.create_publisher(Image, "image", qos)
        if camera_info is not None:   # an RGB-D sequence
            self.depth_publisher = self.create_publisher(Image, "depth", qos)
            self.depth_info_publisher = self.create_publisher(CameraInfo, "depth/camera_info", qos)
            self.info_publisher = self.create_publisher(CameraInfo, "camera_info", qos)

    def publish(self, image: np.ndarray, depth: np.ndarray | None = None) -> Header:
        """One frame (and its depth frame and camera infos, stamped alike, before it)."""
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        if depth is not None:
            if depth.shape != image.shape[:2]:
                raise ValueError(f"the depth frame is {depth.shape[1]}x{depth.shape[0]}, the colour frame "
                                 f"{image.shape[1]}x{image.shape[0]}: depth must be registered to colour")
            depth_header = Header(stamp=header.stamp, frame_id=self.depth_frame_id)
            for publisher, frame_id in ((self.info_publisher, self.frame_id),
                                        (self.depth_info_publisher, self.depth_frame_id)):
                self.camera_info.header = Header(stamp=header.stamp, frame_id=frame_id)
                publisher.publish(self.camera_info)
            self.depth_publisher.publish(depth_to_image(depth, header=depth_header))
        if self.compressed:
            ok, data = cv2.imencode(f".{self.compressed}", image)
            if not ok:
                raise RuntimeError(f"cv2.imencode failed for format {self.compressed}")
            msg = CompressedImage(header=header, format=COMPRESSED_FORMATS[self.compressed])
            msg.data = array.array("B", data.tobytes())
        else:
            msg = bgr_to_image(image, self.encoding, header=header)
        self.publisher.publish(msg)
        return header


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dasiamrpn-replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="video file, image folder, or sequence folder holding img/")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--frame-id", default="camera", help="header.frame_id (default camera)")
    parser.add_argument("--encoding", default="bgr8", choices=sorted(SUPPORTED_ENCODINGS),
                        help="sensor_msgs/Image encoding (default bgr8)")
    parser.add_argument("--compressed", choices=sorted(COMPRESSED_FORMATS),
                        help="publish image/compressed in this format instead of image")
    parser.add_argument("--best-effort", action="store_true",
                        help="best-effort QoS (default reliable, which matches either kind of subscriber)")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    parser.add_argument("--count", type=int, help="frames per pass (default all)")
    parser.add_argument("--topic", default=None, help="rosbag2: the image topic (default: the bag's only one)")
    parser.add_argument("--clock", action="store_true",
                        help="rosbag2: also publish /clock (rosgraph_msgs/Clock) at the recorded times, for "
                             "nodes run with use_sim_time:=true")
    parser.add_argument("--rate-factor", type=float, default=1.0,
                        help="rosbag2: times the recorded speed (default 1; 0 = as fast as possible)")
    parser.add_argument("--wait-subscribers", type=int, default=0, metavar="N",
                        help="wait until N subscribers are matched before the first frame")
    parser.add_argument("--depth", metavar="DIR",
                        help="RGB-D: a folder of 16-bit PNG depth frames (millimetres, registered to the colour "
                             "frames, one per frame in name order) published as depth (16UC1)")
    parser.add_argument("--camera-info", metavar="YAML",
                        help="RGB-D: the camera's calibration YAML, published as camera_info and "
                             "depth/camera_info with every frame (needed with --depth)")
    parser.add_argument("--depth-frame-id", default="",
                        help="RGB-D: header.frame_id of the depth frames (default: --frame-id, registered depth)")
    args = parser.parse_args(argv)
    if bool(args.depth) != bool(args.camera_info):
        parser.error("--depth and --camera-info go together")
    if args.depth and args.compressed:
        parser.error("--depth publishes raw images: leave out --compressed")
    if not args.rate > 0:
        parser.error(f"--rate must be > 0, got {args.rate}")
    if not args.rate_factor >= 0:
        parser.error(f"--rate-factor must be >= 0, got {args.rate_factor}")
    if args.start < 0 or (args.count is not None and args.count < 1):
        parser.error("--start must be >= 0 and --count >= 1")
    return args


def wait_for_subscribers(node: Node, publisher, wanted: int, stop: threading.Event) -> bool:
    if wanted > 0:
        node.get_logger().info(f"waiting for {wanted} subscriber(s) on {publisher.topic_name}")
    while publisher.get_subscription_count() < wanted:
        if stop.wait(WAIT_POLL_S):
            return False
    return True


def frames(source: str, start: int, count: int | None) -> Iterator[np.ndarray]:
    """One pass over the source's frames ``start .. start+count`` (ValueError if unreadable)."""
    return itertools.islice(iter(FrameSource(source)), start, None if count is None else start + count)


def depth_files(folder: str, expected: int) -> list[Path]:
    """The 16-bit PNG depth frames of ``folder`` in name order; ValueError unless one per colour frame."""
    path = Path(folder)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == DEPTH_PNG) if path.is_dir() else []
    if len(files) != expected:
        raise ValueError(f"{folder}: {len(files)} depth PNG frames for {expected} colour frames (one per frame)")
    return files


def read_depth(path: Path) -> np.ndarray:
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None or depth.dtype != np.uint16 or depth.ndim != 2:
        kind = "unreadable" if depth is None else f"{depth.dtype} {depth.shape}"
        raise ValueError(f"{path}: not a 16-bit single-channel PNG in millimetres ({kind})")
    return depth


def depth_frames(args: argparse.Namespace) -> Iterator[np.ndarray | None]:
    """The depth frame of each colour frame of one pass (None without --depth)."""
    if not args.depth:
        return itertools.repeat(None)
    files = depth_files(args.depth, len(FrameSource(args.source)))
    return (read_depth(f) for f in itertools.islice(files, args.start, None if args.count is None
                                                    else args.start + args.count))


def replay(node: ReplayNode, args: argparse.Namespace, stop: threading.Event) -> int:
    """Publish the frames at ``args.rate`` (never in bursts when late); return how many were published."""
    period = 1.0 / args.rate
    published = 0
    next_t = time.monotonic()
    while not stop.is_set():
        passed = published
        total = max(0, len(FrameSource(args.source)) - args.start)
        with tqdm(total=min(total, args.count or total) or None, desc="replay", unit="frame", leave=False,
                  disable=not sys.stderr.isatty()) as bar:
            for image, depth in zip(frames(args.source, args.start, args.count), depth_frames(args)):
                delay = next_t - time.monotonic()
                if (delay > 0 and stop.wait(delay)) or stop.is_set():
                    return published
                node.publish(image, depth)
                published += 1
                bar.update()
                next_t = max(next_t + period, time.monotonic() - period)
        if not args.loop or published == passed:
            break
    return published


def replay_bag(node: Node, publisher, messages, rate_factor: float, stop: threading.Event, clock=None) -> int:
    """Publish recorded messages with their recorded gaps divided by ``rate_factor`` (and, with a
    ``clock`` publisher, /clock at each message's recorded time just before it)."""
    published, start_wall, start_rec = 0, time.monotonic(), None
    for item in messages:
        start_rec = item.recorded_ns if start_rec is None else start_rec
        if rate_factor > 0:
            due = start_wall + (item.recorded_ns - start_rec) / 1e9 / rate_factor
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
        if stop.is_set():
            break
        if clock is not None:
            clock.publish(Clock(clock=Time(sec=item.recorded_ns // 10**9, nanosec=item.recorded_ns % 10**9)))
        publisher.publish(item.msg)
        published += 1
    return published


def main_bag(argv: list[str], args: argparse.Namespace) -> int:
    from .bags import BagError, image_messages, image_topics
    try:
        topics = image_topics(args.source)
        topic = args.topic or (next(iter(topics)) if len(topics) == 1 else None)
        if topic not in topics:
            raise BagError(f"{args.source}: pick --topic among its image topics: {', '.join(sorted(topics)) or 'none'}")
    except BagError as exc:
        print(f"dasiamrpn-replay: {exc}", file=sys.stderr)
        return 2
    compressed = topics[topic].endswith("CompressedImage")
    init_without_signal_handlers(argv)
    stop = install_stop_signals()
    node = rclpy.create_node(NODE_NAME)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1 if args.best_effort else 100,
                     reliability=ReliabilityPolicy.BEST_EFFORT if args.best_effort else ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(CompressedImage if compressed else Image,
                                      "image/compressed" if compressed else "image", qos)
    clock = node.create_publisher(Clock, "/clock", 10) if args.clock else None

    def run() -> int:
        published = replay_bag(node, publisher, image_messages(args.source, topic), args.rate_factor, stop, clock)
        stop.wait(0.5)   # let a reliable subscriber fetch the last ones before the writer goes
        return published
    return publish_then_exit(node, publisher, args.wait_subscribers, stop, run, BagError,
                             f"{topic} of {args.source} on {publisher.topic_name} at {args.rate_factor:g}x "
                             f"the recorded speed", "messages")


def publish_then_exit(node: Node, publisher, wanted: int, stop: threading.Event, run: Callable[[], int],
                      errors: type[Exception], what: str, unit: str) -> int:
    """Wait for ``wanted`` subscribers, ``run()`` the replay, shut down; 1 on ``errors``, else 0."""
    try:
        if wait_for_subscribers(node, publisher, wanted, stop):
            node.get_logger().info(f"publishing {what}")
            node.get_logger().info(f"published {run()} {unit}")
            # reliable QoS: the last messages may still be in flight; leaving now would drop them
            if not publisher.wait_for_all_acked(Duration(seconds=ACK_WAIT_S)):
                node.get_logger().warning(f"not every subscriber acknowledged the {unit} within {ACK_WAIT_S:g} s")
    except errors as exc:
        node.get_logger().error(str(exc))
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(remove_ros_args(argv)[1:])
    from .bags import is_bag
    if is_bag(args.source):
        return main_bag(argv, args)
    try:
        source = FrameSource(args.source)
        camera_info = None
        if args.depth:
            depth_files(args.depth, len(source))
            camera_info = load_camera_info(args.camera_info)
    except ValueError as exc:
        print(f"dasiamrpn-replay: {exc}", file=sys.stderr)
        return 2
    init_without_signal_handlers(argv)
    stop = install_stop_signals()
    node = ReplayNode(args.frame_id, args.encoding, args.compressed, reliable=not args.best_effort,
                      camera_info=camera_info, depth_frame_id=args.depth_frame_id)
    return publish_then_exit(node, node.publisher, args.wait_subscribers, stop, lambda: replay(node, args, stop),
                             ValueError, f"{args.source} on {node.publisher.topic_name} at {args.rate:g} Hz", "frames")


if __name__ == "__main__":
    sys.exit(main())

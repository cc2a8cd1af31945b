"""``dasiamrpn-client``: call the tracker's services and print its boxes without the
``ros2`` command line (which the standalone venv does not have)::

    dasiamrpn-client init 56 20 31 45             # box x y w h on the newest frame
    dasiamrpn-client init 56 20 31 45 --stamp 1712345678.123456789
    dasiamrpn-client remove 2                     # end target 2 of a multi-target node (max_targets > 1)
    dasiamrpn-client stop                         # end every target
    dasiamrpn-client echo --count 10              # stamp, state, score, x y w h

On a ROS 2 install the same is ``ros2 service call`` / ``ros2 topic echo`` (see docs/ros.md).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

import rclpy
from geometry_msgs.msg import PolygonStamped
from rclpy.node import Node
from rclpy.utilities import remove_ros_args
from sensor_msgs.srv import SetCameraInfo
from std_msgs.msg import Float32, String
from std_srvs.srv import Trigger

from .messages import polygon_box
from .ros_main import init_without_signal_handlers, install_stop_signals

SERVICE_WAIT_S = 10.0
CALL_TIMEOUT_S = 30.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dasiamrpn-client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--node", default="/dasiamrpn_tracker", help="tracker node name (default /dasiamrpn_tracker)")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="start tracking a box (pixels of the image)")
    for name in ("x", "y", "w", "h"):
        init.add_argument(name, type=int)
    init.add_argument("--stamp", help="sec.nanosec of the frame the box was drawn on (default: newest frame)")
    remove = sub.add_parser("remove", help="end one target by id (~/remove_target)")
    remove.add_argument("target_id", type=int)
    sub.add_parser("stop", help="stop tracking (every target)")
    echo = sub.add_parser("echo", help="print the published boxes")
    echo.add_argument("--count", type=int, default=0, help="stop after this many boxes (default: until Ctrl-C)")
    return parser.parse_args(argv)


def parse_stamp(text: str) -> tuple[int, int]:
    sec, _, frac = text.partition(".")
    if not sec.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"stamp must look like SEC.NANOSEC, got {text!r}")
    return int(sec), int((frac + "000000000")[:9])


def call(node: Node, kind, name: str, request):
    client = node.create_client(kind, name)
    if not client.wait_for_service(timeout_sec=SERVICE_WAIT_S):
        raise TimeoutError(f"service {name} not available (is the tracker running, same ROS_DOMAIN_ID?)")
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=CALL_TIMEOUT_S)
    if not future.done():
        raise TimeoutError(f"no answer from {name} within {CALL_TIMEOUT_S} s")
    return future.result()


def echo(node: Node, prefix: str, count: int, stop: threading.Event) -> None:
    latest: dict[str, str] = {"state": "?", "score": "nan"}
    printed = [0]

    def on_box(msg: PolygonStamped) -> None:
        box = polygon_box(msg)
        where = "-" if box is None else " ".join(f"{v:.1f}" for v in box)
        try:
            print(f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} {latest['state']} {latest['score']} "
                  f"{where}", flush=True)
        except BrokenPipeError:  # the reader went away (`... echo | head`): end quietly, as ros2 topic echo
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            stop.set()
            return
        printed[0] += 1
        if count and printed[0] >= count:
            stop.set()

    node.create_subscription(String, f"{prefix}/state", lambda m: latest.update(state=m.data), 10)
    node.create_subscription(Float32, f"{prefix}/score", lambda m: latest.update(score=f"{m.data:.3f}"), 10)
    node.create_subscription(PolygonStamped, f"{prefix}/box", on_box, 10)
    while not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(remove_ros_args(argv)[1:])
    init_without_signal_handlers(argv)
    stop = install_stop_signals()
    node = rclpy.create_node("dasiamrpn_client")
    prefix = args.node.rstrip("/")
    try:
        if args.command == "init":
            request = SetCameraInfo.Request()
            roi = request.camera_info.roi
            roi.x_offset, roi.y_offset, roi.width, roi.height = args.x, args.y, args.w, args.h
            if args.stamp:
                request.camera_info.header.stamp.sec, request.camera_info.header.stamp.nanosec = \
                    parse_stamp(args.stamp)
            response = call(node, SetCameraInfo, f"{prefix}/init_box", request)
            print(("ok: " if response.success else "failed: ") + response.status_message)
            return 0 if response.success else 1
        if args.command == "remove":
            from dasiamrpn_interfaces.srv import RemoveTarget   # built by make setup (ros_interfaces/)
            response = call(node, RemoveTarget, f"{prefix}/remove_target", RemoveTarget.Request(target_id=args.target_id))
            print(("ok: " if response.success else "failed: ") + response.message)
            return 0 if response.success else 1
        if args.command == "stop":
            print(call(node, Trigger, f"{prefix}/stop", Trigger.Request()).message)
            return 0
        echo(node, prefix, args.count, stop)
        return 0
    except (TimeoutError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())

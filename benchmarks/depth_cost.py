"""The cost of the tracker node's 3D step per frame (``use_depth``), on 640x480 depth images.

    dasiamrpn-bench-depth [--frames 2000] [--json OUT]

The step as the node runs it (``DepthInput.locate``): pair the colour frame with the buffered depth
frame of the closest stamp, check it and its ``CameraInfo``, unpack the ``sensor_msgs/Image``, find
the target's depth mode in the box's centre, back-project. On the synthetic VGA scene
(``dasiamrpn_core.demo_rgbd``: a target 1.5 m away before a wall, 25 % holes), in both depth
encodings, for the target's box (53x88 px ... 105x175 px at VGA) and for a box of half the image.
Single-threaded numpy; prints median and p95 per case and the CPU model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from dasiamrpn_core.demo_rgbd import depth_to_millimetres, person_scene
from dasiamrpn_ros.depth_input import DepthInput
from dasiamrpn_ros.frame_buffer import Stamp
from dasiamrpn_ros.image_conversion import depth_to_image

from .backends import cpu_model

WARMUP = 50
MAX_AGE_S = 0.05
BUDGET_MS = 1.0   # the bound per frame on 640x480


def measure(encoding: str, box, frames: int) -> dict:
    scene = person_scene()
    _, depth_m = scene.render()
    raw = depth_to_millimetres(depth_m) if encoding == "16UC1" else depth_m
    stamp = Time(sec=100, nanosec=0)
    depth_input = DepthInput("depth", "depth/camera_info")
    k = scene.intrinsics
    info = CameraInfo(width=scene.size[0], height=scene.size[1])
    info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    depth_input.on_info(info)
    depth_input.on_depth(depth_to_image(raw, header=Header(stamp=stamp, frame_id="depth")))
    times = []
    for i in range(frames + WARMUP):
        start = time.perf_counter_ns()
        outcome = depth_input.locate(Stamp(100, 0), scene.size, {1: box}, MAX_AGE_S)
        elapsed = time.perf_counter_ns() - start
        if i >= WARMUP:
            times.append(elapsed / 1e6)
    if 1 not in outcome.estimates:
        raise RuntimeError(f"no estimate: {outcome.failures}")
    return {"encoding": encoding, "box": list(box), "frames": frames, "median_ms": float(np.median(times)),
            "p95_ms": float(np.percentile(times, 95)), "depth_m": outcome.estimates[1].position[2]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-depth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=2000, help="timed frames per case (default 2000)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be >= 1")
    target = person_scene().plates[0].box(person_scene().intrinsics)
    cases = [measure(encoding, box, args.frames) for encoding in ("16UC1", "32FC1")
             for box in (target, (160, 120, 320, 240))]
    print(f"3D step per frame, 640x480, {args.frames} frames per case, CPU: {cpu_model()}")
    print(f"{'encoding':8}  {'box (x, y, w, h)':22}  {'median ms':>9}  {'p95 ms':>7}")
    for case in cases:
        print(f"{case['encoding']:8}  {str(tuple(case['box'])):22}  {case['median_ms']:9.3f}  {case['p95_ms']:7.3f}")
    worst = max(case["p95_ms"] for case in cases)
    print(f"worst p95 {worst:.3f} ms: {'under' if worst < BUDGET_MS else 'OVER'} the {BUDGET_MS:g} ms budget")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "cases": cases, "budget_ms": BUDGET_MS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

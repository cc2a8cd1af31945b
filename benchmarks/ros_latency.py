"""``dasiamrpn-bench-ros``: end-to-end latency of the tracker node over real DDS.

For each 640x480 frame of the built-in demo sequence: publish it as ``sensor_msgs/Image`` and time
until its box arrives (image-in -> box-out, lock-step so nothing queues), then time a direct
``tracker.track`` call on the same frame in this process (same checkpoint, mode and thread count,
same tracker state; with ``--targets N`` the node runs ``max_targets`` N with N targets and the
direct call is a ``MultiTracker`` with the same N targets). The node's overhead is the per-frame difference; the node also reports its
own receive -> publish time minus its track time (``node.overhead_ms``), which background load on
a shared machine does not blur. The node runs as a subprocess started like a user starts it, on
its own ROS_DOMAIN_ID with localhost-only discovery.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import torch
from std_msgs.msg import Header
from tqdm import tqdm

from dasiamrpn_core import BACKENDS, MultiTracker, load_tracker
from dasiamrpn_core.demo_sequence import make_sequence

from dasiamrpn_ros.image_conversion import bgr_to_image
from dasiamrpn_ros.testing import LARGE_IMAGES_ENV, DomainLease, NodeProcess, Probe

BOX_TIMEOUT_S = 60.0
DIAGNOSTICS_WAIT_S = 10.0
INIT_ATTEMPTS, INIT_POLL_S = 100, 0.05


def target_boxes(sequence, n: int) -> list[tuple[int, ...]]:
    """``n`` init boxes on the demo's first frame: the face, its twin, then background patches of the
    (panning) photo in two rows (up to 12 targets)."""
    boxes = [sequence.boxes[0], sequence.twin[0]]
    boxes += [(40 + 110 * (k % 5), 360 if k < 5 else 40, 64, 64) for k in range(max(0, n - 2))]
    return [tuple(int(round(v)) for v in box) for box in boxes[:n]]


def stats_ms(seconds: Sequence[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_ms": round(float(ms.mean()), 2), "frames": int(ms.size)}


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-ros", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="model file (default: the bundled model)")
    parser.add_argument("--mode", default="dasiamrpn", choices=("siamrpn", "dasiamrpn", "longterm"))
    parser.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS,
                        help="inference backend of the node and of the direct track (default auto)")
    parser.add_argument("--frames", type=int, default=100, help="timed frames (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first (default 5)")
    parser.add_argument("--encoding", default="bgr8", help="image encoding published (default bgr8)")
    parser.add_argument("--qos", default="best_effort", choices=("best_effort", "reliable"),
                        help="image subscription reliability of the node (default best_effort)")
    parser.add_argument("--default-transports", action="store_true",
                        help="do not load config/fastdds_large_images_loopback.xml (best effort then drops most "
                             "640x480 frames between processes)")
    parser.add_argument("--settle", type=float, default=0.2,
                        help="pause (s) before each timed call, so the other process's worker threads "
                             "are idle and the two measurements do not slow each other (default 0.2)")
    parser.add_argument("--targets", type=int, default=1, help="targets at once (the node's max_targets; default 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.default_transports:  # before any DDS participant exists; the node inherits it
        os.environ.update(LARGE_IMAGES_ENV)
    sequence = make_sequence("demo")
    count = args.warmup + args.frames + 1
    frames = [sequence.frames[i % len(sequence.frames)] for i in range(count)]
    boxes = target_boxes(sequence, args.targets)
    tracker = load_tracker(args.checkpoint, device="cpu", mode=args.mode, backend=args.backend)
    multi = MultiTracker(tracker) if args.targets > 1 else None
    params = {"device": "cpu", "mode": args.mode, "checkpoint": args.checkpoint or "", "image_reliability": args.qos,
              "backend": tracker.backend, "max_targets": args.targets}
    e2e, direct = [], []
    # the node tracks on a worker thread; so does the direct measurement (here the main thread's
    # OpenMP team measured ~1.7x slower than a worker thread's on the shared 2-core machine)
    with DomainLease() as lease, tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as worker:
        node = NodeProcess.tracker(lease.domain_id, Path(tmp) / "node.log", params)
        probe = Probe(lease.domain_id)
        try:
            probe.wait_ready(node)
            first = bgr_to_image(frames[0], args.encoding, header=Header(stamp=probe.now(), frame_id="bench"))
            probe.publish(first)
            for _ in range(INIT_ATTEMPTS):
                if probe.init_box(boxes[0], stamp=first.header.stamp).success:
                    break
                time.sleep(INIT_POLL_S)
            else:
                raise RuntimeError(f"init_box failed:\n{node.output()}")
            for box in boxes[1:]:
                answer = probe.init_box(box, stamp=first.header.stamp)
                if not answer.success:
                    raise RuntimeError(f"init_box {box} failed: {answer.status_message}")
            if multi is None:
                worker.submit(tracker.init, frames[0], boxes[0]).result()
            else:
                for box in boxes:
                    worker.submit(multi.add, frames[0], box).result()
            for i, frame in enumerate(tqdm(frames[1:], desc="frames", unit="frame")):
                time.sleep(args.settle)
                msg = bgr_to_image(frame, args.encoding, header=Header(stamp=probe.now(), frame_id="bench"))
                t0 = time.perf_counter()
                probe.publish(msg)
                if probe.wait_box(msg.header.stamp, BOX_TIMEOUT_S) is None:
                    raise RuntimeError(f"no box for frame {i + 1}:\n{node.output()[-3000:]}")
                t1 = time.perf_counter()
                time.sleep(args.settle)
                direct_s = worker.submit(timed, (multi or tracker).track, frame).result()
                if i >= args.warmup:
                    e2e.append(t1 - t0)
                    direct.append(direct_s)
            seen = probe.count("diagnostics")
            probe.wait_until(lambda: probe.count("diagnostics") > seen + 1, DIAGNOSTICS_WAIT_S)
            diagnostics = {kv.key: kv.value for kv in probe.snapshot("diagnostics")[-1].msg.status[0].values} \
                if probe.count("diagnostics") else {}
        finally:
            probe.close()
            node.stop()
    overhead = [a - b for a, b in zip(e2e, direct)]
    result = {
        "image": f"{frames[0].shape[1]}x{frames[0].shape[0]} {args.encoding}", "mode": args.mode,
        "targets": args.targets,
        "qos": args.qos, "fastdds_profile": os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE", "default"),
        "model": str(tracker.checkpoint.path), "backend": tracker.backend, "torch_threads": torch.get_num_threads(),
        "end_to_end": stats_ms(e2e), "direct_track": stats_ms(direct),
        "overhead_per_frame": stats_ms(overhead),
        "overhead_of_medians_ms": round((statistics.median(e2e) - statistics.median(direct)) * 1e3, 2),
        # measured inside the node on the same frames (its last 100): immune to load between runs
        "node": {key: float(diagnostics.get(key, "nan")) for key in ("latency_ms", "track_ms", "overhead_ms")},
        "end_to_end_minus_node_track_median_ms": round(
            statistics.median(e2e) * 1e3 - float(diagnostics.get("track_ms", "nan")), 2),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

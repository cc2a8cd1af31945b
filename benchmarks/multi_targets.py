"""``dasiamrpn-bench-multi``: per-frame time of N targets (N = 1, 2, 4, 8) in one ``MultiTracker``
(one batched network call per frame) against N independent single trackers, on the same frames.

    dasiamrpn-bench-multi [--backends torch,openvino] [--threads 2] [--frames 40] [--json OUT]

The frames are the 640x480 demo sequence (real photographs, as ``dasiamrpn-bench``); target 1 is its
face, the others are boxes of the same size spread over the frame. Independent trackers are
``fresh()`` copies of one loaded tracker (one network in memory: the cheapest independent
baseline; N separate processes would also hold N models). Per backend and N: median and p95 ms per
frame (all targets), batched and independent, their ratio, and the ratio to one target; peak RSS
(``ru_maxrss``) after each N (the Ns run in increasing order, so the value after N = 8 is the
process's peak with 8 targets). Mutual awareness is off (the batched call is what is measured).
Each N first runs ``WARMUP_FRAMES`` untimed frames both ways (first calls compile graphs).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from dasiamrpn_core.api import load_tracker
from dasiamrpn_core.cli.common import parse_backend_list
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.multi import MultiTracker

from .backends import _stats, cpu_model

TARGETS = (1, 2, 4, 8)
WARMUP_FRAMES = 3   # untimed frames per N first (OpenVINO compiles a graph on its first call)
KIB = 1024
MIB = 2**20


def target_boxes(first_box, n: int, image_shape) -> list[tuple[float, float, float, float]]:
    """The demo's face and n - 1 boxes of its size on a grid over the frame."""
    x, y, w, h = (float(v) for v in first_box)
    height, width = image_shape[:2]
    boxes = [(x, y, w, h)]
    columns = 4
    for k in range(n - 1):
        gx, gy = k % columns, k // columns
        boxes.append(((gx + 0.5) * width / columns - w / 2, (gy + 0.5) * height / 3 - h / 2, w, h))
    return boxes


def _time_frames(step, frames) -> list[float]:
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        step(frame)
        times.append(time.perf_counter() - t0)
    return times


def _started(prototype, frames, boxes):
    """A multi-tracker and independent single trackers on ``boxes`` of ``frames[0]``."""
    multi = MultiTracker(prototype, mutual_awareness=False)
    for box in boxes:
        multi.add(frames[0], box)
    singles = []
    for box in boxes:
        single = prototype.fresh()
        single.init(frames[0], box)
        singles.append(single)
    return multi, singles


def bench(prototype, frames, boxes) -> dict:
    warm_multi, warm_singles = _started(prototype, frames, boxes)   # first calls of each graph, untimed
    for frame in frames[1:1 + WARMUP_FRAMES]:
        warm_multi.track(frame)
        [s.track(frame) for s in warm_singles]
    multi, singles = _started(prototype, frames, boxes)
    batched = _time_frames(multi.track, frames[1:])
    independent = _time_frames(lambda f: [s.track(f) for s in singles], frames[1:])
    return {"batched": _stats(batched), "independent": _stats(independent),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB / MIB}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-multi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--mode", default="dasiamrpn")
    parser.add_argument("--backends", type=parse_backend_list, default=parse_backend_list("torch,openvino"),
                        help="comma-separated backends (default: torch,openvino)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=40, help="frames per run (default: %(default)s)")
    parser.add_argument("--targets", default=",".join(map(str, TARGETS)), help="the Ns (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.targets.split(",")]
    torch.set_num_threads(args.threads)
    seq = make_sequence("demo", num_frames=args.frames)
    print(f"CPU {cpu_model()}, torch {torch.__version__}, {args.threads} threads, {args.frames} frames of the "
          f"640x480 demo sequence, mode {args.mode}")
    results: dict[str, dict] = {}
    for label, backend, half in args.backends:
        prototype = load_tracker(args.checkpoint, device="cpu", mode=args.mode, backend=backend, half=half,
                                 threads=args.threads)
        results[label] = {}
        for n in counts:
            r = bench(prototype, seq.frames, target_boxes(seq.boxes[0], n, seq.frames[0].shape))
            results[label][n] = r
            one = results[label][counts[0]]["batched"]["median_ms"]
            print(f"{label:10s} N={n}: batched {r['batched']['median_ms']:7.1f} ms (p95 {r['batched']['p95_ms']:6.1f}), "
                  f"independent {r['independent']['median_ms']:7.1f} ms (p95 {r['independent']['p95_ms']:6.1f}), "
                  f"batched/independent {r['batched']['median_ms'] / r['independent']['median_ms']:.2f}, "
                  f"batched/one target {r['batched']['median_ms'] / one:.2f}, peak RSS {r['peak_rss_mb']:.0f} MiB",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "threads": args.threads, "frames": args.frames, "mode": args.mode,
                                         "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

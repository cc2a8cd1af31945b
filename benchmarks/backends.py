"""``dasiamrpn-bench``: per-frame latency of ``track`` (median, p95) and template ``init`` time
for each network and mode, on real frames, at a fixed number of CPU threads.

Networks: the bundled default model (``lite``: EfficientNet-Lite0 trunk), the bundled AlexNet
trained from scratch (``compact``), and, when $DASIAMRPN_SHARED/reference is present (or
``--official-dir`` holds SiamRPNVOT.model / SiamRPNBIG.model), the original architectures with
their published shapes. ``longterm`` is also measured while searching the largest region.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core.api import COMPACT_CHECKPOINT, LITE_CHECKPOINT, load_tracker
from dasiamrpn_core.cli.common import parse_backend_list
from dasiamrpn_core.runtime import BACKENDS, installed
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.files import shared_root



def _official_weights(directory: Path, shared: Path | None, wanted: set[str]) -> dict[str, Path]:
    """Paths of the wanted original-shaped nets; builds only those missing (never the unwanted ones,
    whose construction alone peaks at ~2 GiB and would be charged to the benchmark's RSS)."""
    found = {name: directory / f"SiamRPN{name.upper()}.model" for name in ("vot", "big") if name in wanted}
    script = shared / "reference" / "make_weights.py" if shared is not None else None
    for name, path in found.items():
        if not path.exists() and script is not None and script.exists():
            spec = importlib.util.spec_from_file_location("make_weights", script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            directory.mkdir(parents=True, exist_ok=True)
            torch.save(module.make_state_dict(name, 2), path)
    return {name: path for name, path in found.items() if path.exists()}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo): every timing names its machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000.0
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "fps": float(1000.0 / np.median(ms)), "frames": int(len(ms))}


def bench_tracker(checkpoint: Path | None, mode: str, frames: list[np.ndarray], box, repeats: int,
                  force_search: bool = False, backends: tuple[tuple[str, str, bool], ...] = (("torch", "torch", False),),
                  threads: int = 0) -> dict[str, dict]:
    """Per backend entry ``(label, backend, half)`` (:func:`parse_backend_list`): median/p95 ``track``
    ms, FPS and median ``init`` ms, keyed by label. The backends take turns, one whole run each per repeat, so a shared
    machine's drift hits them alike (turns per frame would charge each runtime the idle spinning of the
    others' thread pools)."""
    overrides = ({"failure_threshold": 1.01, "failure_patience": 0, "recovery_threshold": 1.01}
                 if force_search else {})
    trackers = {label: load_tracker(checkpoint, device="cpu", mode=mode, backend=backend, half=half,
                                    threads=threads, **overrides)
                for label, backend, half in backends}
    init_times: dict[str, list[float]] = {b: [] for b in trackers}
    track_times: dict[str, list[float]] = {b: [] for b in trackers}
    for tracker in trackers.values():   # warm-up: first-use costs (graph compilation) are not timed
        tracker.init(frames[0], box)
        for frame in frames[1:4]:
            tracker.track(frame)
    for _ in range(repeats):
        for b, tracker in trackers.items():
            t0 = time.perf_counter()
            tracker.init(frames[0], box)
            init_times[b].append(time.perf_counter() - t0)
            run = []
            for frame in frames[1:]:
                t0 = time.perf_counter()
                tracker.track(frame)
                run.append(time.perf_counter() - t0)
            # longterm-search: only the frames at the largest search region (the second half)
            track_times[b] += run[len(run) // 2:] if force_search else run
    results = {}
    for b in trackers:
        warm = track_times[b]
        out = _stats(warm)
        out["init_ms"] = float(np.median(init_times[b]) * 1000.0)
        if force_search:
            out["search_instance_size"] = trackers[b].search_size
        out["precision"] = trackers[b].precision
        results[b] = out
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench", description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=40, help="frames per run (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration")
    parser.add_argument("--shared", type=Path, default=shared_root(),
                        help="the shared data folder (default: $DASIAMRPN_SHARED; without it no official nets)")
    parser.add_argument("--official-dir", type=Path, default=Path(tempfile.gettempdir()) / "dasiamrpn_bench_weights",
                        help="where official-format weights are found or generated")
    parser.add_argument("--nets", default="lite,compact,vot,big", help="comma list of lite, compact, vot, big")
    parser.add_argument("--backend", default="torch",
                        help=f"comma list of {', '.join(BACKENDS)}, each optionally with +half (16-bit "
                             f"inference), e.g. torch,openvino,openvino+half: the same model on each, side by side")
    parser.add_argument("--modes", default="siamrpn,dasiamrpn,longterm,longterm-search")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seq = make_sequence("demo", num_frames=args.frames)
    box = tuple(seq.boxes[0])
    nets: dict[str, Path | None] = {}
    wanted = set(args.nets.split(","))
    for name, path in (("lite", LITE_CHECKPOINT), ("compact", COMPACT_CHECKPOINT)):
        if name in wanted and path.exists():
            nets[name] = path
    nets.update(_official_weights(args.official_dir, args.shared, wanted))
    if not nets:
        print("no networks to benchmark (no bundled model, and no $DASIAMRPN_SHARED/reference for the official ones)", file=sys.stderr)
        return 2
    try:
        parsed = parse_backend_list(args.backend)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for label, backend, _ in parsed:
        if not installed(backend):
            print(f"backend {label!r} is not available (not installed)", file=sys.stderr)
            return 2
    backends = [label for label, _, _ in parsed]   # the printed and JSON names
    print(f"torch {torch.__version__}, {args.threads} threads, {args.frames} frames of the 640x480 demo sequence")
    print(f"{'net':8} {'backend':12} {'mode':16} {'median ms':>10} {'p95 ms':>8} {'FPS':>7} {'init ms':>8} "
          f"{'RSS MiB':>8}")
    results = {}
    for name, path in nets.items():
        for mode in args.modes.split(","):
            per_backend = bench_tracker(path, mode.split("-")[0], seq.frames, box, args.repeats,
                                        force_search=mode.endswith("search"), backends=tuple(parsed),
                                        threads=args.threads)
            for backend, r in per_backend.items():
                r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
                results[f"{name}/{backend}/{mode}"] = r
                print(f"{name:8} {backend:12} {mode:16} {r['median_ms']:10.1f} {r['p95_ms']:8.1f} {r['fps']:7.1f} "
                      f"{r['init_ms']:8.1f} {r['peak_rss_mib']:8.0f}"
                      + (f"  (search crop {r['search_instance_size']} px)" if "search_instance_size" in r else ""))
            if len(backends) > 1:
                base = results[f"{name}/{backends[0]}/{mode}"]["median_ms"]
                print(" " * 8 + "speed-up over " + backends[0] + ": " + ", ".join(
                    f"{b} {base / results[f'{name}/{b}/{mode}']['median_ms']:.2f}x" for b in backends[1:]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak RSS {rss:.0f} MiB (the process's; the RSS column is cumulative in run order, all backends of a mode together)")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "results": results, "peak_rss_mib": rss}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the evaluation's own cost and of ``--workers`` scaling (issue 3's performance goals).

1. Overhead: ``evaluate()`` in this process on the shared sequences; everything that is not the
   tracker's ``init``/``track`` (frame decoding, bookkeeping, writing results, scoring, report,
   plots) as a share of the wall time. Reported for the tracking loop alone and for the whole
   evaluation including scoring and plots (loading the model is listed separately).
2. Scaling: the ``dasiamrpn-eval`` console script with ``--workers 1`` and ``--workers 2`` (one torch
   thread per process, the default) and ``--workers 1 --threads 2`` on the same multi-sequence run
   (wall time of the whole command, process start included). Run it on an otherwise idle machine:
   other load on the cores decides these numbers.

Usage: ``dasiamrpn-bench-eval [--checkpoint CKPT] [--root DIR]``.
Without a checkpoint it uses the bundled model or, when that is not there, official-format
SiamRPNvot weights made by ``../shared/reference/make_weights.py`` (they follow the target), else a
randomly initialised SiamRPNcompact.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dasiamrpn_core.evaluation.config import EvalConfig
from dasiamrpn_core.evaluation.evaluate import EvalRequest, evaluate
from dasiamrpn_core.evaluation.results_io import read_ope
from dasiamrpn_core.evaluation.runner import TrackerSpec
from dasiamrpn_core.files import require_shared, shared_root


def _checkpoint(arg: str | None, scratch: Path) -> tuple[str, str]:
    if arg:
        return arg, arg
    from dasiamrpn_core.checkpoint import DEFAULT_CHECKPOINT
    if DEFAULT_CHECKPOINT.exists():
        return str(DEFAULT_CHECKPOINT), "bundled model"
    shared = shared_root()
    make_weights = shared / "reference" / "make_weights.py" if shared is not None else None
    if make_weights is not None and make_weights.is_file():  # official-format SiamRPNvot weights that really follow a target
        path = scratch / "SiamRPNVOT_seed2.model"
        subprocess.run([sys.executable, str(make_weights), "--net", "vot", "--seed", "2", "--out", str(path)],
                       check=True, capture_output=True)
        return str(path), "official-format SiamRPNvot weights from shared/reference/make_weights.py (seed 2)"
    import torch
    from dasiamrpn_core.checkpoint import save_checkpoint
    from dasiamrpn_core.config import SiamRPNParams
    from dasiamrpn_core.models import ARCHITECTURES, SiamRPN
    torch.manual_seed(0)
    path = scratch / "random_compact.pth"
    save_checkpoint(path, SiamRPN(ARCHITECTURES["SiamRPNcompact"]).eval(), SiamRPNParams(), {"note": "random init"})
    return str(path), "random-init SiamRPNcompact (no bundled model yet; same cost per frame)"


def measure_overhead(root: Path, checkpoint: str, mode: str, out: Path) -> dict:
    spec = TrackerSpec(checkpoint, mode, "cpu")
    t0 = time.perf_counter()
    tracker = spec()
    load_s = time.perf_counter() - t0
    request = EvalRequest(dataset="simple", root=root, out=out, protocols=("ope",), progress=False)
    t0 = time.perf_counter()
    report = evaluate(request, lambda: tracker, {"label": "bench", "identity": {"bench": checkpoint}}, EvalConfig())
    wall = time.perf_counter() - t0
    from dasiamrpn_core.evaluation.datasets import load_dataset
    tracker_s = sum(float(np.nansum(read_ope(out / "results", s.name, len(s)).times))
                    for s in load_dataset("simple", root))
    loop = report["run"]["wall_seconds_tracking"]
    return {"frames": report["overall"]["frames"], "sequences": report["overall"]["sequences"],
            "model_load_s": load_s, "tracker_s": tracker_s, "loop_wall_s": loop, "evaluate_wall_s": wall,
            "loop_overhead_pct": 100 * (loop - tracker_s) / loop,
            "total_overhead_pct": 100 * (wall - tracker_s) / wall,
            "fps": report["overall"]["fps"], "success_auc": report["overall"]["success_auc"]}


def measure_per_frame_cost(root: Path, out: Path) -> dict:
    """The evaluation's own cost per frame, measured with a tracker that costs nothing."""
    from dasiamrpn_core.evaluation.baselines import IdentityTracker
    request = EvalRequest(dataset="simple", root=root, out=out, protocols=("ope",), progress=False, plots=False)
    t0 = time.perf_counter()
    report = evaluate(request, IdentityTracker, {"label": "identity", "identity": {"baseline": "identity"}})
    wall = time.perf_counter() - t0
    frames = report["overall"]["frames"]
    return {"frames": frames, "loop_ms_per_frame": 1000 * report["run"]["wall_seconds_tracking"] / frames,
            "evaluate_ms_per_frame": 1000 * wall / frames}


def measure_workers(root: Path, checkpoint: str, mode: str, scratch: Path, workers: int,
                    threads: int | None = None, max_frames: int | None = None) -> tuple[float, float]:
    """Wall time of the whole command, and of its tracking phase alone (from its report.json)."""
    out = scratch / f"workers{workers}_threads{threads}"
    script = Path(sys.executable).with_name("dasiamrpn-eval")
    cmd = [str(script) if script.exists() else "dasiamrpn-eval", "--dataset", "simple", "--root", str(root),
           "--checkpoint", checkpoint, "--mode", mode, "--device", "cpu", "--out", str(out),
           "--workers", str(workers), "--quiet", "--no-plots"]
    cmd += ["--threads", str(threads)] if threads else []
    cmd += ["--max-frames", str(max_frames)] if max_frames else []
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "report.json").read_text())["run"]["wall_seconds_tracking"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dasiamrpn-bench-eval", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="tracker checkpoint (default: bundled model or random compact)")
    p.add_argument("--mode", default="dasiamrpn")
    p.add_argument("--root", type=Path, help="sequences folder (default: $DASIAMRPN_SHARED/data/sequences)")
    p.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    p.add_argument("--max-frames", type=int, help="first N frames per sequence in the --workers runs")
    p.add_argument("--skip-overhead", action="store_true", help="only the --workers comparison")
    args = p.parse_args(argv)
    if args.root is None:
        args.root = require_shared("data", "sequences")
    scratch = Path(tempfile.mkdtemp(prefix="dasiamrpn_bench_"))
    try:
        ckpt, what = _checkpoint(args.checkpoint, scratch)
        print(f"tracker: {what}, mode {args.mode}; data: {args.root}")
        result = {"checkpoint": what, "mode": args.mode}
        if not args.skip_overhead:
            result["overhead"] = o = measure_overhead(args.root, ckpt, args.mode, scratch / "overhead")
            print(f"overhead: {o['sequences']} sequences, {o['frames']} frames, tracker {o['tracker_s']:.2f} s "
                  f"({o['fps']:.1f} fps); loop wall {o['loop_wall_s']:.2f} s -> {o['loop_overhead_pct']:.2f}% "
                  f"overhead; whole evaluate() {o['evaluate_wall_s']:.2f} s (scoring, report, plots included) "
                  f"-> {o['total_overhead_pct']:.2f}%; model load {o['model_load_s']:.2f} s (not counted)")
            result["identity"] = c = measure_per_frame_cost(args.root, scratch / "identity")
            print(f"evaluation cost without a tracker: {c['loop_ms_per_frame']:.2f} ms/frame in the loop, "
                  f"{c['evaluate_ms_per_frame']:.2f} ms/frame with scoring and report (no plots)")
        runs = {"workers1": (1, None), "workers1_threads2": (1, 2), "workers2": (2, None)}
        measured = {k: measure_workers(args.root, ckpt, args.mode, scratch, w, t, args.max_frames)
                    for k, (w, t) in runs.items()}
        times = {k: v[0] for k, v in measured.items()}
        tracking = {k: v[1] for k, v in measured.items()}
        folders = {k: scratch / f"workers{w}_threads{t}" / "results" for k, (w, t) in runs.items()}
        # workers 1 and 2 run one thread per process: their boxes are bit-identical; 2 threads in one
        # process sum convolutions in another order (up to 1e-4 px with the default model: reported)
        same = all((folders["workers1"] / f.name).read_text() == f.read_text()
                   for f in folders["workers2"].glob("*.txt"))
        threads_px = max((float(np.abs(np.loadtxt(f, delimiter=",", ndmin=2)
                                       - np.loadtxt(folders["workers1"] / f.name, delimiter=",", ndmin=2)).max())
                          for f in folders["workers1_threads2"].glob("*.txt")), default=0.0)
        result["workers"] = {**{f"{k}_s": v for k, v in times.items()},
                             **{f"{k}_tracking_s": v for k, v in tracking.items()},
                             "tracking_speedup": tracking["workers1"] / tracking["workers2"],
                             "speedup": times["workers1"] / times["workers2"],
                             "speedup_vs_2_threads": times["workers1_threads2"] / times["workers2"],
                             "identical_boxes": same, "threads2_max_diff_px": threads_px,
                             "max_frames": args.max_frames}
        print(f"workers (whole command incl. start-up): --workers 1 {times['workers1']:.1f} s "
              f"(with --threads 2: {times['workers1_threads2']:.1f} s), --workers 2 {times['workers2']:.1f} s -> "
              f"speedup {result['workers']['speedup']:.2f}x ({result['workers']['speedup_vs_2_threads']:.2f}x vs "
              f"one process with 2 threads); tracking phase alone {tracking['workers1']:.1f} s vs "
              f"{tracking['workers2']:.1f} s -> {result['workers']['tracking_speedup']:.2f}x; "
              f"identical result boxes: {same} (--workers 1 vs 2, one thread each; 2 threads: "
              f"up to {threads_px:.1e} px apart)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

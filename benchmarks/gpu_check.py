"""``dasiamrpn-gpu-check`` (``make gpu-check``): everything this project can only check on a GPU machine, in one run, as a table.

1. the CUDA tests (``pytest -m cuda`` on ``--tests``, default ``test`` of the current folder, i.e. run
   it from the repository: CUDA vs CPU boxes, float32 and float16);
2. ``track`` latency on CUDA per model and precision (torch backend, float32 and ``half=True``),
   beside the CPU's best backend on the same machine;
3. TensorRT (FP16) engines of the exported ONNX graphs built with ``trtexec`` when it is on the PATH:
   the engine's median GPU compute time, and its outputs on the same crops against PyTorch's.

Without a CUDA device it says so and exits 0 (nothing to check). Nothing here runs on the 2-core
development machine; the numbers go into docs/backends.md when a GPU machine is lent.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core import COMPACT_CHECKPOINT, LITE_CHECKPOINT, load_tracker
from dasiamrpn_core.checkpoint import load_checkpoint
from dasiamrpn_core.config import LongTermParams
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.export import export_onnx

MODELS = {"lite": LITE_CHECKPOINT, "compact": COMPACT_CHECKPOINT}
FRAMES = 60
FP16_REL_TOL = 2e-2   # TensorRT FP16 against PyTorch float32, relative to the largest output


def track_ms(checkpoint: Path, device: str, half: bool, backend: str = "torch") -> float:
    seq = make_sequence("demo", num_frames=FRAMES)
    tracker = load_tracker(checkpoint, device=device, half=half, mode="dasiamrpn", backend=backend)
    tracker.init(seq.frames[0], seq.boxes[0])
    times = []
    for frame in seq.frames[1:]:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        tracker.track(frame)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[5:]) * 1000)


def tensorrt_check(name: str, checkpoint: Path, work: Path) -> dict:
    """Build FP16 engines with trtexec; compare the search engine's outputs with PyTorch's."""
    trtexec = shutil.which("trtexec")
    if trtexec is None:
        return {"tensorrt": "trtexec not on PATH (JetPack: /usr/src/tensorrt/bin/trtexec)"}
    out = export_onnx(checkpoint, work / name)
    loaded = load_checkpoint(checkpoint)
    net = loaded.net.inference().eval()
    p = loaded.params
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(1, 3, p.exemplar_size, p.exemplar_size, generator=gen) * 255
    x = torch.rand(1, 3, p.instance_size, p.instance_size, generator=gen) * 255
    _, kernels = net.template(z)
    want = dict(zip(("x_f", "delta", "logits"), net.search(x, kernels)))
    inputs = {"x": x, "kernel0": kernels[0], "kernel1": kernels[1]}
    for key, tensor in inputs.items():
        tensor.float().contiguous().numpy().tofile(out / f"{key}.bin")
    big = LongTermParams().max_instance_size   # longterm's largest search crops
    shapes = (f"--minShapes=x:1x3x{p.instance_size}x{p.instance_size} --optShapes=x:1x3x{p.instance_size}x"
              f"{p.instance_size} --maxShapes=x:1x3x{big}x{big}").split()
    result = {}
    for graph in ("template", "search"):
        cmd = [trtexec, f"--onnx={out / (graph + '.onnx')}", "--fp16", f"--saveEngine={out / (graph + '.engine')}"]
        cmd += shapes if graph == "search" else []
        if graph == "search":
            cmd += ["--loadInputs=" + ",".join(f"{k}:{out / (k + '.bin')}" for k in inputs),
                    f"--exportOutput={out / 'search_out.json'}"]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            result[f"{graph}_engine"] = f"trtexec failed: {run.stdout[-500:]} {run.stderr[-500:]}"
            continue
        median = re.search(r"GPU Compute Time:.*?median = ([\d.]+) ms", run.stdout)
        result[f"{graph}_gpu_ms"] = float(median.group(1)) if median else None
    if (out / "search_out.json").exists():
        for entry in json.loads((out / "search_out.json").read_text()):
            ref = want[entry["name"]].numpy().ravel()
            got = np.asarray(entry["values"], np.float32)
            rel = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))
            result[f"rel_err_{entry['name']}"] = rel
        result["fp16_equal"] = all(v < FP16_REL_TOL for k, v in result.items() if k.startswith("rel_err_"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-gpu-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path("output", "gpu_check.json"),
                        help="default: output/gpu_check.json")
    parser.add_argument("--tests", type=Path, default=Path("test"),
                        help="the repository's test folder for the CUDA tests (default: ./test)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False): nothing to check")
        return 0
    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    try:
        import tensorrt
        report["tensorrt"] = tensorrt.__version__
    except ImportError:
        report["tensorrt"] = None
    if args.tests.is_dir():
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", str(args.tests)],
                               capture_output=True, text=True)
        tests_ok = tests.returncode == 0
        report["cuda_tests"] = tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else tests.stderr[-500:]
    else:
        tests_ok = False
        report["cuda_tests"] = f"not run: no test folder at {args.tests} (run from the repository or pass --tests)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, checkpoint in MODELS.items():
            row = {"model": name,
                   "cuda_fp32_ms": track_ms(checkpoint, "cuda", False),
                   "cuda_fp16_ms": track_ms(checkpoint, "cuda", True),
                   "cpu_auto_ms": track_ms(checkpoint, "cpu", False, backend="auto")}
            row.update(tensorrt_check(name, checkpoint, Path(tmp)))
            rows.append(row)
    report["rows"] = rows
    print(f"{report['device']}, torch {report['torch']}, TensorRT {report['tensorrt']}")
    print(f"CUDA tests: {report['cuda_tests']}")
    keys = sorted({k for row in rows for k in row} - {"model"})
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for row in rows:
        print(f"| {row['model']} | " + " | ".join(
            f"{row[k]:.3g}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    return 0 if tests_ok and all(r.get("fp16_equal", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

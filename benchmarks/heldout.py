"""Compare checkpoints on the held-out sequences that choose what ships (a training config's
validation and tuning set: never the evaluation sequences), paired per sequence.

    dasiamrpn-bench-heldout --config training/configs/lite.yaml --cache output/lite/cache A.pth B.pth [...]

Prints each checkpoint's mean success AUC (its stored tracking parameters, ``--mode``) and per source,
then for every checkpoint after the first the mean paired difference against the first with a 95 %
bootstrap confidence interval over sequences, over all of them and per source (``real_sot_heldout``,
``real_mot_heldout``, ``vtest_val``, the synthetic variants ...): a difference whose interval contains 0
is within the noise of this held-out set. ``--json`` writes the per-sequence AUCs and their sources.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core.checkpoint import CheckpointError, load_checkpoint
from dasiamrpn_core.config import MODES
from dasiamrpn_core.evaluation.datasets.common import read_meta
from dasiamrpn_core.evaluation.errors import DatasetError
from dasiamrpn_training.config import ConfigError, load_config
from dasiamrpn_training.validation import evaluate_tracker, validation_tracks

BOOTSTRAP_SAMPLES = 10_000
CONFIDENCE = 0.95


def paired_difference(first: dict[str, float], second: dict[str, float], seed: int = 0) -> dict:
    """Mean of ``second - first`` over the sequences both scored, its bootstrap interval, wins/losses."""
    keys = [k for k in first if k in second and np.isfinite(first[k]) and np.isfinite(second[k])]
    if not keys:
        raise ValueError("no sequence scored by both checkpoints")
    d = np.array([second[k] - first[k] for k in keys])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (BOOTSTRAP_SAMPLES, len(d)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return {"sequences": len(keys), "mean": float(d.mean()),
            "ci": [float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))],
            "better": int((d > 0).sum()), "worse": int((d < 0).sum())}


FINE_FRAME_STEP = 3   # real sequences keeping every 1st to 3rd source frame vs sparser ones (the subsets)


def real_subsets(tracks) -> dict[str, list[str]]:
    """Extra groups of the real held-out sequences, read from their folder's ``meta.json``: the source
    benchmark (``sot:otb``) and the frame spacing (``sot:frame_step<=3`` or ``>3``), so that one kind of
    sequence does not hide another. Tracks without a ``meta.json`` (synthetic, vtest) get none."""
    out: dict[str, list[str]] = {}
    for t in tracks:
        meta_path = Path(t.frames[0]).parent.parent / "meta.json"
        meta = {} if t.still else read_meta(meta_path)
        if "frame_step" not in meta:
            continue
        kind = "mot" if "objects" in meta or "classes" in meta else "sot"
        step = int(meta["frame_step"])
        out[t.name] = [f"{kind}:{meta_path.parent.name.split('_', 1)[0]}",
                       f"{kind}:frame_step{'<=' if step <= FINE_FRAME_STEP else '>'}{FINE_FRAME_STEP}"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-heldout", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="project checkpoints; the first is the reference")
    parser.add_argument("--config", required=True, help="training config whose held-out sequences are used")
    parser.add_argument("--cache", default="output/cache", help="cache directory of the validation data")
    parser.add_argument("--mode", default="dasiamrpn", choices=MODES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the per-sequence AUCs here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        cfg = load_config(args.config)
        tracks = validation_tracks(cfg, Path(args.cache), cfg.export.tune_max_sequences)
        loaded = {c: load_checkpoint(c) for c in args.checkpoints}
    except (ConfigError, DatasetError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores, source_of = {}, {}
    for name, ckpt in loaded.items():
        result = evaluate_tracker(ckpt.net, ckpt.params, tracks, mode=args.mode, max_frames=cfg.validation.max_frames,
                                  **ckpt.tracker)
        scores[name] = result["per_sequence"]
        source_of.update(result["source_of"])
        sources = ", ".join(f"{k} {v:.4f}" for k, v in result["per_source"].items())
        print(f"{name}: mean AUC {result['mean_auc']:.4f} on {len(scores[name])} sequences ({sources})", flush=True)
    reference = args.checkpoints[0]
    groups = {"all": list(scores[reference])}
    for key, source in source_of.items():
        groups.setdefault(source, []).append(key)
    for key, labels in real_subsets(tracks).items():
        for label in labels:
            groups.setdefault(label, []).append(key)
    differences = {}
    for name in args.checkpoints[1:]:
        for label, keep in groups.items():
            diff = paired_difference({k: scores[reference][k] for k in keep if k in scores[reference]}, scores[name])
            differences.setdefault(name, {})[label] = diff
            verdict = "within noise" if diff["ci"][0] <= 0 <= diff["ci"][1] else "beyond noise"
            where = "" if label == "all" else f" [{label}]"
            print(f"{name} - {reference}{where}: {diff['mean']:+.4f}, {CONFIDENCE:.0%} bootstrap CI "
                  f"[{diff['ci'][0]:+.4f}, {diff['ci'][1]:+.4f}] ({verdict}); better on {diff['better']}, "
                  f"worse on {diff['worse']} of {diff['sequences']}")
    if args.json:
        args.json.write_text(json.dumps({"mode": args.mode, "config": str(args.config), "per_sequence": scores,
                                         "source_of": source_of, "differences": differences}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

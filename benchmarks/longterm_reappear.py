"""Long-term mode where the target leaves the view and comes back: VOT-LT F-score and success AUC of
``longterm`` against ``dasiamrpn`` on vanish-and-reappear sequences.

The sequences: ``--sequences`` synthetic "reappear" sequences made from the held-out registry photos of
the training config's validation set (never the shared evaluation sequences, never a training
photo), plus the built-in ``reappear`` sequence of ``dasiamrpn_core.demo_sequence``. While the target
is gone its ground truth is NaN (VOT-LT convention).

Per sequence and mode it reports the success AUC over the frames where the target is visible, the
VOT-LT precision/recall/F-score (confidence = the tracker's score), the fraction of absent frames
on which the tracker still claims ``tracking`` (a confident box on the background), and the frames
it takes after the return to be back on the target (IoU >= 0.5). Writes ``OUT/longterm.json`` and
``OUT/longterm.png`` (IoU and score of each mode over time).

    dasiamrpn-bench-longterm [--checkpoint C] [--sequences 8] [--frames 120] [--out output/longterm]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dasiamrpn_core import load_tracker
from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_core.evaluation.config import OPEConfig
from dasiamrpn_core.evaluation.longterm import average, pr_curves, thresholds
from dasiamrpn_core.evaluation.metrics import success_curve, success_thresholds
from dasiamrpn_core.geometry import iou_xywh
import dasiamrpn_training
from dasiamrpn_training.config import load_config
from dasiamrpn_training.datasets.images import read_image
from dasiamrpn_training.synthetic import synthetic_tracks

# the held-out photos are named by the lite training config (installed with dasiamrpn_training)
DEFAULT_CONFIG = Path(dasiamrpn_training.__file__).parent / "configs" / "lite.yaml"
RECOVERED_IOU = 0.5          # back on the target
SEED = 7                     # not the seed of the validation/tuning sequences (1)
THRESHOLD_RESOLUTION = 100   # VOT-LT confidence thresholds


def sequences(count: int, frames: int, cache: Path, config: Path) -> list[tuple[str, list, np.ndarray]]:
    photos = load_config(config).validation.synthetic_photos
    out = [("builtin_reappear", *_builtin())]
    for track in synthetic_tracks(photos, count, frames, cache, seed=SEED, variant="reappear"):
        out.append((track.name, list(track.frames), np.asarray(track.boxes, np.float64)))
    return out


def _builtin():
    seq = make_sequence("reappear")
    return seq.frames, seq.boxes


def run(tracker, frames, boxes) -> dict:
    first = frames[0] if isinstance(frames[0], np.ndarray) else read_image(frames[0])
    tracker.init(first, tuple(boxes[0]))
    pred, score, state = [], [], []
    for f in frames[1:]:
        r = tracker.track(f if isinstance(f, np.ndarray) else read_image(f))
        pred.append(r.box)
        score.append(r.score)
        state.append(r.state)
    gt = boxes[1:]
    visible = np.isfinite(gt).all(axis=1)
    iou = np.zeros(len(gt))
    iou[visible] = iou_xywh(np.asarray(pred)[visible], gt[visible])
    return {"iou": iou, "score": np.asarray(score), "state": state, "visible": visible}


def summarise(r: dict) -> dict:
    visible, iou = r["visible"], r["iou"]
    gone = np.flatnonzero(~visible)
    back = int(gone[-1]) + 1 if len(gone) else None
    reacquired = None
    if back is not None:
        hits = np.flatnonzero(iou[back:] >= RECOVERED_IOU)
        reacquired = int(hits[0]) if len(hits) else None
    auc = float(success_curve(iou[visible], success_thresholds(OPEConfig())).mean())
    absent_tracking = float(np.mean([r["state"][i] == "tracking" for i in gone])) if len(gone) else 0.0
    return {"auc": auc, "absent_frames": int(len(gone)), "absent_claimed_tracking": absent_tracking,
            "frames_to_reacquire": reacquired,
            "iou_after_return": float(iou[back:].mean()) if back is not None else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-longterm", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="training config whose validation.synthetic_photos are the held-out photos "
                             "(default: training/configs/lite.yaml)")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("output", "longterm"), help="default: output/longterm")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    seqs = sequences(args.sequences, args.frames, args.out / "cache", args.config)
    modes = ("dasiamrpn", "longterm")
    runs: dict[str, dict[str, dict]] = {m: {} for m in modes}
    for mode in modes:
        tracker = load_tracker(args.checkpoint, device="cpu", mode=mode)
        for name, frames, boxes in tqdm(seqs, desc=mode, unit="seq"):
            runs[mode][name] = run(tracker, frames, boxes)
    report = {"checkpoint": args.checkpoint or "bundled", "sequences": [s[0] for s in seqs], "modes": {}}
    print(f"{'sequence':18} " + " ".join(f"{m + ' ' + k:>22}" for m in modes for k in ("AUC", "reacq")))
    for mode in modes:
        conf = np.concatenate([r["score"] for r in runs[mode].values()])
        thr = thresholds(conf, THRESHOLD_RESOLUTION)
        curves = [pr_curves(r["iou"], r["score"], r["visible"], thr) for r in runs[mode].values()]
        lt = average(curves, thr, 1.0).summary()
        per = {name: summarise(r) for name, r in runs[mode].items()}
        report["modes"][mode] = {
            "mean_auc": float(np.mean([p["auc"] for p in per.values()])),
            "f_score": lt["f_score"], "precision": lt["precision"], "recall": lt["recall"],
            "mean_absent_claimed_tracking": float(np.mean([p["absent_claimed_tracking"] for p in per.values()])),
            "reacquired": int(sum(p["frames_to_reacquire"] is not None for p in per.values())),
            "per_sequence": per}
    for name in report["sequences"]:
        cells = []
        for mode in modes:
            p = report["modes"][mode]["per_sequence"][name]
            cells += [f"{p['auc']:22.3f}", f"{str(p['frames_to_reacquire']):>22}"]
        print(f"{name:18} " + " ".join(cells))
    for mode in modes:
        m = report["modes"][mode]
        print(f"{mode:10} mean AUC {m['mean_auc']:.3f}  VOT-LT F {m['f_score']:.3f} (P {m['precision']:.3f}, "
              f"R {m['recall']:.3f})  re-acquired {m['reacquired']}/{len(seqs)}  absent frames claimed "
              f"'tracking' {100 * m['mean_absent_claimed_tracking']:.0f}%")
    (args.out / "longterm.json").write_text(json.dumps(report, indent=1))
    _plot(runs, args.out / "longterm.png")
    print(f"wrote {args.out / 'longterm.json'} and {args.out / 'longterm.png'}")
    return 0


def _plot(runs: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(next(iter(runs.values())))
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.6 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        for mode, colour in (("dasiamrpn", "tab:blue"), ("longterm", "tab:orange")):
            r = runs[mode][name]
            ax.plot(r["iou"], color=colour, label=f"{mode} IoU")
            ax.plot(r["score"], color=colour, ls=":", label=f"{mode} score")
        ax.fill_between(np.arange(len(r["visible"])), 0, 1, where=~r["visible"], color="grey", alpha=0.25,
                        label="target gone")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(name, fontsize=7)
    axes[0, 0].legend(fontsize=6, ncol=5, loc="lower left")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())

"""Mutual awareness of ``MultiTracker`` on real multi-identity video: on vs off vs independent trackers.

    dasiamrpn-bench-multi-awareness [--mode dasiamrpn] [--checkpoint C] [--json OUT]

Videos (evaluation only): the held-out videos of the real training split (``training/splits/
real_v1.json``, section ``mot``, marked ``heldout``; never the ``train`` ones) that annotate several
identities, read through the evaluation toolkit's MOT reader, and the shared Jogging clip with its
two annotated joggers. Every identity becomes a target on the first frame it is annotated (with its
ground-truth box) and is removed after its last one; all targets of a video are tracked at once.

Variants: ``independent`` (one single tracker per identity), ``off`` (one MultiTracker, mutual
awareness off: equal to independent within 0.1 px, test_core_multi.py) and ``on``. Per video:
mean success AUC over targets (each target's AUC over the frames its ground truth is visible),
**merges** (frames x target pairs where the two boxes overlap at IoU >= 0.5 while their visible
ground truths do not) and **identity swaps** (onsets of a target's box lying on another identity's
ground truth, IoU >= 0.5, while not on its own, IoU < 0.5).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dasiamrpn_core.api import load_tracker
from dasiamrpn_core.evaluation.config import OPEConfig
from dasiamrpn_core.evaluation.datasets import mot
from dasiamrpn_core.evaluation.frames import read_image
from dasiamrpn_core.evaluation.metrics import ope_scores
from dasiamrpn_core.files import require_shared
from dasiamrpn_core.geometry import iou_xywh
from dasiamrpn_core.multi import MultiTracker

REPO = Path(__file__).resolve().parents[1]
SPLIT_FILE = REPO / "training" / "splits" / "real_v1.json"
HELDOUT = "heldout"
MERGE_IOU = 0.5      # two boxes at this IoU or more are one object
SWAP_IOU = 0.5       # a box at this IoU with a ground truth is on that identity
VARIANTS = ("independent", "off", "on")


@dataclass(frozen=True)
class Video:
    name: str
    frames: tuple[Path, ...]
    truth: dict[int, np.ndarray]   # identity -> (n, 4) boxes over the whole video, NaN where not visible


def heldout_mot_videos(root: Path) -> list[Video]:
    """The split's held-out MOT videos with several identities (MOT reader, ``<video>-id<id>``)."""
    split = json.loads(SPLIT_FILE.read_text())["mot"]
    videos = []
    for name in sorted(v for v, part in split.items() if part == HELDOUT):
        sequences = mot.read_sequences(root / name)
        if len(sequences) < 2:
            continue
        frames = mot.list_frames(root / name / "img")
        truth = {}
        for seq in sequences:
            boxes = np.full((len(frames), 4), np.nan)
            start = seq.metadata["first_frame"] - 1
            boxes[start:start + len(seq.boxes)] = np.where(seq.absent[:, None], np.nan, seq.boxes)
            truth[int(seq.metadata["object_id"])] = boxes
        videos.append(Video(name, frames, truth))
    return videos


def jogging(folder: Path) -> Video:
    frames = mot.list_frames(folder / "img")
    truth = {}
    for target_id, file in ((1, "groundtruth.txt"), (2, "groundtruth_target2.txt")):
        boxes = np.loadtxt(folder / file, delimiter=",", dtype=np.float64).reshape(-1, 4)
        boxes[~(np.isfinite(boxes).all(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0))] = np.nan
        truth[target_id] = boxes
    return Video("Jogging", frames, truth)


def run(video: Video, variant: str, make_tracker) -> dict[int, np.ndarray]:
    """Every identity's predicted boxes (NaN outside its annotated span) under one variant."""
    n = len(video.frames)
    spans = {i: (int(np.flatnonzero(np.isfinite(b[:, 0]))[0]), int(np.flatnonzero(np.isfinite(b[:, 0]))[-1]))
             for i, b in video.truth.items()}
    pred = {i: np.full((n, 4), np.nan) for i in video.truth}
    multi = None if variant == "independent" else MultiTracker(make_tracker(), mutual_awareness=variant == "on")
    singles, ids = {}, {}
    for f, path in enumerate(video.frames):
        image = read_image(path)
        if multi is not None and ids:
            for target_id, result in multi.track(image).items():
                pred[ids[target_id]][f] = result.box
        for identity, tracker in singles.items():
            pred[identity][f] = tracker.track(image).box
        for identity, (first, last) in spans.items():
            if f == first:
                box = video.truth[identity][f]
                pred[identity][f] = box
                if multi is None:
                    singles[identity] = make_tracker()
                    singles[identity].init(image, box)
                else:
                    ids[multi.add(image, box)] = identity
            elif f == last + 1:
                if multi is None:
                    del singles[identity]
                else:
                    target_id = next(t for t, i in ids.items() if i == identity)
                    multi.remove(target_id)
                    del ids[target_id]
    return pred


def score(video: Video, pred: dict[int, np.ndarray]) -> dict:
    cfg = OPEConfig()
    aucs = {}
    for identity, truth in video.truth.items():
        valid = np.isfinite(truth[:, 0]) & np.isfinite(pred[identity][:, 0])
        scores = ope_scores(pred[identity], truth, valid, cfg)
        if scores is not None:
            aucs[identity] = scores.summary(cfg)["success_auc"]
    ids = sorted(video.truth)
    merges = 0
    for a in ids:
        for b in ids:
            if a >= b:
                continue
            both = (np.isfinite(pred[a][:, 0]) & np.isfinite(pred[b][:, 0])
                    & np.isfinite(video.truth[a][:, 0]) & np.isfinite(video.truth[b][:, 0]))
            if both.any():
                boxes_merged = iou_xywh(pred[a][both], pred[b][both]) >= MERGE_IOU
                truth_apart = iou_xywh(video.truth[a][both], video.truth[b][both]) < MERGE_IOU
                merges += int((boxes_merged & truth_apart).sum())
    swaps = 0
    for a in ids:
        own = np.nan_to_num(iou_xywh(pred[a], video.truth[a]))
        other = np.zeros(len(own))
        for b in ids:
            if b != a:
                other = np.maximum(other, np.nan_to_num(iou_xywh(pred[a], video.truth[b])))
        swapped = (other >= SWAP_IOU) & (own < SWAP_IOU)
        swaps += int(np.sum(swapped[1:] & ~swapped[:-1]) + swapped[0])
    return {"mean_auc": float(np.mean(list(aucs.values()))) if aucs else float("nan"),
            "auc_per_target": {str(k): round(v, 4) for k, v in aucs.items()}, "merges": merges, "swaps": swaps,
            "targets": len(video.truth), "frames": len(video.frames)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-multi-awareness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="dasiamrpn", choices=("dasiamrpn", "longterm"))
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--root", default=None, help="the shared-data folder (default: $DASIAMRPN_SHARED)")
    parser.add_argument("--max-frames", type=int, default=0, help="only the first N frames of each video (0: all)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    try:
        videos = heldout_mot_videos(require_shared("data", "train", "mot", option=args.root))
        videos.append(jogging(require_shared("data", "sequences", "Jogging", option=args.root)))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prototype = load_tracker(args.checkpoint, device="cpu", mode=args.mode, backend=args.backend)
    results = {}
    for video in videos:
        if args.max_frames:
            video = Video(video.name, video.frames[:args.max_frames],
                          {i: b[:args.max_frames] for i, b in video.truth.items()
                           if np.isfinite(b[:args.max_frames, 0]).any()})
        results[video.name] = {v: score(video, run(video, v, prototype.fresh)) for v in VARIANTS}
        for v in VARIANTS:
            r = results[video.name][v]
            print(f"{video.name:28s} {v:12s} targets {r['targets']:3d}  AUC {r['mean_auc']:.3f}  "
                  f"merges {r['merges']:4d}  swaps {r['swaps']:3d}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"mode": args.mode, "videos": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

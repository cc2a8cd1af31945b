"""Does a checkpoint's box regression see the target's shape? Held-out photographs only.

    dasiamrpn-bench-box-shape [--config training/configs/lite.yaml] A.pth [B.pth ...] [--json OUT]

An object (a patch of one held-out photograph, a rectangle or its inscribed ellipse) is pasted on
another held-out photograph at aspect ratios from 1:4 to 4:1; the tracker starts on its box and
tracks the same frame once, with the size update undamped (``lr`` 1, no shape penalty, no window),
so the box it returns is the net's own regression for an unchanged target. A net that sees the
target's shape returns the given box; a shape-blind one returns about the same box whatever the
shape. Printed per checkpoint: the slope of log(returned aspect) on log(given aspect) (1: the
shape is kept, 0: shape-blind), the mean |log| error of the aspect and of the area, and the mean
width and height ratios per aspect. The photographs are the config's ``validation.synthetic_photos``
(never training data, never the evaluation sequences).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from dasiamrpn_core.api import load_tracker
from dasiamrpn_core.checkpoint import CheckpointError
from dasiamrpn_core.evaluation.errors import DatasetError
from dasiamrpn_training.config import ConfigError, load_config
from dasiamrpn_training.datasets.images import read_image
from dasiamrpn_training.datasets.photos import registry_photos
from dasiamrpn_training.pairs import paste_patch

ASPECTS = (0.25, 0.4, 0.625, 1.0, 1.6, 2.5, 4.0)   # width / height of the pasted object
SIDES = (40.0, 80.0)                               # its area-equivalent side, pixels
PLACEMENTS = 4                                     # random placements per aspect and side
MIN_SCORE = 0.05                                   # below this the returned box says nothing of the net's


def pasted_scene(background: np.ndarray, source: np.ndarray, aspect: float, side: float, ellipse: bool,
                 rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``background`` with a ``side``-equivalent patch of ``source`` pasted at ``aspect``; its box."""
    w, h = int(round(side * math.sqrt(aspect))), int(round(side / math.sqrt(aspect)))
    bh, bw = background.shape[:2]
    sh, sw = source.shape[:2]
    x, y = int(rng.integers(0, bw - w)), int(rng.integers(0, bh - h))
    sx, sy = int(rng.integers(0, max(sw - sw // 3, 1))), int(rng.integers(0, max(sh - sh // 3, 1)))
    patch = cv2.resize(source[sy:sy + sh // 3, sx:sx + sw // 3], (w, h), interpolation=cv2.INTER_AREA)
    return paste_patch(background, patch, x, y, ellipse), (float(x), float(y), float(w), float(h))


def regressed_size(tracker, scene: np.ndarray, box) -> tuple[float, float] | None:
    """The net's (w, h) for the unchanged target: undo the score-weighted size update."""
    tracker.init(scene, box)
    result = tracker.track(scene)
    if result.score < MIN_SCORE:
        return None
    _, _, w, h = box
    return ((result.box[2] - w * (1 - result.score)) / result.score,
            (result.box[3] - h * (1 - result.score)) / result.score)


def shape_summary(given: np.ndarray, returned: np.ndarray) -> dict:
    """given/returned: (N, 2) widths and heights. Slope of log aspect, mean |log| errors."""
    log_given = np.log(given[:, 0] / given[:, 1])
    log_returned = np.log(returned[:, 0] / returned[:, 1])
    slope = float(np.polyfit(log_given, log_returned, 1)[0])
    area = np.log(returned.prod(axis=1) / given.prod(axis=1))
    return {"aspect_slope": slope, "aspect_log_error": float(np.mean(np.abs(log_returned - log_given))),
            "area_log_error": float(np.mean(np.abs(area))), "samples": int(len(given))}


def measure(tracker, photos: list[np.ndarray], seed: int = 0) -> dict:
    """Every aspect x side x placement on the held-out ``photos`` (at least 2)."""
    rng = np.random.default_rng(seed)
    given, returned, per_aspect = [], [], {}
    for aspect in ASPECTS:
        ratios = []
        for side in SIDES:
            for k in range(PLACEMENTS):
                i, j = rng.choice(len(photos), 2, replace=False)
                scene, box = pasted_scene(photos[i], photos[j], aspect, side, ellipse=bool(k % 2), rng=rng)
                size = regressed_size(tracker, scene, box)
                if size is None:
                    continue
                given.append(box[2:])
                returned.append(size)
                ratios.append((size[0] / box[2], size[1] / box[3]))
        if ratios:
            per_aspect[str(aspect)] = {"w_ratio": float(np.mean([r[0] for r in ratios])),
                                       "h_ratio": float(np.mean([r[1] for r in ratios]))}
    if len(given) < 2:
        raise ValueError("the tracker scored below MIN_SCORE on nearly every pasted object")
    summary = shape_summary(np.asarray(given, float), np.asarray(returned, float))
    summary["per_aspect"] = per_aspect
    return summary


def heldout_photos(names: tuple[str, ...]) -> list[np.ndarray]:
    found = {name: path for name, path, _ in registry_photos()}
    missing = [n for n in names if n not in found]
    if len(names) - len(missing) < 2:
        raise DatasetError(f"held-out photographs not installed: {missing} (apt-get install opencv-doc)")
    return [read_image(found[n]) for n in names if n in found]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-box-shape", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="project or official checkpoints")
    parser.add_argument("--config", default="training/configs/lite.yaml",
                        help="training config whose held-out photographs (validation.synthetic_photos) are used")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    try:
        photos = heldout_photos(load_config(args.config).validation.synthetic_photos)
        for checkpoint in args.checkpoints:
            tracker = load_tracker(checkpoint, mode="siamrpn", lr=1.0, penalty_k=0.0, window_influence=0.0)
            results[checkpoint] = measure(tracker, photos)
    except (ConfigError, DatasetError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'checkpoint':44s} {'aspect slope':>12s} {'|log aspect err|':>16s} {'|log area err|':>14s}  "
          + "  ".join(f"{a:g}: w/h ratio" for a in ASPECTS))
    for checkpoint, r in results.items():
        cells = "  ".join(f"{r['per_aspect'][str(a)]['w_ratio']:.2f}/{r['per_aspect'][str(a)]['h_ratio']:.2f}"
                          if str(a) in r["per_aspect"] else "-" for a in ASPECTS)
        print(f"{checkpoint[-44:]:44s} {r['aspect_slope']:12.2f} {r['aspect_log_error']:16.3f} "
              f"{r['area_log_error']:14.3f}  {cells}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`siamrpn` mode reproduces the original DaSiamRPN inference number for number.

* the original's trajectories on the real `bag` frames (../shared/reference), every frame within
  the reference tolerance (0.01 px, score 1e-5), for SiamRPNvot and SiamRPNBIG;
* cases those two files do not show, against a transcription of the original code
  (test/original_siamrpn.py): the otb preset, the adaptive 287 search, exact .5 rounding ties,
  the 10 px clip and border padding.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import require_shared
from dasiamrpn_core import load_tracker
from dasiamrpn_core.checkpoint import load_checkpoint
from dasiamrpn_core.config import PRESETS
from dasiamrpn_core.crop import crop_origin, get_subwindow
from dasiamrpn_core.geometry import py2_round
from original_siamrpn import OriginalTracker, get_subwindow_tracking, round2

PX_TOL = 0.01
SCORE_TOL = 1e-5


def frames(name: str) -> list:
    img_dir = require_shared("data", "sequences", name, "img")
    return sorted(img_dir.glob("*.jpg"))


def groundtruth(name: str) -> np.ndarray:
    return np.loadtxt(require_shared("data", "sequences", name, "groundtruth.txt"), delimiter=",")


@pytest.mark.slow
@pytest.mark.parametrize("net", ["vot", "big"])
def test_reference_trajectory_on_bag(net, official_weights):
    ref = json.loads(require_shared("reference", f"bag_{net}_seed2.json").read_text())
    torch.set_num_threads(2)
    tracker = load_tracker(official_weights(net, ref["weights"]["seed"]), device="cpu", mode="siamrpn",
                           preset=net)
    files = frames("bag")
    b = ref["init_box"]
    tracker.init(cv2.imread(str(files[0])), (b["cx"] - b["w"] / 2, b["cy"] - b["h"] / 2, b["w"], b["h"]))
    assert tracker.instance_size == ref["instance_size"]
    worst = 0.0
    for fr in ref["frames"][1:]:
        r = tracker.track(cv2.imread(str(files[fr["frame"]])))
        x, y, w, h = r.box
        got = np.array([x + w / 2, y + h / 2, w, h])
        want = np.array([fr["cx"], fr["cy"], fr["w"], fr["h"]])
        err = float(np.abs(got - want).max())
        worst = max(worst, err)
        assert err <= PX_TOL, f"frame {fr['frame']}: {got} vs reference {want} (error {err:.4g} px)"
        assert abs(r.score - fr["score"]) <= SCORE_TOL, f"frame {fr['frame']}: score {r.score} vs {fr['score']}"
    assert len(ref["frames"]) == len(files)


def run_both(weights, preset, image_files, box, n_frames, overrides=None):
    """Track with the project tracker and the transcribed original; return per-frame max abs diff."""
    torch.set_num_threads(2)
    cfg = PRESETS[preset]
    tracker = load_tracker(weights, device="cpu", mode="siamrpn", preset=preset, **(overrides or {}))
    net = load_checkpoint(weights, preset=preset).net
    original = OriginalTracker(net, {"lr": cfg.lr, "window_influence": cfg.window_influence,
                                     "penalty_k": cfg.penalty_k, "instance_size": cfg.instance_size,
                                     "adaptive": cfg.adaptive})
    first = cv2.imread(str(image_files[0]))
    x, y, w, h = box
    tracker.init(first, box)
    original.init(first, (x + w / 2, y + h / 2), (w, h))
    errors, states = [], []
    for f in image_files[1:n_frames]:
        im = cv2.imread(str(f))
        r = tracker.track(im)
        pos, size, score = original.track(im)
        got = np.array([r.box[0] + r.box[2] / 2, r.box[1] + r.box[3] / 2, r.box[2], r.box[3]])
        errors.append(float(np.abs(got - np.concatenate([pos, size])).max()))
        states.append((pos, size))
        assert abs(r.score - score) <= SCORE_TOL
    return tracker, original, errors, states


def test_otb_preset_matches_original(official_weights):
    weights = official_weights("otb")
    assert load_checkpoint(weights).preset == "otb"      # named SiamRPNOTB*.model
    files = frames("Couple")
    tracker, _, errors, _ = run_both(weights, "otb", files, tuple(groundtruth("Couple")[0]), 25)
    assert tracker.params.penalty_k == pytest.approx(0.22)
    assert max(errors) <= PX_TOL, errors


def test_adaptive_287_search_for_small_targets_matches_original(official_weights):
    files = frames("ball1")                                # 1280x720, a small ball
    box = tuple(groundtruth("ball1")[0])
    assert box[2] * box[3] / (1280 * 720) < PRESETS["big"].adaptive_area_ratio
    tracker, original, errors, _ = run_both(official_weights("big"), "big", files, box, 6)
    assert tracker.instance_size == original.instance_size == 287
    assert max(errors) <= PX_TOL, errors


def test_min_size_clip_and_border_target_match_original(official_weights):
    files = frames("Crossing")
    # a 6x6 box touching the left image border: padding, centre clip and the 10 px size clip
    tracker, _, errors, states = run_both(official_weights("vot"), "vot", files, (0.0, 100.0, 6.0, 6.0), 8)
    assert max(errors) <= PX_TOL, errors
    assert all(size.min() >= 10.0 for _, size in states)
    assert tracker.size.min() >= tracker.params.min_size


def test_python2_rounding_ties():
    assert [py2_round(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4999)] == [1, 2, 3, -1, -3, 2]
    assert [round(v) for v in (0.5, 2.5)] == [0, 2]      # Python 3 differs: banker's rounding
    # crop origin: c = (sz + 1) / 2; cx - c = 50.5 exactly -> 51 (Python 3's round gives 50)
    assert crop_origin(101.0, 100) == 51
    assert crop_origin(-49.0, 100) == -100               # -99.5 rounds away from zero


@pytest.mark.parametrize("center", [(101.0, 60.5), (0.0, 0.0), (300.5, 200.0), (-20.0, 250.0)])
def test_subwindow_matches_original_on_ties_and_borders(center):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    avg = np.mean(image, axis=(0, 1))
    for size in (99, 100, 127, 271):
        ours = get_subwindow(image, center, 127, size, avg.astype(np.uint8))
        theirs = get_subwindow_tracking(image, center, 127, size, avg).numpy().transpose(1, 2, 0)
        assert np.array_equal(ours.astype(np.float32), theirs), (center, size)
    assert round2(2.5) == 3

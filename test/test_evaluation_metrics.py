"""Evaluation metrics on small hand-computed cases (no data, no network)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dasiamrpn_core.evaluation import longterm, supervised
from dasiamrpn_core.evaluation.annotation_io import area_preserving_box, polygon_to_rect
from dasiamrpn_core.evaluation.config import EvalConfig, OPEConfig, SupervisedConfig
from dasiamrpn_core.evaluation.metrics import (center_errors, mean_scores, normalized_center_errors, ope_scores,
                                               precision_curve, success_curve, success_thresholds)
from dasiamrpn_core.evaluation.regions import box_polygon_overlap, clip_to_box, polygon_area
from dasiamrpn_core.evaluation.supervised import FAILURE, INIT, SKIPPED, TRACKED

CFG = OPEConfig()


def test_success_curve_counts_iou_strictly_above_threshold():
    ious = np.array([0.0, 0.5, 0.75, 1.0])
    curve = success_curve(ious, success_thresholds(CFG))
    assert len(curve) == 21
    assert curve[0] == 0.75          # IoU > 0: three of four
    assert curve[10] == 0.5          # IoU > 0.5: 0.75 and 1.0
    assert curve[15] == 0.25         # IoU > 0.75: only 1.0
    assert curve[20] == 0.0          # IoU > 1: none
    # AUC = mean of the 21-point curve: thresholds 0..0.45 (10 of them) -> 0.75,
    # 0.5..0.7 (5) -> 0.5, 0.75..0.95 (5) -> 0.25, 1.0 -> 0
    expected = (0.75 * 10 + 0.5 * 5 + 0.25 * 5 + 0.0) / 21
    assert math.isclose(np.mean(curve), expected)


def test_precision_and_normalised_precision():
    gt = np.array([[0, 0, 10, 20], [0, 0, 10, 20]], dtype=float)
    pred = np.array([[3, 4, 10, 20], [20, 0, 10, 20]], dtype=float)  # centre errors 5 and 20
    assert np.allclose(center_errors(pred, gt), [5.0, 20.0])
    curve = precision_curve(center_errors(pred, gt), np.arange(51.0))
    assert curve[4] == 0 and curve[5] == 0.5 and curve[19] == 0.5 and curve[20] == 1.0
    # normalised: (3/10, 4/20) -> sqrt(0.09 + 0.04); (20/10, 0) -> 2
    assert np.allclose(normalized_center_errors(pred, gt), [math.sqrt(0.13), 2.0])


def test_missing_prediction_scores_zero_and_inputs_untouched():
    gt = np.array([[10, 10, 20, 20], [10, 10, 20, 20]], dtype=float)
    pred = np.array([[10, 10, 20, 20], [np.nan] * 4])
    before = pred.copy(), gt.copy()
    s = ope_scores(pred, gt, np.array([True, True]), CFG)
    assert s.average_overlap == 0.5
    assert s.precision_curve[50] == 0.5  # the NaN frame has an infinite error
    assert np.array_equal(pred, before[0], equal_nan=True) and np.array_equal(gt, before[1])


def test_ope_scores_only_on_valid_frames_and_summary():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [50, 50, 10, 10]], dtype=float)
    s = ope_scores(pred, gt, np.array([True, True, False]), CFG)
    assert s.frames == 2
    # IoUs 1 and 50/150 = 1/3
    assert math.isclose(s.average_overlap, (1 + 1 / 3) / 2)
    summary = s.summary(CFG)
    assert summary["precision_20"] == 1.0 and summary["success_rate_50"] == 0.5
    assert ope_scores(pred, gt, np.zeros(3, bool), CFG) is None


def test_mean_scores_average_curves_per_sequence_and_pool_overlap_per_frame():
    gt = np.array([[0, 0, 10, 10]] * 4, dtype=float)
    a = ope_scores(gt[:1], gt[:1], np.ones(1, bool), CFG)           # 1 frame, IoU 1
    b = ope_scores(gt[:3] + [[100, 0, 0, 0]], gt[:3], np.ones(3, bool), CFG)  # 3 frames, IoU 0
    m = mean_scores([a, b])
    assert math.isclose(m.success_curve[0], 0.5)       # sequence average of 1 and 0
    assert math.isclose(m.average_overlap, 0.25)       # frame pooled: 1 of 4 frames
    assert mean_scores([]) is None


def test_polygon_geometry():
    square = np.array([0, 0, 10, 0, 10, 10, 0, 10], dtype=float)
    assert polygon_area(square.reshape(-1, 2)) == 100
    assert polygon_area(clip_to_box(square.reshape(-1, 2), 5, 5, 20, 20)) == 25
    assert math.isclose(box_polygon_overlap([5, 0, 10, 10], square), 50 / 150)
    # a diamond (square rotated 45 deg) inscribed in the box [0,10]^2 covers half of it
    diamond = np.array([5, 0, 10, 5, 5, 10, 0, 5], dtype=float)
    assert math.isclose(box_polygon_overlap([0, 0, 10, 10], diamond), 0.5)
    # bounded by a 5x10 image: box area 50, diamond part 25 (inside x<=5) -> 25/50
    assert math.isclose(box_polygon_overlap([0, 0, 10, 10], diamond, bounds=(5, 10)), 0.5)
    assert box_polygon_overlap([np.nan] * 4, diamond) == 0.0
    assert np.allclose(polygon_to_rect(diamond), [0, 0, 10, 10])


def test_area_preserving_box_follows_dasiamrpn():
    diamond = [5, 0, 10, 5, 5, 10, 0, 5]  # area 50, min/max box area 100 -> scale sqrt(0.5)
    x, y, w, h = area_preserving_box(diamond)
    s = math.sqrt(0.5)
    assert math.isclose(w, s * 10 + 1) and math.isclose(h, s * 10 + 1)
    assert math.isclose(x + w / 2, 5) and math.isclose(y + h / 2, 5)


def test_supervised_accuracy_failures_and_segments():
    #          0     1        2        3        4        5        6     7        8        9
    codes = np.array([INIT, TRACKED, TRACKED, FAILURE, SKIPPED, INIT, TRACKED, TRACKED, TRACKED, TRACKED])
    overlaps = np.array([0, .8, .6, 0, 0, 0, .5, .7, .9, .3])
    acc, n = supervised.accuracy(overlaps, codes, burnin=2)
    # burn-in removes frames 0,1 and 5,6; tracked frames left: 2, 7, 8, 9
    assert n == 4 and math.isclose(acc, (.6 + .7 + .9 + .3) / 4)
    assert supervised.failures(codes) == 1
    segs = supervised.segments(overlaps, codes)
    assert [s.failed for s in segs] == [True, False]
    assert np.allclose(segs[0].overlaps, [0, .8, .6]) and np.allclose(segs[1].overlaps, [0, .5, .7, .9, .3])


def test_eao_curve_by_hand():
    failed = supervised.Segment(np.array([0, 1.0, 0.5]), True)      # fails after 2 tracked frames
    finished = supervised.Segment(np.array([0, 0.4, 0.4, 0.4, 0.4]), False)
    curve = supervised.eao_curve([failed, finished])
    # length index j: mean of overlaps 1..j; failed segment padded with zeros, finished one masked
    # beyond its 5 frames (it has none beyond)
    assert math.isclose(curve[1], (1.0 + 0.4) / 2)
    assert math.isclose(curve[2], (0.75 + 0.4) / 2)
    assert math.isclose(curve[4], (1.5 / 4 + 0.4) / 2)
    short = supervised.eao_curve([failed, supervised.Segment(np.array([0, 0.4]), False)])
    assert math.isclose(short[2], 0.75)  # the finished 2-frame segment no longer counts
    assert math.isclose(supervised.eao_score(curve, (1, 2)), (curve[1] + curve[2]) / 2)
    assert supervised.eao_score(curve, (10, 20)) is None


def test_longterm_precision_recall_by_hand():
    overlaps = np.array([0.8, 0.6, 0.0, 0.0])
    confidence = np.array([0.9, 0.4, 0.8, 0.1])
    visible = np.array([True, True, False, True])
    thr = np.array([math.inf, 0.85, 0.5, -math.inf])
    pr, re = longterm.pr_curves(overlaps, confidence, visible, thr)
    assert pr[0] == 1 and re[0] == 0                       # nothing reported above +inf
    assert math.isclose(pr[1], 0.8) and math.isclose(re[1], 0.8 / 3)
    assert math.isclose(pr[2], 0.4) and math.isclose(re[2], 0.8 / 3)   # frames 0 and 2
    assert math.isclose(pr[3], 1.4 / 4) and math.isclose(re[3], 1.4 / 3)
    scores = longterm.average([(pr, re)], thr, 1.0).summary()
    f = [2 * p * r / (p + r) if p + r else 0 for p, r in zip(pr, re)]
    assert math.isclose(scores["f_score"], max(f))


def test_longterm_thresholds_span_the_confidences():
    thr = longterm.thresholds(np.linspace(0, 1, 1000), resolution=100)
    assert len(thr) == 100 and thr[0] == math.inf and thr[-1] == -math.inf
    assert np.all(np.diff(thr[1:-1]) <= 0)
    few = longterm.thresholds(np.array([0.2, 0.7, np.nan]), resolution=100)
    assert list(few) == [math.inf, 0.7, 0.2, -math.inf]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="VOT year"):
        SupervisedConfig(year="2030")
    with pytest.raises(ValueError, match="init_box"):
        SupervisedConfig(init_box="centre")
    with pytest.raises(ValueError, match="precision_px"):
        OPEConfig(precision_px=60)
    assert EvalConfig().supervised.eao_interval == (100, 356)

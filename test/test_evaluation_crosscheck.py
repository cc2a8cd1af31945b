"""Cross-checks against independent implementations on the same predictions (to 1e-6):
the GOT-10k toolkit (got10k==0.1.3) for the one-pass curves, AO and SR, and vot-toolkit 0.7.4
for accuracy, failures, EAO and the long-term precision/recall/F-score.

vot-toolkit is optional: it requires opencv-python, which clashes with this project's
opencv-contrib-python-headless, so it is installed without dependencies (see docs/evaluation.md);
its tests skip when it cannot be imported.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dasiamrpn_core.evaluation import longterm, supervised
from dasiamrpn_core.evaluation.config import OPEConfig
from dasiamrpn_core.evaluation.metrics import mean_scores, ope_scores
from dasiamrpn_core.evaluation.supervised import FAILURE, INIT, SKIPPED, TRACKED

TOL = 1e-6
CFG = OPEConfig()


def noisy_predictions(gt: np.ndarray, seed: int, scale: float = 8.0) -> np.ndarray:
    """Predictions around the ground truth with drift, occasional jumps and size errors."""
    rng = np.random.default_rng(seed)
    n = len(gt)
    drift = np.cumsum(rng.normal(0, scale / 4, size=(n, 2)), axis=0)
    pred = gt.astype(np.float64).copy()
    pred[:, :2] += drift + rng.normal(0, scale, size=(n, 2))
    pred[:, 2:] *= np.exp(rng.normal(0, 0.2, size=(n, 2)))
    jumps = rng.random(n) < 0.05
    pred[jumps, :2] += 200
    return pred


def sequences_gt() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for n in (40, 150, 333):
        xy = 100 + np.cumsum(rng.normal(0, 3, size=(n, 2)), axis=0)
        wh = np.abs(30 + np.cumsum(rng.normal(0, 1, size=(n, 2)), axis=0)) + 5
        out.append(np.concatenate([xy, wh], axis=1))
    return out


# -- got10k --------------------------------------------------------------------------------------
def test_ope_curves_match_got10k():
    got10k_otb = pytest.importorskip("got10k.experiments.otb")
    from got10k.experiments.got10k import ExperimentGOT10k
    from got10k.utils.metrics import center_error, rect_iou
    exp = got10k_otb.ExperimentOTB.__new__(got10k_otb.ExperimentOTB)
    exp.nbins_iou, exp.nbins_ce = 21, 51
    ours, theirs_succ, theirs_prec, all_ious = [], [], [], []
    for k, gt in enumerate(sequences_gt()):
        pred = noisy_predictions(gt, seed=k)
        pred[0] = gt[0]  # both toolkits score the init frame as given
        s = ope_scores(pred, gt, np.ones(len(gt), bool), CFG)
        ious = rect_iou(pred.copy(), gt.copy())  # rect_iou changes its inputs: pass copies
        succ, prec = exp._calc_curves(ious, center_error(pred.copy(), gt.copy()))
        assert np.allclose(s.success_curve, succ, atol=TOL, rtol=0)
        assert np.allclose(s.precision_curve, prec, atol=TOL, rtol=0)
        assert abs(s.summary(CFG)["precision_20"] - prec[20]) < TOL
        ours.append(s)
        theirs_succ.append(succ)
        theirs_prec.append(prec)
        all_ious.append(ious)
    overall = mean_scores(ours)
    assert abs(overall.summary(CFG)["success_auc"] - np.mean(np.mean(theirs_succ, axis=0))) < TOL
    assert np.allclose(overall.precision_curve, np.mean(theirs_prec, axis=0), atol=TOL, rtol=0)
    exp10k = ExperimentGOT10k.__new__(ExperimentGOT10k)
    ao, sr, _, _ = exp10k._evaluate(np.concatenate(all_ious), np.ones(3))
    summary = overall.summary(CFG)
    assert abs(summary["average_overlap"] - ao) < TOL and abs(summary["success_rate_50"] - sr) < TOL


# -- vot-toolkit ---------------------------------------------------------------------------------
# `make setup` installs vot-toolkit and its pure dependencies into .venv/vot without dependencies
# (it depends on opencv-python, which would replace this project's OpenCV): appended to sys.path
# here only, so the venv's own packages win any overlap
VOT_TARGET = Path(__file__).resolve().parents[1] / ".venv" / "vot"


def _vot():
    if VOT_TARGET.is_dir() and str(VOT_TARGET) not in sys.path:
        sys.path.append(str(VOT_TARGET))
    try:
        import vot.analysis.longterm as vot_lt
        import vot.analysis.supervised as vot_sup
        from vot.region import Special
        from vot.region.raster import calculate_overlaps
        from vot.region.shapes import Rectangle
    except Exception as exc:  # noqa: BLE001 - any import problem means "not installed properly"
        pytest.skip(f"vot-toolkit==0.7.4 not importable ({exc!r}); install it without dependencies "
                    "as docs/evaluation.md describes (make setup does it)")
    return vot_sup, vot_lt, Special, Rectangle, calculate_overlaps


class _VotSequence:
    """The two things vot-toolkit's analysis functions read from a sequence."""

    def __init__(self, regions, size):
        self._regions, self.size = regions, size

    def groundtruth(self):
        return self._regions

    def __len__(self):
        return len(self._regions)


def supervised_run(gt: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A VOT baseline trajectory with integer boxes (vot rasterises; integer boxes make the
    raster overlap exact), failures where the noisy prediction misses, skip 5 and re-init."""
    pred = np.round(noisy_predictions(gt, seed, scale=6.0))
    n = len(gt)
    codes = np.full(n, SKIPPED)
    boxes = np.full((n, 4), np.nan)
    from dasiamrpn_core.geometry import iou_xywh
    f = 0
    while f < n:
        codes[f] = INIT
        f += 1
        while f < n:
            if iou_xywh(pred[f:f + 1], gt[f:f + 1])[0] <= 0:
                codes[f] = FAILURE
                f += 5
                break
            codes[f], boxes[f] = TRACKED, pred[f]
            f += 1
    return codes, boxes


def test_supervised_measures_match_vot_toolkit():
    vot_sup, _, Special, Rectangle, calculate_overlaps = _vot()
    size = (400, 400)
    segments, vot_overlaps, vot_success, total_failures = [], [], [], 0
    for k, gt in enumerate(sequences_gt()):
        gt = np.round(gt)
        gt[:, :2] = np.clip(gt[:, :2], 0, 300)
        codes, boxes = supervised_run(gt, seed=10 + k)
        assert (codes == FAILURE).any()
        polys = np.stack([gt[:, 0], gt[:, 1], gt[:, 0] + gt[:, 2], gt[:, 1], gt[:, 0] + gt[:, 2],
                          gt[:, 1] + gt[:, 3], gt[:, 0], gt[:, 1] + gt[:, 3]], axis=1)
        overlaps = supervised.frame_overlaps(boxes, codes, polys, size)
        acc, _ = supervised.accuracy(overlaps, codes, burnin=10)
        segments += supervised.segments(overlaps, codes)
        total_failures += supervised.failures(codes)
        # the same trajectory in vot-toolkit's terms
        trajectory = [Special(int(c)) if c != TRACKED else Rectangle(*b) for c, b in zip(codes, boxes)]
        seq = _VotSequence([Rectangle(*g) for g in gt], size)
        vot_acc, _ = vot_sup.compute_accuracy(trajectory, seq, burnin=10, ignore_unknown=True, bounded=True)
        assert abs(acc - vot_acc) < TOL
        assert supervised.failures(codes) == vot_sup.count_failures(trajectory)[0]
        ov = calculate_overlaps(trajectory, seq.groundtruth(), size)
        fails, inits = vot_sup.locate_failures_inits(trajectory)
        for i in range(len(fails)):
            vot_overlaps.append(ov[inits[i]:fails[i]])
            vot_success.append(False)
        if len(inits) > len(fails):
            vot_overlaps.append(ov[inits[-1]:])
            vot_success.append(True)
    ours = supervised.eao_curve(segments)
    theirs = vot_sup.compute_eao_curve(vot_overlaps, [1] * len(vot_overlaps), vot_success)
    assert len(ours) == len(theirs)
    assert np.allclose(ours, theirs, atol=TOL, rtol=0)
    low, high = 5, len(ours) // 2  # noisy runs fail often: segments are shorter than VOT's interval
    assert abs(supervised.eao_score(ours, (low, high)) - float(np.mean(theirs[low:high + 1]))) < TOL


def test_longterm_measures_match_vot_toolkit():
    _, vot_lt, Special, Rectangle, _ = _vot()
    rng = np.random.default_rng(5)
    per_seq, vot_curves, confidences = [], [], []
    from dasiamrpn_core.geometry import iou_xywh
    for k, gt in enumerate(sequences_gt()):
        gt = np.round(gt)
        gt[:, :2] = np.clip(gt[:, :2], 0, 300)
        visible = rng.random(len(gt)) > 0.15
        pred = np.round(noisy_predictions(gt, seed=20 + k))
        conf = np.clip(rng.normal(0.6, 0.25, len(gt)), 0, 1)
        overlaps = np.where(visible, iou_xywh(pred, gt), 0.0)
        per_seq.append((overlaps, conf, visible))
        confidences.append(conf)
        vot_curves.append(([Rectangle(*p) for p in pred],
                           _VotSequence([Rectangle(*g) if v else Special(0) for g, v in zip(gt, visible)],
                                        (400, 400)), list(conf)))
    pooled = np.concatenate(confidences)
    thr = longterm.thresholds(pooled, 100)
    vot_thr = vot_lt.determine_thresholds(pooled.tolist(), 100)
    assert np.array_equal(thr, np.asarray(vot_thr))
    ours = longterm.average([longterm.pr_curves(o, c, v, thr) for o, c, v in per_seq], thr, 1.0)
    pr_sum = np.zeros(len(thr))
    re_sum = np.zeros(len(thr))
    for trajectory, seq, conf in vot_curves:
        pr, re = vot_lt.compute_tpr_curves(trajectory, conf, seq, vot_thr, bounded=True)
        pr_sum += pr
        re_sum += re
    assert np.allclose(ours.precision, pr_sum / 3, atol=TOL, rtol=0)
    assert np.allclose(ours.recall, re_sum / 3, atol=TOL, rtol=0)
    vot_f = 2 * (pr_sum / 3) * (re_sum / 3) / (pr_sum / 3 + re_sum / 3)
    assert abs(ours.summary()["f_score"] - np.nanmax(vot_f)) < TOL

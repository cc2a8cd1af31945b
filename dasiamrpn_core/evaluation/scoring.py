"""Scoring finished result files against the ground truth (the "report" half of an evaluation).

Everything here reads the files under ``OUT/results`` (never in-memory results), so a resumed
run, a fresh run and a re-scoring of the same files give the same report.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..geometry import iou_xywh
from . import longterm, supervised
from .annotation_io import rect_to_polygon
from .config import EvalConfig
from .metrics import OPEScores, mean_scores, ope_scores
from .results_io import OPEResult, SupervisedResult, read_ope, read_supervised
from .runner import OPE, SUPERVISED
from .sequence import Sequence

LONGTERM = "longterm"


def _fps(frames: int, times: np.ndarray) -> float | None:
    total = float(np.nansum(times))
    return frames / total if total > 0 else None


def _tracked_frames(times: np.ndarray) -> int:
    return int(np.sum(np.isfinite(times) & (times > 0)))


def image_size(seq: Sequence) -> tuple[float, float]:
    with Image.open(seq.frames[0]) as im:
        return float(im.size[0]), float(im.size[1])


@dataclass
class _Totals:
    frames: int = 0
    seconds: float = 0.0

    def add(self, times: np.ndarray) -> None:
        self.frames += _tracked_frames(times)
        self.seconds += float(np.nansum(times))

    @property
    def fps(self) -> float | None:
        return self.frames / self.seconds if self.seconds > 0 else None


def _ope_entry(seq: Sequence, res: OPEResult, cfg: EvalConfig) -> tuple[dict, OPEScores | None]:
    tracked_annotated = seq.annotated[1:].any()  # the init frame alone says nothing about the tracker
    scores = ope_scores(res.boxes, seq.boxes, seq.annotated, cfg.ope) if tracked_annotated else None
    entry: dict = {"evaluated_frames": int(seq.annotated.sum()) if tracked_annotated else 0}
    if scores is None:  # e.g. GOT-10k test: only the first frame is annotated
        entry.update({"success_auc": None, "precision_20": None, "norm_precision": None})
    else:
        entry.update(scores.summary(cfg.ope))
        entry.update(scores.curves())
    entry["fps"] = _fps(_tracked_frames(res.times), res.times)
    return entry, scores


def _longterm_inputs(seq: Sequence, res: OPEResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlaps, confidences and visibility of the tracked frames (the init frame left out)."""
    visible = seq.annotated[1:]
    ious = np.clip(iou_xywh(res.boxes[1:], np.nan_to_num(seq.boxes[1:])), 0.0, 1.0)
    overlaps = np.where(visible, ious, 0.0)
    conf = np.where(np.isnan(res.scores[1:]), 0.0, res.scores[1:])
    return overlaps, conf, visible


def _supervised_entry(seq: Sequence, res: SupervisedResult, cfg: EvalConfig):
    polygons = seq.polygons if seq.polygons is not None else rect_to_polygon(seq.boxes)
    bounds = image_size(seq) if cfg.supervised.bounded else None
    overlaps = supervised.frame_overlaps(res.boxes, res.codes, polygons, bounds)
    acc, acc_frames = supervised.accuracy(overlaps, res.codes, cfg.supervised.burnin)
    fails = supervised.failures(res.codes)
    entry = {"accuracy": acc, "accuracy_frames": acc_frames, "failures": fails,
             "fps": _fps(_tracked_frames(res.times), res.times)}
    return entry, supervised.segments(overlaps, res.codes)


def score(sequences: list[Sequence], results: Path, protocols: tuple[str, ...], cfg: EvalConfig) -> dict:
    """Per-sequence, overall and per-attribute scores for the protocols that were run."""
    per_seq: dict[str, dict] = {}
    ope_by_seq: dict[str, OPEScores] = {}
    totals = _Totals()
    lt_inputs: dict[str, tuple] = {}
    segments: list[supervised.Segment] = []
    sup_totals = _Totals()
    sup_acc: list[tuple[float, int]] = []
    sup_failures = 0
    for seq in sequences:
        entry: dict = {"frames": len(seq), "attributes": list(seq.attributes)}
        if OPE in protocols or LONGTERM in protocols:
            res = read_ope(results, seq.name, len(seq))
            ope_entry, scores = _ope_entry(seq, res, cfg)
            entry.update(ope_entry)
            totals.add(res.times)
            if scores is not None:
                ope_by_seq[seq.name] = scores
            if LONGTERM in protocols:
                lt_inputs[seq.name] = _longterm_inputs(seq, res)
        if SUPERVISED in protocols:
            res_s = read_supervised(results, seq.name, len(seq))
            sup_entry, segs = _supervised_entry(seq, res_s, cfg)
            entry["vot"] = sup_entry
            segments.extend(segs)
            sup_totals.add(res_s.times)
            sup_acc.append((sup_entry["accuracy"], len(seq)))
            sup_failures += sup_entry["failures"]
        per_seq[seq.name] = entry

    overall: dict = {"sequences": len(sequences), "frames": int(sum(len(s) for s in sequences))}
    attributes: dict[str, dict] = {}
    if OPE in protocols or LONGTERM in protocols:
        mean = mean_scores(list(ope_by_seq.values()))
        if mean is None:
            overall.update({"success_auc": None, "precision_20": None, "norm_precision": None})
        else:
            overall.update(mean.summary(cfg.ope))
            overall.update(mean.curves())
        overall["fps"] = totals.fps
        attributes = _attribute_breakdown(sequences, ope_by_seq, cfg)
    if SUPERVISED in protocols:
        overall["vot"] = _supervised_overall(sup_acc, sup_failures, segments, sup_totals, cfg)
    if LONGTERM in protocols:
        overall["longterm"] = _longterm_overall(lt_inputs, per_seq, cfg)
    for key in ("success_auc", "precision_20", "norm_precision", "fps"):
        overall.setdefault(key, None)
        for entry in per_seq.values():
            entry.setdefault(key, None)
    return {"overall": overall, "attributes": attributes, "sequences": per_seq}


def _attribute_breakdown(sequences: list[Sequence], by_seq: dict[str, OPEScores], cfg: EvalConfig) -> dict:
    names = sorted({a for s in sequences for a in s.attributes})
    out = {}
    for name in names:
        members = [by_seq[s.name] for s in sequences if name in s.attributes and s.name in by_seq]
        mean = mean_scores(members)
        if mean is not None:
            out[name] = {"sequences": len(members), **mean.summary(cfg.ope), **mean.curves()}
    return out


def _supervised_overall(acc: list[tuple[float, int]], failures: int, segments, totals: _Totals,
                        cfg: EvalConfig) -> dict:
    frames = sum(n for _, n in acc)
    curve = supervised.eao_curve(segments)
    sc = cfg.supervised
    return {
        "accuracy": float(sum(a * n for a, n in acc) / frames) if frames else None,
        "failures": int(failures),
        "robustness": failures * sc.robustness_frames / frames if frames else None,
        "eao": supervised.eao_score(curve, sc.eao_interval),
        "eao_interval": list(sc.eao_interval),
        "eao_curve": [None if np.isnan(v) else float(v) for v in curve],
        "fps": totals.fps,
    }


def _longterm_overall(inputs: dict[str, tuple], per_seq: dict[str, dict], cfg: EvalConfig) -> dict:
    if not inputs:
        return {"f_score": None, "precision": None, "recall": None}
    pooled = np.concatenate([conf for _, conf, _ in inputs.values()])
    thr = longterm.thresholds(pooled, cfg.longterm.threshold_resolution)
    curves = []
    for name, (overlaps, conf, visible) in inputs.items():
        pr, re = longterm.pr_curves(overlaps, conf, visible, thr)
        curves.append((pr, re))
        seq_scores = longterm.LongTermScores(thr, pr, re, cfg.longterm.f_beta)
        per_seq[name]["longterm"] = seq_scores.summary()
    overall = longterm.average(curves, thr, cfg.longterm.f_beta)
    return {**overall.summary(), **overall.curves()}

"""One evaluation run end to end: read the dataset, run the pending sequences, score, report.

The output folder is resumable: a sequence whose result file exists is not run again, provided
the settings that shape results (tracker, frame limit, protocol parameters) match the ones
recorded in ``OUT/run.json``; otherwise the run stops with the differing settings named.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .config import EvalConfig, PROTOCOLS
from .datasets import load_dataset
from .errors import ResultsError
from .plots import plot_runs
from .report import SCHEMA, SUMMARY_FILE, summary_markdown, write_report
from .results_io import ope_paths, supervised_path, write_native, write_ope, write_supervised, write_text_atomic
from .runner import OPE, SUPERVISED, Task, TrackerFactory, run_tasks
from .scoring import LONGTERM, score

log = logging.getLogger(__name__)
RUN_FILE = "run.json"
RESULTS_DIR = "results"


@dataclass(frozen=True)
class EvalRequest:
    dataset: str
    root: Path
    out: Path
    protocols: tuple[str, ...]
    split: str | None = None
    index: Path | None = None
    sequences: tuple[str, ...] | None = None
    max_frames: int | None = None
    workers: int = 1
    threads: int | None = None
    name: str | None = None
    progress: bool = True
    plots: bool = True
    score_only: bool = False  # score the result files already in OUT/results, run nothing

    def __post_init__(self):
        unknown = [p for p in self.protocols if p not in PROTOCOLS]
        if unknown or not self.protocols:
            raise ValueError(f"unknown protocols {unknown}; expected some of {PROTOCOLS}")
        if self.max_frames is not None and self.max_frames < 2:
            raise ValueError(f"max_frames must be >= 2 (one init frame and one tracked), got {self.max_frames}")


def _settings(request: EvalRequest, tracker: dict, cfg: EvalConfig) -> dict:
    """What a result file depends on (compared when a run is resumed)."""
    sup = cfg.supervised
    return {"dataset": request.dataset, "split": request.split, "max_frames": request.max_frames,
            "tracker": tracker.get("identity", tracker),
            "init_box": sup.init_box, "skip_frames": sup.skip_frames, "failure_overlap": sup.failure_overlap,
            "bounded": sup.bounded}


def _check_settings(out: Path, settings: dict) -> None:
    path = out / RUN_FILE
    if path.is_file():
        recorded = json.loads(path.read_text()).get("settings", {})
        diff = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
        if diff:
            details = "; ".join(f"{k}: {recorded.get(k)!r} -> {settings.get(k)!r}" for k in diff)
            raise ResultsError(f"{out} holds results made with other settings ({details}); "
                               f"use another --out or delete {out / RESULTS_DIR}")
    write_text_atomic(path, json.dumps({"settings": settings}, indent=1) + "\n")


def _pending(sequences, results: Path, protocols: tuple[str, ...], cfg: EvalConfig) -> list[Task]:
    tasks = []
    for seq in sequences:
        if (OPE in protocols or LONGTERM in protocols) and not ope_paths(results, seq.name)[0].is_file():
            tasks.append(Task(seq, OPE, cfg.supervised))
        if SUPERVISED in protocols and not supervised_path(results, seq.name).is_file():
            tasks.append(Task(seq, SUPERVISED, cfg.supervised))
    return tasks


def evaluate(request: EvalRequest, factory: TrackerFactory, tracker: dict, cfg: EvalConfig = EvalConfig()) -> dict:
    """Run and score; writes ``report.json``, ``summary.md``, plots and result files under ``out``.

    tracker: JSON description of the tracker; its ``identity`` entry (what results depend on) is
    checked when resuming, its ``label`` names the run in tables.
    """
    started = time.perf_counter()
    sequences = load_dataset(request.dataset, request.root, split=request.split, index=request.index,
                             sequences=list(request.sequences) if request.sequences else None)
    sequences = [s.truncated(request.max_frames) for s in sequences]
    out, results = request.out, request.out / RESULTS_DIR
    results.mkdir(parents=True, exist_ok=True)
    tasks = _pending(sequences, results, request.protocols, cfg)
    if request.score_only:
        if tasks:
            missing = sorted({t.sequence.name for t in tasks})
            raise ResultsError(f"--score-only: {len(missing)} sequences have no result files in {results} "
                               f"(first: {missing[:5]})")
    else:
        _check_settings(out, _settings(request, tracker, cfg))
    skipped = len(sequences) - len({t.sequence.name for t in tasks})
    if skipped:
        log.info("resuming: %d of %d sequences already have results", skipped, len(sequences))
    by_name = {s.name: s for s in sequences}
    run_started = time.perf_counter()
    for task, result in run_tasks(tasks, factory, workers=request.workers, threads=request.threads,
                                  progress=request.progress):
        if task.protocol == OPE:
            write_ope(results, task.sequence.name, result)
            write_native(results, request.dataset, task.sequence.name, result, by_name[task.sequence.name].one_based)
        else:
            write_supervised(results, task.sequence.name, result)
    run_seconds = time.perf_counter() - run_started
    scored = score(sequences, results, request.protocols, cfg)
    report = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": {"name": request.name or out.resolve().name, "dataset": request.dataset,
                "root": str(request.root), "split": request.split,
                "protocols": list(request.protocols), "max_frames": request.max_frames,
                "sequences_run": len({t.sequence.name for t in tasks}), "workers": request.workers,
                "tracker": tracker, "wall_seconds_tracking": run_seconds},
        "config": dataclasses.asdict(cfg),
        **scored,
    }
    report["config"]["supervised"]["eao_interval"] = list(cfg.supervised.eao_interval)
    if request.plots:
        plot_runs([(report["run"]["name"], report["overall"])], out, cfg.ope,
                  title_suffix=f" – {request.dataset}")
    write_text_atomic(out / SUMMARY_FILE, summary_markdown(report))
    report["run"]["wall_seconds_total"] = time.perf_counter() - started
    write_report(out, report)
    return report

"""Console scripts ``dasiamrpn-eval`` (run + score one tracker on a benchmark) and
``dasiamrpn-report`` (compare finished runs)."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..cli.common import add_set_argument, parse_sets
from ..files import require_shared, sha256_file
from ..runtime import BACKENDS
from .baselines import IdentityTracker
from .config import DEFAULT_VOT_YEAR, EAO_INTERVALS, POLYGON_INIT_RULES, PROTOCOLS, EvalConfig, SupervisedConfig
from .datasets import DATASETS
from .errors import DatasetError, ResultsError

DEFAULT_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "otb": ("ope",), "uav": ("ope",), "lasot": ("ope",), "got10k": ("ope",), "simple": ("ope",), "mot": ("ope",),
    "vot": ("ope", "supervised"), "vot-lt": ("ope", "longterm"),
}


def shared_sequences() -> Path:
    """``$DASIAMRPN_SHARED/data/sequences`` (a ValueError naming the variable when it is not set)."""
    return require_shared("data", "sequences")


def _protocols(text: str | None, dataset: str) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_PROTOCOLS[dataset]
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in chosen if p not in PROTOCOLS]
    if bad or not chosen:
        raise ValueError(f"unknown protocol(s) {bad}; expected a comma list of {PROTOCOLS}")
    return chosen


def _vot_year(year: str | None, root: Path) -> str:
    if year is not None:
        return year
    match = re.search(r"VOT(20\d\d)", str(root), re.IGNORECASE)
    return match.group(1) if match and match.group(1) in EAO_INTERVALS else DEFAULT_VOT_YEAR


def _tracker(args) -> tuple[object, dict]:
    """The tracker factory and its description (``identity`` = what results depend on)."""
    if args.baseline == "identity":
        return IdentityTracker, {"label": "identity", "identity": {"baseline": "identity"}}
    from ..api import default_checkpoint
    from .runner import TrackerSpec
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    overrides = parse_sets(args.set)
    spec = TrackerSpec(str(path), args.mode, args.device, args.preset, overrides, args.backend)
    identity = {"checkpoint_sha256": sha256_file(path), "mode": args.mode, "preset": args.preset,
                "overrides": {k: v for k, v in overrides}, "device": args.device}
    label = f"{path.stem} ({args.mode})"
    return spec, {"label": label, "checkpoint": str(path), "identity": identity}


def eval_parser() -> argparse.ArgumentParser:
    from ..config import MODES
    p = argparse.ArgumentParser(
        prog="dasiamrpn-eval",
        description="Run a tracker on a benchmark and score it: writes OUT/report.json, OUT/summary.md, "
                    "success/precision plots and OUT/results/<sequence>.txt (x,y,w,h, 0-based). "
                    "Resumable: sequences with a result file are not run again.")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS),
                   help="benchmark layout; 'simple' is $DASIAMRPN_SHARED/data/sequences")
    p.add_argument("--root", type=Path, help="dataset folder (default for 'simple': $DASIAMRPN_SHARED/data/sequences)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created; reused to resume)")
    p.add_argument("--checkpoint", help="official *.model or project checkpoint (default: the bundled model)")
    p.add_argument("--mode", default="dasiamrpn", choices=MODES, help="tracker mode (default dasiamrpn)")
    p.add_argument("--preset", choices=("big", "vot", "otb"), help="tracking preset for official checkpoints")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--backend", default="torch", choices=BACKENDS + ("auto",),
                   help="inference backend (default torch; the results' identity does not depend on it)")
    add_set_argument(p)
    p.add_argument("--baseline", choices=("identity",),
                   help="evaluate a reference tracker instead of a checkpoint (identity: the first box)")
    p.add_argument("--protocol", help=f"comma list of {', '.join(PROTOCOLS)} (default: the dataset's: "
                                      + "; ".join(f"{k}: {'+'.join(v)}" for k, v in DEFAULT_PROTOCOLS.items()) + ")")
    p.add_argument("--split", help="subset: otb2013 (otb), train/val/test (got10k), test (lasot), "
                                   "UAV123/UAV20L/UAV123_10fps (uav)")
    p.add_argument("--index", type=Path, help="JSON index of the dataset (OTB2015.json, UAV123 frame ranges)")
    p.add_argument("--sequences", help="comma list of sequence names to evaluate (default: all)")
    p.add_argument("--max-frames", type=int, help="evaluate only the first N frames of each sequence")
    p.add_argument("--workers", type=int, default=1, help="sequences run in parallel processes (default 1)")
    p.add_argument("--threads", type=int,
                   help="torch threads per process (default 1: the boxes are the same for any --workers and "
                        "processes do not oversubscribe the cores; more helps a single long sequence)")
    p.add_argument("--vot-year", choices=sorted(EAO_INTERVALS),
                   help="VOT year for the EAO interval (default: from the root's name, else "
                        f"{DEFAULT_VOT_YEAR})")
    p.add_argument("--init-box", choices=POLYGON_INIT_RULES, default="area",
                   help="box given to the tracker for polygon ground truth: area (DaSiamRPN/pysot, default) "
                        "or minmax (VOT toolkit)")
    p.add_argument("--score-only", action="store_true",
                   help="only score the result files already in OUT/results (e.g. another tracker's); "
                        "needs no checkpoint")
    p.add_argument("--name", help="run name in tables and plot legends (default: the --out folder name)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _fail(prog: str, exc: Exception) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 2


def eval_main(argv: list[str] | None = None) -> int:
    from ..checkpoint import CheckpointError
    from .evaluate import EvalRequest, evaluate
    args = eval_parser().parse_args(argv)
    try:
        if args.score_only and (args.baseline or args.checkpoint or args.set):
            raise ValueError("--score-only runs no tracker: it takes no --baseline/--checkpoint/--set")
        if args.baseline and (args.checkpoint or args.set):
            raise ValueError("--baseline evaluates a reference tracker: it takes no --checkpoint/--set")
        root = args.root
        if root is None:
            if args.dataset != "simple":
                raise ValueError(f"--root is required for --dataset {args.dataset}")
            root = shared_sequences()
        request = EvalRequest(
            dataset=args.dataset, root=root, out=args.out, protocols=_protocols(args.protocol, args.dataset),
            split=args.split, index=args.index,
            sequences=tuple(s.strip() for s in args.sequences.split(",") if s.strip()) if args.sequences else None,
            max_frames=args.max_frames, workers=args.workers, threads=args.threads, name=args.name,
            progress=not args.quiet, plots=not args.no_plots, score_only=args.score_only)
        cfg = EvalConfig(supervised=SupervisedConfig(year=_vot_year(args.vot_year, root), init_box=args.init_box))
        if args.score_only:
            factory, info = None, {"label": args.name or "results", "identity": {"score_only": True}}
        else:
            factory, info = _tracker(args)
        report = evaluate(request, factory, info, cfg)
    except (DatasetError, ResultsError, CheckpointError, ValueError, TypeError) as exc:
        return _fail("dasiamrpn-eval", exc)
    overall = report["overall"]
    parts = [f"{k}={overall[k]:.3f}" for k in ("success_auc", "precision_20", "norm_precision", "fps")
             if overall.get(k) is not None]
    if "vot" in overall:
        v = overall["vot"]
        parts += [f"vot_accuracy={v['accuracy']:.3f}", f"failures={v['failures']}",
                  f"eao={v['eao']:.3f}" if v["eao"] is not None else "eao=n/a (sequences shorter than the interval)"]
    if "longterm" in overall and overall["longterm"].get("f_score") is not None:
        parts.append(f"lt_f_score={overall['longterm']['f_score']:.3f}")
    print(f"{args.out / 'report.json'}: " + " ".join(parts))
    return 0


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dasiamrpn-report",
        description="Compare finished dasiamrpn-eval runs: writes DIR/comparison.md, DIR/comparison.json "
                    "and success/precision plots with one curve per run.")
    p.add_argument("runs", nargs="+", type=Path, help="output folders of dasiamrpn-eval (with report.json)")
    p.add_argument("--out", type=Path, required=True, help="folder for the comparison")
    p.add_argument("--labels", help="comma list of legend labels, one per run (default: the run names)")
    return p


def report_main(argv: list[str] | None = None) -> int:
    from .plots import plot_runs
    from .report import comparison_markdown, load_report
    from .results_io import write_text_atomic
    args = report_parser().parse_args(argv)
    try:
        reports = [load_report(r) for r in args.runs]
        labels = [r["run"].get("name") or str(path) for r, path in zip(reports, args.runs)]
        if args.labels:
            labels = [s.strip() for s in args.labels.split(",")]
            if len(labels) != len(reports):
                raise ValueError(f"--labels has {len(labels)} names for {len(reports)} runs")
        seen: dict[str, int] = {}
        for i, label in enumerate(labels):  # keep legend entries distinct
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                labels[i] = f"{label} ({args.runs[i]})"
        args.out.mkdir(parents=True, exist_ok=True)
        pairs = list(zip(labels, reports))
        write_text_atomic(args.out / "comparison.md", comparison_markdown(pairs))
        compact = {label: {k: v for k, v in r["overall"].items() if not k.endswith("curve")}
                   for label, r in pairs}
        write_text_atomic(args.out / "comparison.json", json.dumps(compact, indent=1, default=str) + "\n")
        written = plot_runs([(label, r["overall"]) for label, r in pairs], args.out)
    except (ResultsError, ValueError) as exc:
        return _fail("dasiamrpn-report", exc)
    print(f"wrote {args.out / 'comparison.md'}" + "".join(f", {p.name}" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(eval_main())

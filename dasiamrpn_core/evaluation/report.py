"""``report.json`` and the Markdown summaries (one run, or a comparison of several)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from collections.abc import Callable

from .errors import ResultsError
from .results_io import write_text_atomic

SCHEMA = "dasiamrpn_core/evaluation/report/v1"
REPORT_FILE = "report.json"
SUMMARY_FILE = "summary.md"
HEADLINE = (("success_auc", "Success AUC"), ("precision_20", "Precision@20px"),
            ("norm_precision", "Norm. precision"), ("fps", "FPS"))


def write_report(out: Path, report: dict) -> Path:
    path = out / REPORT_FILE
    write_text_atomic(path, json.dumps(report, indent=1, allow_nan=False, default=_jsonable) + "\n")
    return path


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def load_report(folder: Path) -> dict:
    path = folder / REPORT_FILE if folder.is_dir() else folder
    if not path.is_file():
        raise ResultsError(f"no {REPORT_FILE} in {folder} (run dasiamrpn-eval with --out {folder} first)")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if report.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: schema {report.get('schema')!r}, expected {SCHEMA!r}")
    return report


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


Column = tuple[str, str, Callable[[dict], object]]  # header, key, getter


def _metric_columns(overall_list: list[dict]) -> list[Column]:
    cols: list[Column] = [(label, key, lambda o, k=key: o.get(k)) for key, label in HEADLINE]
    if any("vot" in o for o in overall_list):
        cols += [("VOT accuracy", "a", lambda o: o.get("vot", {}).get("accuracy")),
                 ("VOT robustness", "r", lambda o: o.get("vot", {}).get("robustness")),
                 ("VOT failures", "f", lambda o: o.get("vot", {}).get("failures")),
                 ("EAO", "e", lambda o: o.get("vot", {}).get("eao"))]
    if any("longterm" in o for o in overall_list):
        cols += [("LT precision", "p", lambda o: o.get("longterm", {}).get("precision")),
                 ("LT recall", "r2", lambda o: o.get("longterm", {}).get("recall")),
                 ("LT F-score", "f2", lambda o: o.get("longterm", {}).get("f_score"))]
    return cols


def summary_markdown(report: dict) -> str:
    run, overall = report["run"], report["overall"]
    lines = [f"# Evaluation: {run.get('name')}", "",
             f"dataset `{run['dataset']}` ({overall['sequences']} sequences, {overall['frames']} frames), "
             f"protocols {', '.join(run['protocols'])}, tracker `{run['tracker'].get('label')}`"
             + (f", first {run['max_frames']} frames per sequence" if run.get("max_frames") else ""), ""]
    cols = _metric_columns([overall])
    lines += ["## Overall", ""] + _table([c[0] for c in cols], [[fmt(c[2](overall)) for c in cols]]) + [""]
    if report.get("attributes"):
        lines += ["## Per attribute (OPE)", ""]
        rows = [[name, str(a["sequences"]), fmt(a["success_auc"]), fmt(a["precision_20"]),
                 fmt(a["norm_precision"])] for name, a in report["attributes"].items()]
        lines += _table(["attribute", "sequences", "Success AUC", "Precision@20px", "Norm. precision"], rows) + [""]
    lines += ["## Per sequence", ""]
    seq_rows = [[name, str(s["frames"])] + [fmt(c[2](s)) for c in cols] for name, s in report["sequences"].items()]
    lines += _table(["sequence", "frames"] + [c[0] for c in cols], seq_rows) + [""]
    return "\n".join(lines)


def comparison_markdown(reports: list[tuple[str, dict]]) -> str:
    overall = [r["overall"] for _, r in reports]
    cols = _metric_columns(overall)
    lines = ["# Comparison", ""]
    datasets = {(r["run"]["dataset"], r["overall"]["sequences"], r["overall"]["frames"]) for _, r in reports}
    if len(datasets) > 1:
        lines += ["**Note:** the runs cover different datasets or sequence sets; overall numbers are not "
                  "directly comparable.", ""]
    rows = [[label, r["run"]["dataset"], str(r["overall"]["sequences"])] + [fmt(c[2](r["overall"])) for c in cols]
            for label, r in reports]
    lines += _table(["run", "dataset", "sequences"] + [c[0] for c in cols], rows) + [""]
    common = [n for n in reports[0][1]["sequences"] if all(n in r["sequences"] for _, r in reports[1:])]
    if common and any(reports[0][1]["sequences"][n].get("success_auc") is not None for n in common):
        lines += ["## Success AUC per sequence", ""]
        rows = [[n] + [fmt(r["sequences"][n].get("success_auc")) for _, r in reports] for n in common]
        lines += _table(["sequence"] + [label for label, _ in reports], rows) + [""]
    return "\n".join(lines)

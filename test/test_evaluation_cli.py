"""dasiamrpn-eval / dasiamrpn-report end to end on the shared sequences: output files, report
schema, resuming, deterministic --workers, errors; and the real tracker through the console script."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_shared
from dasiamrpn_core.evaluation import load_dataset
from dasiamrpn_core.evaluation.cli import eval_main, report_main

SEQS = "Crossing,bag"
FRAMES = 30


def run_eval(out: Path, *extra: str) -> int:
    root = require_shared("data", "sequences")
    return eval_main(["--dataset", "simple", "--root", str(root), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def identity_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "identity"
    assert run_eval(out, "--baseline", "identity", "--sequences", SEQS, "--max-frames", str(FRAMES),
                    "--protocol", "ope,supervised,longterm") == 0
    return out


def test_outputs_and_report_schema(identity_run):
    out = identity_run
    for name in ("report.json", "summary.md", "success_plot.png", "precision_plot.png", "run.json"):
        assert (out / name).is_file(), name
    boxes = np.loadtxt(out / "results" / "Crossing.txt", delimiter=",")
    assert boxes.shape == (FRAMES, 4) and np.allclose(boxes, boxes[0])  # identity: the first box
    assert (out / "results" / "times" / "Crossing_time.txt").is_file()
    baseline = (out / "results" / "baseline" / "bag" / "bag_001.txt").read_text().split()
    assert baseline[0] == "1" and len(baseline) == FRAMES and set(baseline) & {"2"}  # the bag moves away
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "dasiamrpn_core/evaluation/report/v1"
    overall = report["overall"]
    for key in ("success_auc", "precision_20", "norm_precision", "fps", "success_curve"):
        assert overall[key] is not None, key
    assert len(overall["success_curve"]) == 21 and len(overall["precision_curve"]) == 51
    assert set(overall["vot"]) >= {"accuracy", "robustness", "failures", "eao", "eao_curve"}
    assert set(overall["longterm"]) >= {"precision", "recall", "f_score"}
    seq = report["sequences"]["Crossing"]
    assert seq["frames"] == FRAMES and {"success_auc", "precision_20", "norm_precision", "fps"} <= set(seq)
    assert "vot" in seq and "longterm" in seq
    assert "small_target" in report["attributes"]
    assert "| Crossing |" in (out / "summary.md").read_text()


def test_report_matches_got10k_on_the_written_files(identity_run):
    from got10k.experiments.otb import ExperimentOTB
    from got10k.utils.metrics import center_error, rect_iou
    exp = ExperimentOTB.__new__(ExperimentOTB)
    exp.nbins_iou, exp.nbins_ce = 21, 51
    report = json.loads((identity_run / "report.json").read_text())
    seqs = load_dataset("simple", require_shared("data", "sequences"), sequences=SEQS.split(","))
    curves = []
    for seq in seqs:
        boxes = np.loadtxt(identity_run / "results" / f"{seq.name}.txt", delimiter=",")
        gt = seq.boxes[:FRAMES]
        succ, prec = exp._calc_curves(rect_iou(boxes.copy(), gt.copy()), center_error(boxes.copy(), gt.copy()))
        assert abs(report["sequences"][seq.name]["success_auc"] - succ.mean()) < 1e-6
        assert abs(report["sequences"][seq.name]["precision_20"] - prec[20]) < 1e-6
        curves.append(succ)
    assert abs(report["overall"]["success_auc"] - np.mean(curves)) < 1e-6


def test_resume_reruns_only_missing_sequences_and_checks_settings(identity_run, tmp_path):
    out = tmp_path / "resume"
    shutil.copytree(identity_run, out)
    (out / "results" / "bag.txt").unlink()
    before = (out / "results" / "Crossing.txt").stat().st_mtime_ns
    assert run_eval(out, "--baseline", "identity", "--sequences", SEQS, "--max-frames", str(FRAMES),
                    "--protocol", "ope,supervised,longterm") == 0
    assert (out / "results" / "bag.txt").is_file()
    assert (out / "results" / "Crossing.txt").stat().st_mtime_ns == before
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["sequences_run"] == 1
    original = json.loads((identity_run / "report.json").read_text())
    assert report["overall"]["success_auc"] == original["overall"]["success_auc"]
    # other settings than the recorded ones: refused, naming the setting
    assert run_eval(out, "--baseline", "identity", "--sequences", SEQS, "--max-frames", "20") == 2


def test_workers_give_identical_results(identity_run, tmp_path):
    out = tmp_path / "workers"
    assert run_eval(out, "--baseline", "identity", "--sequences", SEQS, "--max-frames", str(FRAMES),
                    "--protocol", "ope,supervised,longterm", "--workers", "2") == 0
    for rel in ("Crossing.txt", "bag.txt", "baseline/bag/bag_001.txt", "scores/bag_score.txt"):
        assert (out / "results" / rel).read_text() == (identity_run / "results" / rel).read_text(), rel


def test_report_compares_runs(identity_run, tmp_path):
    other = tmp_path / "other"
    assert run_eval(other, "--baseline", "identity", "--sequences", "Crossing", "--max-frames", "10",
                    "--name", "short") == 0
    cmp_dir = tmp_path / "cmp"
    assert report_main([str(identity_run), str(other), "--out", str(cmp_dir)]) == 0
    text = (cmp_dir / "comparison.md").read_text()
    assert "| identity |" in text and "| short |" in text and "different datasets or sequence sets" in text
    assert (cmp_dir / "success_plot.png").stat().st_size > 1000
    assert set(json.loads((cmp_dir / "comparison.json").read_text())) == {"identity", "short"}
    assert report_main([str(tmp_path / "missing"), "--out", str(cmp_dir)]) == 2


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert run_eval(tmp_path / "x", "--baseline", "identity", "--sequences", "nope") == 2
    assert "sequences not found" in capsys.readouterr().err
    assert eval_main(["--dataset", "otb", "--out", str(tmp_path / "y"), "--baseline", "identity"]) == 2
    assert "--root is required" in capsys.readouterr().err


def test_real_tracker_through_the_console_script(official_weights, tmp_path):
    """The installed dasiamrpn-eval with official-format weights that follow the target."""
    root = require_shared("data", "sequences")
    weights = official_weights("vot")
    script = Path(sys.executable).with_name("dasiamrpn-eval")
    cmd = [str(script) if script.exists() else "dasiamrpn-eval", "--dataset", "simple", "--root", str(root),
           "--checkpoint", str(weights), "--mode", "siamrpn", "--device", "cpu", "--sequences", "bag",
           "--max-frames", "12", "--protocol", "ope,longterm", "--out", str(tmp_path / "real"), "--no-plots"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "success_auc=" in done.stdout
    report = json.loads((tmp_path / "real" / "report.json").read_text())
    bag = report["sequences"]["bag"]
    assert bag["success_auc"] > 0.5 and bag["fps"] > 0  # these weights follow the bag
    assert report["run"]["tracker"]["identity"]["mode"] == "siamrpn"
    assert len((tmp_path / "real" / "results" / "bag.txt").read_text().splitlines()) == 12


def test_score_only_scores_existing_files_without_a_tracker(identity_run, tmp_path, capsys):
    out = tmp_path / "external"
    (out / "results").mkdir(parents=True)
    for name in SEQS.split(","):
        shutil.copy(identity_run / "results" / f"{name}.txt", out / "results" / f"{name}.txt")
    assert run_eval(out, "--score-only", "--sequences", SEQS, "--max-frames", str(FRAMES), "--name", "ext") == 0
    report = json.loads((out / "report.json").read_text())
    original = json.loads((identity_run / "report.json").read_text())
    assert report["overall"]["success_auc"] == original["overall"]["success_auc"]
    assert report["overall"]["fps"] is None  # no timing files: no speed claimed
    assert run_eval(out, "--score-only", "--sequences", "Girl", "--max-frames", str(FRAMES)) == 2
    assert "have no result files" in capsys.readouterr().err


def _tiny_frames(folder: Path, n: int) -> None:
    import cv2
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), np.full((40, 60, 3), 100, np.uint8))


def test_native_layouts_for_vot_lt_and_got10k_test(tmp_path):
    lt = tmp_path / "vot2019lt"
    _tiny_frames(lt / "car" / "color", 12)
    rows = ["10,10,8,8"] * 12
    rows[5:8] = ["nan,nan,nan,nan"] * 3
    (lt / "car" / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    out = tmp_path / "lt_out"
    assert eval_main(["--dataset", "vot-lt", "--root", str(lt), "--out", str(out), "--baseline", "identity",
                      "--quiet", "--no-plots"]) == 0
    native = out / "results" / "longterm" / "car"
    assert (native / "car_001.txt").read_text().splitlines()[0] == "1"
    assert len((native / "car_001_confidence.value").read_text().split()) == 12
    report = json.loads((out / "report.json").read_text())
    lt_scores = report["overall"]["longterm"]
    assert lt_scores["recall"] == pytest.approx(1.0) and lt_scores["precision"] == pytest.approx(8 / 11)
    assert report["sequences"]["car"]["evaluated_frames"] == 9

    got = tmp_path / "got10k" / "test" / "GOT-10k_Test_000001"
    _tiny_frames(got, 5)
    (got / "groundtruth.txt").write_text("10,10,8,8\n")
    out = tmp_path / "got_out"
    assert eval_main(["--dataset", "got10k", "--root", str(tmp_path / "got10k"), "--split", "test", "--out",
                      str(out), "--baseline", "identity", "--quiet", "--no-plots"]) == 0
    server = out / "results" / "got10k" / "GOT-10k_Test_000001"
    assert len((server / "GOT-10k_Test_000001_001.txt").read_text().splitlines()) == 5
    assert (server / "GOT-10k_Test_000001_time.txt").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["overall"]["success_auc"] is None and report["sequences"]["GOT-10k_Test_000001"]["fps"] > 0

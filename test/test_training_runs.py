"""Real training runs in subprocesses: smoke config, SIGKILL + resume, 2-process gloo torchrun,
non-finite loss, export formats."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dasiamrpn_core import load_tracker
from dasiamrpn_core.checkpoint import load_checkpoint
from dasiamrpn_core.models import ARCHITECTURES, SiamRPN
from dasiamrpn_training.config import ExportConfig
from dasiamrpn_training.export import export_weights
from dasiamrpn_training.synthetic import write_sequence_layout

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DASIAMRPN_SHARED", REPO.parent / "shared"))
PY = sys.executable
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return env


def _tiny_config(tmp: Path, **extra: str) -> Path:
    data = write_sequence_layout(tmp / "data", sequences=3, frames=6)
    lines = [
        "arch: SiamRPNcompact", "init: tied", "seed: 3",
        f"datasets: [{{kind: sequences, root: {data}, max_frame_gap: 4}}]",
        "sampling: {search_size: 191}", "batch_size: 2", "threads: 1", "num_workers: 0", "log_every: 1",
        "optim: {lr: 0.002, final_lr: 0.001, warmup_steps: 2, warmup_start_lr: 0.001}",
        "checkpoint: {every_steps: 2, keep_last: 2}",
        f"validation: {{max_sequences: 1, max_frames: 4, datasets: [{{kind: sequences, root: {data}, "
        f"include: [synthetic00]}}]}}",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path = tmp / "tiny.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(args: list[str], timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "dasiamrpn_training.cli", *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_smoke_config_20_steps(tmp_path):
    if not (SHARED / "data" / "sequences").is_dir():
        pytest.skip(f"shared data not found at {SHARED / 'data' / 'sequences'} (set DASIAMRPN_SHARED)")
    out = tmp_path / "run"
    res = _train(["--config", str(REPO / "training/configs/smoke.yaml"), "--output", str(out),
                  "--max-steps", "20"])
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["step"] == 20
    steps = sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("step_*.pt"))
    assert steps[-1] == 20 and len(steps) == 2  # every 5 steps, keep-last 2
    assert (out / "metrics.csv").read_text().count("\n") >= 5
    assert any((out / "tensorboard").iterdir())
    tracker = load_tracker(out / "weights" / "SiamRPNcompact.pth", device="cpu")
    assert tracker.net.spec.name == "SiamRPNcompact"
    meta = load_checkpoint(out / "weights" / "SiamRPNcompact.pth").metadata
    assert meta["step"] == 20 and meta["config"]["arch"] == "SiamRPNcompact" and meta["git_commit"]
    # the validation ran on real frames: a finite AUC in (0, 1] (0 or NaN would mean it tracked nothing)
    assert 0 < meta["validation"]["mean_auc"] <= 1


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path):
    cfg = _tiny_config(tmp_path)
    out = tmp_path / "run"
    proc = subprocess.Popen([PY, "-m", "dasiamrpn_training.cli", "--config", str(cfg), "--output", str(out),
                             "--max-steps", "12"], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    ckpts = out / "checkpoints"
    while time.time() < deadline and not list(ckpts.glob("step_0000000[4-9].pt")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = max(int(p.stem.split("_")[1]) for p in ckpts.glob("step_*.pt"))
    assert killed_at < 12
    res = _train(["--config", str(cfg), "--output", str(out), "--max-steps", "12", "--resume"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed from" in res.stderr and json.loads(res.stdout[res.stdout.index("{"):])["step"] == 12
    state = torch.load(ckpts / "step_00000012.pt", weights_only=True)
    assert state["step"] == 12 and state["pairs"] == 24 and state["schedule"]["step_count"] == 12
    assert len(list(ckpts.glob("step_*.pt"))) == 2  # keep-last-K
    assert (out / "weights" / "SiamRPNcompact.pth").is_file()
    # exactly the run that was never interrupted: the same model, optimizer, schedule and RNG states
    clean = tmp_path / "uninterrupted"
    res = _train(["--config", str(cfg), "--output", str(clean), "--max-steps", "12"])
    assert res.returncode == 0, res.stderr[-3000:]
    reference = torch.load(clean / "checkpoints" / "step_00000012.pt", weights_only=True)
    assert state.keys() == reference.keys()
    for key in ("model", "optimizer", "schedule", "scaler", "rng", "step", "pairs", "validation"):
        _assert_same(state[key], reference[key], key)


def _final_model(output: Path) -> dict:
    """The model state of a run's last checkpoint (what a resume would continue from)."""
    last = sorted((output / "checkpoints").glob("step_*.pt"))[-1]
    return torch.load(last, weights_only=True)["model"]


def _assert_same(a, b, where: str) -> None:
    """Nested dicts/lists of tensors and plain values, equal bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and where.startswith("validation") and where.endswith("seconds"):
        pass   # wall time of a validation
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_two_process_gloo_torchrun(tmp_path):
    cfg = _tiny_config(tmp_path)
    out = tmp_path / "ddp"
    res = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "dasiamrpn_training.cli",
                          "--config", str(cfg), "--output", str(out), "--max-steps", "3", "--set", "validation.datasets=[]"],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    r0 = json.loads((out / "ranks" / "rank0.json").read_text())
    r1 = json.loads((out / "ranks" / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 3
    assert r0["param_sha256"] == r1["param_sha256"], "ranks must end with identical parameters"
    i0, i1 = set(r0["indices"]), set(r1["indices"])
    assert not (i0 & i1), "each pair is seen by one rank only"
    assert i0 | i1 == set(range(3 * 2 * 2)) and len(i0) == len(i1) == 6
    assert (out / "weights" / "SiamRPNcompact.pth").is_file()
    assert not (out / "ranks" / "rank1.csv").exists()


@pytest.mark.timeout(120)
def test_non_finite_loss_stops_naming_the_step(tmp_path):
    cfg = _tiny_config(tmp_path)
    out = tmp_path / "nan"
    res = _train(["--config", str(cfg), "--output", str(out), "--max-steps", "30", "--set", "optim.lr=1e30",
                  "optim.warmup_start_lr=1e30", "optim.grad_clip=0", "optim.final_lr=1e30"])
    assert res.returncode == 2
    assert "non-finite loss" in res.stderr and "at step" in res.stderr and "Last good checkpoint" in res.stderr


def test_bad_dataset_root_is_a_clear_cli_error(tmp_path):
    cfg = _tiny_config(tmp_path)
    res = _train(["--config", str(cfg), "--output", str(tmp_path / "x"), "--max-steps", "1", "--set",
                  f"datasets=[{{kind: got10k, root: {tmp_path / 'missing'}}}]"], timeout=60)
    assert res.returncode == 2 and "root directory not found" in res.stderr


def test_export_writes_project_and_official_formats(tmp_path):
    torch.manual_seed(0)
    net = SiamRPN(ARCHITECTURES["SiamRPNvot"])
    written = export_weights(net, ExportConfig(), tmp_path, {"step": 7})
    project = load_checkpoint(written["project"])
    official = load_checkpoint(written["official"])
    assert project.kind == "project" and project.metadata["step"] == 7
    assert official.kind == "official" and official.net.spec.name in ("SiamRPNvot", "SiamRPNotb")
    for path in written.values():
        load_tracker(path, device="cpu")
    compact = export_weights(SiamRPN(ARCHITECTURES["SiamRPNcompact"]), ExportConfig(), tmp_path / "c", {})
    assert set(compact) == {"project"}  # no original format for the compact variant


@pytest.mark.timeout(120)
def test_frozen_layers_stay_fixed_when_fine_tuning_a_checkpoint(tmp_path):
    from dasiamrpn_core.checkpoint import save_checkpoint
    from dasiamrpn_core.config import PRESETS
    from dasiamrpn_training.config import load_config
    from dasiamrpn_training.trainer import Trainer

    torch.manual_seed(0)
    start = SiamRPN(ARCHITECTURES["SiamRPNcompact"])
    init = save_checkpoint(tmp_path / "init.pth", start, PRESETS["vot"], {})
    cfg = load_config(_tiny_config(tmp_path), [f"init={init}", "optim.frozen_backbone_convs=2",
                                               "validation.datasets=[]", "optim.weight_decay=0.01"])
    Trainer(cfg, tmp_path / "ft", max_steps=2).run()
    before, after = start.state_dict(), _final_model(tmp_path / "ft")
    for key in ("featureExtract.0.weight", "featureExtract.1.weight", "featureExtract.4.weight",
                "featureExtract.5.running_mean"):
        assert torch.equal(before[key], after[key]), f"{key} must stay frozen"
    assert not torch.equal(before["featureExtract.8.weight"], after["featureExtract.8.weight"])


@pytest.mark.timeout(150)
def test_lite_net_trains_from_imagenet_with_a_frozen_trunk_and_exports_a_tracker(tmp_path):
    """The EfficientNet-Lite0 net: ImageNet trunk loaded and kept frozen (but its last block when
    asked), neck/head trained, the exported file a complete stride-16 tracker."""
    from dasiamrpn_core.efficientnet import EfficientNetLite, load_imagenet
    from dasiamrpn_training.config import load_config
    from dasiamrpn_training.trainer import Trainer

    cfg = load_config(_tiny_config(tmp_path), [
        "arch=SiamRPNLite0", "init=imagenet", "targets.anchors.total_stride=16", "targets.anchors.scales=[4.0]",
        "export.tracking.overrides={instance_size: 255}", "optim.trainable_backbone_blocks=1",
        "optim.backbone_lr_factor=0.1", "validation.datasets=[]", "export.name=lite"])
    result = Trainer(cfg, tmp_path / "lite", max_steps=2).run()
    # the optimiser holds the trained parameters only: the neck and head at the schedule's rate, the one
    # trainable trunk block (5 tensors per BN pair + convs of an MBConv block) at a tenth of it
    last = sorted((tmp_path / "lite" / "checkpoints").glob("step_*.pt"))[-1]
    groups = torch.load(last, weights_only=True)["optimizer"]["param_groups"]
    assert [g["lr_factor"] for g in groups] == [1.0, 0.1]
    assert math.isclose(groups[1]["lr"], 0.1 * groups[0]["lr"]) and groups[0]["lr"] > 0
    assert len(groups[1]["params"]) == len([p for p in EfficientNetLite(11).blocks[10].parameters()])
    imagenet = load_imagenet(EfficientNetLite(11)).state_dict()
    after = _final_model(tmp_path / "lite")
    for key in ("backbone.stem.weight", "backbone.blocks.9.project.weight", "backbone.blocks.9.project_bn.running_var"):
        assert torch.equal(after[key], imagenet[key.removeprefix("backbone.")]), f"{key} must stay frozen"
    assert not torch.equal(after["backbone.blocks.10.project.weight"], imagenet["blocks.10.project.weight"])
    tracker = load_tracker(result["exported"]["project"], device="cpu", mode="dasiamrpn")
    assert tracker.net.spec.name == "SiamRPNLite0" and tracker.params.anchors.total_stride == 16
    assert tracker.params.instance_size == 255


def test_lite_config_with_stride_8_anchors_is_an_error(tmp_path):
    from dasiamrpn_training.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="total_stride is 8 but SiamRPNLite0 has stride 16"):
        load_config(_tiny_config(tmp_path), ["arch=SiamRPNLite0", "init=imagenet"])


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_lite_net_two_process_gloo_torchrun(tmp_path):
    """DDP with the frozen ImageNet trunk: only the trainable parameters are registered (frozen ones
    do not require gradients), the ranks end identical and the trunk is still ImageNet's."""
    cfg = _tiny_config(tmp_path)
    out = tmp_path / "ddp_lite"
    res = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "dasiamrpn_training.cli",
                          "--config", str(cfg), "--output", str(out), "--max-steps", "2", "--set", "validation.datasets=[]",
                          "arch=SiamRPNLite0", "init=imagenet", "targets.anchors.total_stride=16",
                          "targets.anchors.scales=[4.0]", "export.name=lite"],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    r0 = json.loads((out / "ranks" / "rank0.json").read_text())
    r1 = json.loads((out / "ranks" / "rank1.json").read_text())
    assert r0["step"] == r1["step"] == 2 and r0["param_sha256"] == r1["param_sha256"]
    from dasiamrpn_core.efficientnet import EfficientNetLite, load_imagenet
    trained = load_checkpoint(out / "weights" / "lite.pth").net.state_dict()
    imagenet = load_imagenet(EfficientNetLite(11)).state_dict()
    torch.testing.assert_close(trained["backbone.blocks.10.project.weight"],
                               imagenet["blocks.10.project.weight"], rtol=0, atol=0)


def test_heldout_comparison_pairs_checkpoints_per_sequence(tmp_path):
    """dasiamrpn-bench-heldout: two checkpoints on a config's held-out sequences, the paired difference
    with its bootstrap interval; a checkpoint against itself differs by exactly 0, within noise."""
    from dasiamrpn_benchmarks.heldout import paired_difference
    cfg = _tiny_config(tmp_path)
    model = REPO / "dasiamrpn_core" / "weights" / "siamrpn_compact.pth"
    out = subprocess.run([PY, "-m", "dasiamrpn_benchmarks.heldout", str(model), str(model), "--config", str(cfg),
                          "--cache", str(tmp_path / "cache"), "--mode", "siamrpn", "--json", str(tmp_path / "h.json")],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "+0.0000, 95% bootstrap CI [+0.0000, +0.0000] (within noise); better on 0, worse on 0 of 1" in out.stdout
    assert f"{model} - {model} [sequences]: +0.0000" in out.stdout        # per source as well as overall
    report = json.loads((tmp_path / "h.json").read_text())
    assert set(report["differences"][str(model)]) == {"all", "sequences"}
    assert report["source_of"] == {"synthetic00": "sequences"}
    per = report["per_sequence"][str(model)]
    assert list(per) == ["synthetic00"] and 0 < per["synthetic00"] <= 1
    diff = paired_difference({"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 0.6, "b": 0.7, "c": 0.8, "d": 0.1})
    assert diff["sequences"] == 3 and abs(diff["mean"] - 0.1) < 1e-9 and diff["better"] == 3
    assert 0.1 - 1e-9 <= diff["ci"][0] <= diff["ci"][1] <= 0.1 + 1e-9
    bad = subprocess.run([PY, "-m", "dasiamrpn_benchmarks.heldout", str(tmp_path / "none.pth"), "--config", str(cfg)],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "none.pth" in bad.stderr

"""Training building blocks: config loading, anchor targets, loss layout, schedule, augmentation."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dasiamrpn_core.anchors import generate_anchors
from dasiamrpn_training.config import ConfigError, TrainConfig, load_config
from dasiamrpn_training.config import OptimConfig, TargetConfig
from dasiamrpn_training.loss import flatten_outputs, siamrpn_loss
from dasiamrpn_training.config import LossConfig
from dasiamrpn_training.schedule import learning_rate
from dasiamrpn_training.targets import AnchorTargetBuilder

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def test_every_shipped_config_loads():
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    assert names == ["bundled.yaml", "dasiamrpn_full.yaml", "lite.yaml", "lite2_paste.yaml", "lite_ft.yaml", "lite_paste.yaml",
                     "lite_real.yaml",
                     "smoke.yaml"]
    for name in names:
        cfg = load_config(CONFIGS / name)
        assert isinstance(cfg, TrainConfig)
        assert cfg.datasets, "every shipped config names its data"
        stride = cfg.targets.anchors.total_stride
        assert cfg.score_size == (cfg.sampling.search_size - 127) // stride + 1
    # one recipe writes each bundled file
    copies = [load_config(CONFIGS / n).export.copy_to for n in names]
    assert sorted(Path(c).name for c in copies if c) == ["siamrpn_compact.pth", "siamrpn_lite0.pth"]


def test_unknown_key_and_bad_values_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch: SiamRPNcompact\noptim: {lr: 0.01, learning_rat: 3}\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_config(bad)
    bad.write_text("arch: NoSuchNet\n")
    with pytest.raises(ConfigError, match="NoSuchNet"):
        load_config(bad)
    bad.write_text("datasets: [{kind: flickr}]\n")
    with pytest.raises(ConfigError, match="flickr"):
        load_config(bad)
    bad.write_text("sampling: {search_size: 250}\n")
    with pytest.raises(ValueError, match="multiple of the stride"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_are_typed(tmp_path):
    cfg = load_config(CONFIGS / "smoke.yaml", ["optim.lr=0.5", "batch_size=3", "augment.flip_prob=0"])
    assert cfg.optim.lr == 0.5 and cfg.batch_size == 3 and cfg.augment.flip_prob == 0.0
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(CONFIGS / "smoke.yaml", ["batch_size=many"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(CONFIGS / "smoke.yaml", ["batch_size"])


def test_anchor_targets_follow_siamrpn_rules():
    cfg = TargetConfig()
    builder = AnchorTargetBuilder(cfg, 255)
    rng = np.random.default_rng(0)
    box = np.array([127.5 - 40, 127.5 - 30, 80, 60], np.float32)  # centred 80x60 target
    tg = builder(box, rng)
    pos, neg = tg.labels == 1, tg.labels == 0
    assert 0 < pos.sum() <= cfg.max_positives
    assert pos.sum() + neg.sum() == cfg.total_samples
    ious = builder.ious(box)
    assert (ious[pos] >= cfg.positive_iou).all() and (ious[neg] < cfg.negative_iou).all()
    assert np.isclose(tg.weights.sum(), 1.0)
    # decoding the regression targets of the positives as the tracker does gives the box back
    a = generate_anchors(cfg.anchors, builder.score_size)[pos]
    d = tg.deltas[pos]
    cx, cy = d[:, 0] * a[:, 2] + a[:, 0], d[:, 1] * a[:, 3] + a[:, 1]
    w, h = np.exp(d[:, 2]) * a[:, 2], np.exp(d[:, 3]) * a[:, 3]
    np.testing.assert_allclose(cx, 0.0, atol=1e-3)  # box centre is the crop centre
    np.testing.assert_allclose(cy, 0.0, atol=1e-3)
    np.testing.assert_allclose(w, 80, rtol=1e-4)
    np.testing.assert_allclose(h, 60, rtol=1e-4)


def test_negative_pairs_label_only_negatives_including_the_distractor():
    builder = AnchorTargetBuilder(TargetConfig(), 255)
    distractor = np.array([100, 90, 55, 70], np.float32)
    tg = builder(None, np.random.default_rng(1), hard_negative_box=distractor)
    assert (tg.labels != 1).all() and (tg.labels == 0).sum() > 0
    hard = builder.ious(distractor) >= 0.6
    assert (tg.labels[hard] == 0).all(), "anchors on the look-alike are negatives"
    assert tg.weights.sum() == 0


def test_loss_layout_matches_anchor_order():
    """Foreground logit channel A + a at (row, col) is anchor a*S*S + row*S + col."""
    a_num, s = 5, 17
    logits = torch.zeros(1, 2 * a_num, s, s)
    logits[0, a_num + 3, 4, 7] = 10.0
    _, flat = flatten_outputs(torch.zeros(1, 4 * a_num, s, s), logits, a_num)
    assert int(flat[0, :, 1].argmax()) == 3 * s * s + 4 * s + 7
    labels = torch.full((1, a_num * s * s), -1)
    labels[0, 3 * s * s + 4 * s + 7] = 1
    labels[0, 0] = 0
    parts = siamrpn_loss(torch.zeros(1, 4 * a_num, s, s), logits, labels, torch.zeros(1, a_num * s * s, 4),
                         torch.zeros(1, a_num * s * s), a_num, LossConfig())
    assert parts.cls.item() < 0.5 and parts.accuracy.item() == 1.0


def test_schedule_warms_up_then_decays_log_linearly():
    cfg = OptimConfig(lr=0.01, final_lr=0.0001, warmup_steps=10, warmup_start_lr=0.001)
    assert math.isclose(learning_rate(0, cfg, 110), 0.001)
    assert math.isclose(learning_rate(10, cfg, 110), 0.01)
    assert math.isclose(learning_rate(60, cfg, 110), 0.001, rel_tol=1e-6)  # half way in log space
    assert math.isclose(learning_rate(110, cfg, 110), 0.0001, rel_tol=1e-6)


def test_schedule_scales_a_groups_rate_by_its_lr_factor():
    from dasiamrpn_training.schedule import Schedule
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr_factor": 0.1}], lr=1.0)
    cfg = OptimConfig(lr=0.01, final_lr=0.0001, warmup_steps=10, warmup_start_lr=0.001)
    sched = Schedule(opt, cfg, 110)
    for _ in range(10):
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 0.01) and math.isclose(opt.param_groups[1]["lr"], 0.001)
    with pytest.raises(ConfigError, match="backbone_lr_factor"):
        OptimConfig(backbone_lr_factor=0.0)


def test_training_curves_read_and_plot_a_metrics_csv(tmp_path):
    from dasiamrpn_training.curves import main, read_metrics
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("step,pairs,lr,loss,cls,reg,acc,pairs_per_s,elapsed_s,val_auc\n"
                        "10,160,0.001,1.5,0.7,0.8,0.5,9.5,18,\n20,320,0.002,1.2,0.6,0.6,0.6,10.0,35,\n"
                        "20,,,,,,,,,0.61\n30,480,0.003,1.0,0.5,0.5,0.7,9.8,52,\n30,,,,,,,,,0.65\n")
    train, val = read_metrics(csv_path)
    assert train["loss"] == [(10, 1.5), (20, 1.2), (30, 1.0)] and train["pairs_per_s"][1] == (20, 10.0)
    assert val == [(20, 0.61), (30, 0.65)]
    assert main([str(tmp_path)]) == 0 and (tmp_path / "curves.png").stat().st_size > 10_000
    assert main([str(tmp_path / "missing")]) == 2


def _draws() -> tuple:
    import random
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), np.random.randn(), random.random(), random.gauss(0, 1)


def test_rng_state_restores_torch_numpy_and_python_exactly(tmp_path):
    """What a resume relies on: every global RNG (including numpy's and Python's cached Gaussians)
    continues exactly where the checkpoint left it, also after a save/load with weights_only."""
    from dasiamrpn_training.checkpoints import rng_state, seed_rng, set_rng_state
    seed_rng(11)
    _draws()
    np.random.randn()                       # leaves a cached Gaussian in numpy's state
    torch.save({"rng": rng_state()}, tmp_path / "s.pt")
    expected = _draws()
    seed_rng(99)
    assert _draws() != expected
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True)["rng"])
    assert _draws() == expected
    seed_rng(11)
    first = _draws()
    seed_rng(11)
    assert _draws() == first                # seeding is deterministic for all three


def test_checkpoint_manager_keeps_the_last_k_and_falls_back_from_a_corrupt_one(tmp_path):
    from dasiamrpn_training.checkpoints import CheckpointManager
    manager = CheckpointManager(tmp_path / "ckpts", keep_last=2)
    assert manager.list() == [] and manager.latest() is None
    for step in (3, 6, 9):
        manager.save({"step": step, "w": torch.full((2,), float(step))}, step)
    assert [s for s, _ in manager.list()] == [6, 9]
    (tmp_path / "ckpts" / "notes.txt").write_text("not a checkpoint")
    (tmp_path / "ckpts" / "step_123.pt").write_text("wrong name pattern")
    assert [s for s, _ in manager.list()] == [6, 9]
    state, path = manager.latest()
    assert state["step"] == 9 and path.name == "step_00000009.pt"
    path.write_bytes(path.read_bytes()[:40])          # a file cut short by a crash
    state, path = manager.latest()
    assert state["step"] == 6 and torch.equal(state["w"], torch.full((2,), 6.0))
    best = manager.mark_best(path)
    assert torch.load(best, weights_only=True)["step"] == 6 and not list(best.parent.glob(".*.tmp"))
    assert CheckpointManager(tmp_path / "k0", keep_last=0).keep_last == 1


def test_rng_states_are_stored_as_exact_integer_tensors_and_seeded_in_full():
    """The numpy/Python generator words go into weights_only checkpoints as int64 tensors (exact), and a
    seed is used whole (numpy takes it modulo 2**32, as numpy itself would reject larger seeds)."""
    import random
    from dasiamrpn_training.checkpoints import rng_state, seed_rng
    state = rng_state()
    assert state["numpy"]["keys"].dtype == torch.int64 and state["python"]["internal"].dtype == torch.int64
    for seed in (11, 2 ** 32 + 5):
        seed_rng(seed)
        assert np.random.rand() == np.random.RandomState(seed % 2 ** 32).rand()
        assert random.random() == random.Random(seed).random()
        assert torch.rand(1).item() == torch.rand(1, generator=torch.Generator().manual_seed(seed)).item()


def test_checkpoint_state_holds_what_a_resume_reads():
    from dasiamrpn_training.checkpoints import checkpoint_state
    from dasiamrpn_training.schedule import Schedule
    net = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    state = checkpoint_state(net, optimizer, Schedule(optimizer, OptimConfig(), 10),
                             torch.amp.GradScaler("cuda", enabled=False), step=3, pairs=6)
    assert set(state) == {"model", "optimizer", "schedule", "scaler", "rng", "step", "pairs"}
    assert torch.equal(state["model"]["weight"], net.weight) and state["optimizer"]["param_groups"][0]["lr"] > 0
    assert set(state["rng"]) >= {"torch", "numpy", "python"} and (state["step"], state["pairs"]) == (3, 6)


class ForeignObject:
    """Not a tensor or plain data: weights_only loading refuses it."""


def test_latest_refuses_a_pickled_object_and_says_which_file(tmp_path, caplog):
    """A checkpoint that is not plain tensors/data (a pickled object) is unreadable under weights_only:
    the previous one is used and the warning names the file and the error."""
    from dasiamrpn_training.checkpoints import CheckpointManager
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save({"step": 1}, 1)
    torch.save({"step": 2, "object": ForeignObject()}, manager.path_for(2))
    with caplog.at_level("WARNING", logger="dasiamrpn_training"):
        state, path = manager.latest()
    assert state["step"] == 1
    (record,) = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert "step_00000002.pt" in record.getMessage() and "Weights only load failed" in record.getMessage()
    assert record.getMessage().startswith("checkpoint ") and record.getMessage().endswith("trying the previous one")


def test_coordinate_search_returns_searched_tracker_values_for_the_file(monkeypatch):
    """SiamRPN parameters go into the returned parameters, distractor/long-term ones into the returned
    tracker values (which a checkpoint stores), starting from the file's own; the AUC function here is a
    known surface of the overrides, so the search's choices are known."""
    from dasiamrpn_core.config import PRESETS
    from dasiamrpn_training import tune
    seen = []

    def fake_evaluate(net, params, tracks, mode, max_frames, **overrides):
        seen.append(dict(overrides))
        auc = -abs(overrides.get("window_influence", params.window_influence) - 0.3)
        auc -= abs(overrides.get("similarity_failure_ratio", 0.0) - 0.7) + abs(overrides["alpha_hat"] - 0.3)
        return {"mean_auc": auc, "per_source": {}, "per_sequence": {}}

    monkeypatch.setattr(tune, "evaluate_tracker", fake_evaluate)
    params, tracker, log = tune.coordinate_search(
        None, PRESETS["vot"], [], {"window_influence": [0.3, 0.44], "similarity_failure_ratio": [0.5, 0.7]},
        "longterm", 10, tracker={"alpha_hat": 0.3})
    assert params.window_influence == 0.3 and params == dataclasses.replace(PRESETS["vot"], window_influence=0.3)
    assert tracker == {"alpha_hat": 0.3, "similarity_failure_ratio": 0.7}
    assert all(o["alpha_hat"] == 0.3 for o in seen) and len(log) == len(seen) == 5


def test_product_search_finds_values_that_only_win_together(monkeypatch):
    """Eq. 3's two weights act together: on this AUC surface raising either alone loses, both together
    win. The coordinate search keeps the file's values; the product search evaluates every
    combination once (the file's own first) and takes the joint optimum into the tracker values."""
    from dasiamrpn_core.config import PRESETS
    from dasiamrpn_training import tune
    seen = []

    def fake_evaluate(net, params, tracks, mode, max_frames, **overrides):
        seen.append(dict(overrides))
        r, a = overrides.get("rerank_weight", 0.25), overrides.get("alpha_hat", 0.5)
        auc = {(0.25, 0.5): 0.70, (1.0, 0.5): 0.69, (0.25, 0.25): 0.68, (1.0, 0.25): 0.74}[(r, a)]
        return {"mean_auc": auc, "per_source": {}, "per_sequence": {}}

    monkeypatch.setattr(tune, "evaluate_tracker", fake_evaluate)
    grid = {"rerank_weight": [0.25, 1.0], "alpha_hat": [0.25, 0.5]}
    start = {"similarity_failure_ratio": 0.7}
    _, tracker, _ = tune.coordinate_search(None, PRESETS["vot"], [], grid, "dasiamrpn", 10, tracker=start)
    assert tracker == start
    seen.clear()
    params, tracker, log = tune.product_search(None, PRESETS["vot"], [], grid, "dasiamrpn", 10, tracker=start)
    assert tracker == {"similarity_failure_ratio": 0.7, "rerank_weight": 1.0, "alpha_hat": 0.25}
    assert params == PRESETS["vot"]
    assert seen[0] == start and len(seen) == len(log) == 4
    assert max(log, key=lambda r: r["mean_auc"])["params"] == {"rerank_weight": 1.0, "alpha_hat": 0.25}

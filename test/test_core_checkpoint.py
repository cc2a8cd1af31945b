"""Checkpoint formats and the errors for bad files."""
from __future__ import annotations

import collections
import copy
import shutil

import pytest
import torch

from dasiamrpn_core import CheckpointError, load_tracker
from dasiamrpn_core.checkpoint import FORMAT, load_checkpoint, round_to_storage, save_checkpoint, save_official
from dasiamrpn_core.config import PRESETS
from dasiamrpn_core.models import ARCHITECTURES, SiamRPN


@pytest.fixture(scope="module")
def compact_state():
    torch.manual_seed(0)
    return SiamRPN(ARCHITECTURES["SiamRPNcompact"]).eval()


def test_official_files_are_recognised_by_shape_and_name(official_weights, tmp_path):
    vot = load_checkpoint(official_weights("vot"))
    assert vot.kind == "official" and vot.net.spec.name == "SiamRPNvot" and vot.preset == "vot"
    assert vot.params == PRESETS["vot"]
    otb_path = tmp_path / "SiamRPNOTB.model"
    shutil.copy(official_weights("vot"), otb_path)          # identical shapes, told apart by name
    assert load_checkpoint(otb_path).preset == "otb"
    assert load_checkpoint(otb_path, preset="vot").params == PRESETS["vot"]
    plain = tmp_path / "weights.model"
    shutil.copy(official_weights("vot"), plain)
    assert load_checkpoint(plain).preset == "vot"
    with pytest.raises(CheckpointError, match="unknown preset"):
        load_checkpoint(plain, preset="lasot")


def test_project_format_round_trip(compact_state, tmp_path):
    path = save_checkpoint(tmp_path / "m.pth", compact_state, PRESETS["otb"], {"step": 7, "data": "x"})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["arch"]["name"] == "SiamRPNcompact"
    loaded = load_checkpoint(path)
    assert loaded.kind == "project" and loaded.metadata["step"] == 7 and loaded.params == PRESETS["otb"]
    for k, v in compact_state.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, loaded.net.state_dict()[k])
    official = save_official(tmp_path / "SiamRPNcompact.model", compact_state)
    assert load_checkpoint(official).net.spec.name == "SiamRPNcompact"
    assert load_tracker(path, device="cpu").params == PRESETS["otb"]


def test_missing_and_non_torch_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pth")
    (tmp_path / "text.pth").write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a"):
        load_checkpoint(tmp_path / "text.pth")


def test_truncated_file(compact_state, tmp_path):
    path = save_checkpoint(tmp_path / "m.pth", compact_state, PRESETS["vot"], {})
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt|not a readable"):
        load_checkpoint(tmp_path / "cut.pth")


class Foreign:  # a pickled custom object must not be unpickled
    pass


def test_foreign_pickles_are_refused(tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"model": Foreign()}, path)
    with pytest.raises(CheckpointError, match="weights_only|refusing"):
        load_checkpoint(path)


def test_unknown_architecture_and_format(tmp_path):
    torch.save({"backbone.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(tmp_path / "other.pth")
    torch.save({"featureExtract.0.weight": torch.zeros(64, 3, 11, 11), "conv_r2.weight": torch.zeros(64, 64, 3, 3)},
               tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(tmp_path / "odd.pth")
    torch.save({"format": "someone-else/v3", "state_dict": {}}, tmp_path / "fmt.pth")
    with pytest.raises(CheckpointError, match="unknown checkpoint format"):
        load_checkpoint(tmp_path / "fmt.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_checkpoint(tmp_path / "list.pth")


def test_mismatched_keys_shapes_and_nan(compact_state, tmp_path):
    state = collections.OrderedDict((k, v.clone()) for k, v in compact_state.state_dict().items()
                                    if not k.endswith("num_batches_tracked"))
    missing = dict(state)
    missing.pop("conv_r1.weight")
    torch.save(missing, tmp_path / "missing.model")
    with pytest.raises(CheckpointError, match="missing \\['conv_r1.weight'\\]"):
        load_checkpoint(tmp_path / "missing.model")
    shaped = dict(state)
    shaped["regress_adjust.weight"] = torch.zeros(20, 20, 3, 3)
    torch.save(shaped, tmp_path / "shape.model")
    with pytest.raises(CheckpointError, match="regress_adjust.weight"):
        load_checkpoint(tmp_path / "shape.model")
    nan = dict(state)
    nan["conv_cls2.bias"] = nan["conv_cls2.bias"].clone()
    nan["conv_cls2.bias"][0] = float("nan")
    torch.save(nan, tmp_path / "nan.model")
    with pytest.raises(CheckpointError, match="NaN/Inf.*conv_cls2.bias"):
        load_checkpoint(tmp_path / "nan.model")


def test_missing_bundled_model_message(tmp_path, monkeypatch):
    import dasiamrpn_core.checkpoint as checkpoint
    monkeypatch.setattr(checkpoint, "DEFAULT_CHECKPOINT", tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="no bundled default model"):
        load_tracker(None)


def test_half_precision_storage_loads_as_float32(compact_state, tmp_path):
    full = save_checkpoint(tmp_path / "f32.pth", compact_state, PRESETS["vot"], {})
    half = save_checkpoint(tmp_path / "f16.pth", compact_state, PRESETS["vot"], {}, storage_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    net = load_checkpoint(half).net
    w = net.state_dict()["conv_r1.weight"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, compact_state.state_dict()["conv_r1.weight"], rtol=1e-3, atol=1e-6)
    # the network tuned before export is exactly the one that loads back from float16 storage
    rounded = round_to_storage(copy.deepcopy(compact_state), "float16").state_dict()
    for key, value in net.state_dict().items():
        assert torch.equal(value, rounded[key]), key
    with pytest.raises(ValueError, match="storage_dtype"):
        round_to_storage(copy.deepcopy(compact_state), "int8")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("kind", ["official", "project", "project_float16", "bundled_lite"])
def test_non_finite_weights_are_refused_in_every_format(compact_state, tmp_path, kind, value):
    """NaN and ±Inf in any floating tensor, in official files and in the project's own (also float16
    storage, and the bundled lite model's BatchNorm statistics): a CheckpointError naming the tensor."""
    from dasiamrpn_core import LITE_CHECKPOINT
    if kind == "bundled_lite":
        loaded = load_checkpoint(LITE_CHECKPOINT)
        net, params, key = copy.deepcopy(loaded.net), loaded.params, "adjust.1.running_var"
    else:
        net, params, key = copy.deepcopy(compact_state), PRESETS["vot"], "conv_r1.weight"
    with torch.no_grad():
        net.state_dict()[key].view(-1)[3] = value
    if kind == "official":
        path = save_official(tmp_path / "poisoned.model", net)
    else:
        path = save_checkpoint(tmp_path / "poisoned.pth", net, params, {},
                               storage_dtype="float16" if kind == "project_float16" else "float32")
    with pytest.raises(CheckpointError, match=f"NaN/Inf values in \\['{key}'\\]"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="NaN/Inf"):
        load_tracker(path, device="cpu")


def test_official_presets_and_explicit_presets_for_project_files(compact_state, tmp_path):
    from pathlib import Path

    from dasiamrpn_core.checkpoint import _official_preset
    assert _official_preset(ARCHITECTURES["SiamRPNBIG"], Path("any.model"), None) == "big"
    assert _official_preset(ARCHITECTURES["SiamRPNvot"], Path("SiamRPNOTB.model"), None) == "otb"
    path = save_checkpoint(tmp_path / "p.pth", compact_state, PRESETS["vot"], {})
    assert load_checkpoint(path, preset="otb").params == PRESETS["otb"]
    with pytest.raises(CheckpointError, match=r"unknown preset 'lasot'; expected one of \['big', 'otb', 'vot'\]: .*p.pth"):
        load_checkpoint(path, preset="lasot")


def test_saved_files_hold_no_batch_counters_and_any_folder_is_created(compact_state, tmp_path):
    project = save_checkpoint(tmp_path / "a" / "b" / "m.pth", compact_state, PRESETS["vot"], {})
    official = save_official(tmp_path / "c" / "d" / "m.model", compact_state)
    assert any(k.endswith("num_batches_tracked") for k in compact_state.state_dict())
    for keys in (torch.load(project, weights_only=True)["state_dict"], torch.load(official, weights_only=True)):
        assert keys and not any(k.endswith("num_batches_tracked") for k in keys)
    with pytest.raises(ValueError, match=r"storage_dtype must be one of \['float16', 'float32'\], got 'int8'"):
        save_checkpoint(tmp_path / "x.pth", compact_state, PRESETS["vot"], {}, storage_dtype="int8")


def test_a_failed_atomic_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    from dasiamrpn_core.checkpoint import atomic_torch_save
    path = tmp_path / "deep" / "state.pt"
    atomic_torch_save({"v": torch.ones(2)}, path)
    with pytest.raises((AttributeError, TypeError)) as info:
        atomic_torch_save({"v": lambda: None}, path)           # cannot be pickled
    assert "pickle" in str(info.value) or "lambda" in str(info.value)
    assert [p.name for p in path.parent.iterdir()] == ["state.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.ones(2))


def test_official_files_are_told_apart_by_both_shapes_and_keys_are_listed(compact_state, tmp_path):
    state = {k: v.clone() for k, v in compact_state.state_dict().items() if not k.endswith("num_batches_tracked")}
    no_head = {k: v for k, v in state.items() if k != "conv_r2.weight"}
    torch.save(no_head, tmp_path / "nohead.model")
    with pytest.raises(CheckpointError, match="unknown architecture: no 'featureExtract.0.weight'/'conv_r2.weight'"):
        load_checkpoint(tmp_path / "nohead.model")
    odd_head = dict(state, **{"conv_r2.weight": torch.zeros(7, 128, 3, 3)})
    torch.save(odd_head, tmp_path / "oddhead.model")
    with pytest.raises(CheckpointError, match=r"unknown architecture in .*: first conv \(48, 3, 11, 11\), conv_r2 \(7, 128, 3, 3\)"):
        load_checkpoint(tmp_path / "oddhead.model")
    # batch counters in an official-style file are ignored, not "unexpected"
    with_counters = dict(state, **{k: v for k, v in compact_state.state_dict().items() if k.endswith("num_batches_tracked")})
    torch.save(with_counters, tmp_path / "counters.model")
    assert load_checkpoint(tmp_path / "counters.model").net.spec.name == "SiamRPNcompact"
    # more than five missing keys are listed with " ...", up to five without
    few = dict(state)
    for k in [k for k in state if k.startswith("conv_cls1")][:1]:
        few.pop(k)
    torch.save(few, tmp_path / "few.model")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "few.model")
    assert "missing ['conv_cls1.weight'], unexpected []" in str(info.value)
    many = {k: v for k, v in state.items() if not k.startswith("featureExtract.1")
            and not k.startswith("featureExtract.5")} | {"featureExtract.0.weight": state["featureExtract.0.weight"]}
    torch.save(many, tmp_path / "many.model")
    with pytest.raises(CheckpointError, match=r"missing \[.*\] \.\.\., unexpected \[\]"):
        load_checkpoint(tmp_path / "many.model")


def test_a_files_tracker_section_sets_its_defaults_under_the_callers_overrides(compact_state, tmp_path):
    """Distractor/long-term values searched for one network travel in its file: ``load_tracker`` starts
    from them, a caller's override still wins, and a file without the section keeps the code defaults."""
    path = save_checkpoint(tmp_path / "m.pth", compact_state, PRESETS["vot"], {},
                           tracker={"similarity_failure_ratio": 0.7, "alpha_hat": 0.3})
    loaded = load_checkpoint(path)
    assert loaded.tracker == {"similarity_failure_ratio": 0.7, "alpha_hat": 0.3}
    tracker = load_tracker(path, device="cpu", mode="longterm")
    assert tracker.config.longterm.similarity_failure_ratio == 0.7 and tracker.config.distractor.alpha_hat == 0.3
    assert load_tracker(path, device="cpu", alpha_hat=0.6).config.distractor.alpha_hat == 0.6
    plain = load_checkpoint(save_checkpoint(tmp_path / "p.pth", compact_state, PRESETS["vot"], {}))
    assert plain.tracker == {} and "tracker" not in torch.load(tmp_path / "p.pth", weights_only=True)


@pytest.mark.parametrize("section, message", [
    ({"no_such_parameter": 1.0}, "unknown tracker parameter 'no_such_parameter'"),
    ({"window_influence": 0.3}, r"names SiamRPN parameters \['window_influence'\] \(they belong in 'tracking'\)"),
    ({"failure_patience": "three"}, r"values of the wrong type \['failure_patience'\]"),
    ([0.7], "the tracker section is a list, not a dict"),
])
def test_a_bad_tracker_section_is_a_checkpoint_error_that_names_it(compact_state, tmp_path, section, message):
    path = save_checkpoint(tmp_path / "m.pth", compact_state, PRESETS["vot"], {})
    raw = torch.load(path, weights_only=True)
    torch.save(dict(raw, tracker=section), tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=message):
        save_checkpoint(tmp_path / "never.pth", compact_state, PRESETS["vot"], {}, tracker=section)
    assert not (tmp_path / "never.pth").exists()

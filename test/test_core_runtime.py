"""ONNX export and the ONNX Runtime / OpenVINO backends (dasiamrpn_core.export, .runtime).

* the exported graphs give the torch network's outputs within 1e-4 (relative) on the same crops,
  for the official architecture, the bundled compact model and the lite model;
* every mode tracks on every backend with boxes within 0.1 px of the torch backend's;
* bad exports are an ExportError naming the file and the problem, never a crash in the runtime.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="optional backend: pip install -r requirements.txt")
pytest.importorskip("openvino", reason="optional backend: pip install -r requirements.txt")

from dasiamrpn_core import COMPACT_CHECKPOINT, LITE_CHECKPOINT, ExportError, describe, load_tracker
from dasiamrpn_core import runtime  # noqa: E402
from dasiamrpn_core.checkpoint import load_checkpoint
from dasiamrpn_core.export import MANIFEST, SEARCH_FILE, TEMPLATE_FILE, export_onnx
from dasiamrpn_core.files import sha256_file as sha256
from dasiamrpn_core.runtime import load_exported_net

RUNTIMES = ("onnxruntime", "openvino")
REL_TOL = 1e-4
BOX_TOL_PX = 0.1
FRAMES = 12


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def checkpoints(official_weights):
    return {"official_vot": official_weights("vot"), "compact": COMPACT_CHECKPOINT, "lite": LITE_CHECKPOINT}


@pytest.fixture(scope="module")
def exports(checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {name: export_onnx(path, root / name) for name, path in checkpoints.items()}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("name", ["official_vot", "compact", "lite"])
@pytest.mark.parametrize("backend", RUNTIMES)
def test_graph_outputs_equal_torch_on_the_same_crops(checkpoints, exports, name, backend):
    loaded = load_checkpoint(checkpoints[name])
    net = loaded.net.inference().eval()
    exported = load_exported_net(exports[name], backend, threads=2)
    gen = torch.Generator().manual_seed(0)
    p = loaded.params
    z = torch.rand(1, 3, p.exemplar_size, p.exemplar_size, generator=gen) * 255
    z_f, kernels = net.template(z)
    e_zf, e_kernels = exported.template(z)
    assert _rel(e_zf, z_f) < REL_TOL
    for got, want in zip(e_kernels, kernels):
        assert got.shape == want.shape and _rel(got, want.to(got.dtype)) < REL_TOL
    stride = net.spec.stride
    for size in (p.instance_size, p.instance_size + 4 * stride):   # longterm grows the crop by strides
        x = torch.rand(1, 3, size, size, generator=gen) * 255
        for got, want in zip(exported.search(x, kernels), net.search(x, kernels)):
            assert got.shape == want.shape and _rel(got, want) < REL_TOL, (size, _rel(got, want))


def test_openvino_computes_in_float32_on_any_cpu(exports):
    """OpenVINO's CPU plugin defaults to bfloat16 where the CPU has bf16 instructions (AVX512-BF16,
    AMX): boxes then leave the torch backend's by pixels (measured: 3-14 px on the demo frames). The
    backend asks for float32 on every CPU."""
    exported = load_exported_net(exports["lite"], "openvino", threads=2)
    kernels = exported.template(torch.zeros(1, 3, 127, 127))[1]
    exported.search(torch.zeros(1, 3, 255, 255), kernels)
    compiled = [request.get_compiled_model() for session in (exported._template, exported._search)
                for request, _ in session["compiled"].values()]
    assert len(compiled) == 2
    assert all(str(c.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>" for c in compiled)


HALF_REL_TOL = 0.15     # bfloat16 keeps 8 significant bits: measured 0.01 (compact) and 0.12 (lite) relative
HALF_BOX_TOL_PX = 25.0  # measured on the demo frames: 1.2 px (compact) and 13 px (lite: a near tie of two peaks)


def _expected_half_precision(backend: str) -> str:
    if backend == "torch":
        from dasiamrpn_core.tracker import bf16_supported
        return "bfloat16" if bf16_supported() else "float32"
    if backend == "openvino":
        import openvino as ov
        return "bfloat16" if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "float32"
    return "float32"       # ONNX Runtime's CPU provider has no bfloat16 convolutions


@pytest.mark.parametrize("backend", ("torch",) + RUNTIMES)
def test_half_on_the_cpu_computes_in_bfloat16_where_the_cpu_has_it(checkpoints, exports, demo_seq, backend):
    """``half=True`` on the CPU: bfloat16 on the torch and openvino backends where the CPU computes it
    natively (about 2x faster, the README's numbers), float32 (ignored) elsewhere and on onnxruntime;
    ``describe()`` says which ran, and the network's outputs stay near float32's."""
    source = checkpoints["compact"] if backend == "torch" else exports["compact"]
    expected = _expected_half_precision(backend)
    full = load_tracker(source, device="cpu", backend=backend, threads=2)
    half = load_tracker(source, device="cpu", backend=backend, threads=2, half=True)
    assert describe(full)["precision"] == "float32"
    assert describe(half)["precision"] == expected
    crop = torch.rand(1, 3, 127, 127, generator=torch.Generator().manual_seed(0)) * 255
    want, got = full.net.template(crop)[0], half.net.template(crop.to(half.dtype))[0].float()
    assert _rel(got, want) < HALF_REL_TOL
    assert (_rel(got, want) > 0) == (expected != "float32")   # 16-bit really ran (or really did not)
    if backend == "openvino":
        (request, _), = half.net._template["compiled"].values()
        assert str(request.get_compiled_model().get_property("INFERENCE_PRECISION_HINT")) == f"<Type: '{expected}'>"
    boxes = []
    for tracker in (full, half):
        tracker.init(demo_seq.frames[0], demo_seq.boxes[0])
        boxes.append(np.array([tracker.track(f).box for f in demo_seq.frames[1:FRAMES]]))
    assert float(np.abs(boxes[1] - boxes[0]).max()) < HALF_BOX_TOL_PX


@pytest.mark.parametrize("mode", ["siamrpn", "dasiamrpn", "longterm"])
@pytest.mark.parametrize("name", ["compact", "lite"])
def test_every_mode_tracks_the_same_on_every_backend(checkpoints, exports, demo_seq, mode, name):
    boxes = {}
    for backend in ("torch",) + RUNTIMES:
        source = checkpoints[name] if backend == "torch" else exports[name]
        tracker = load_tracker(source, device="cpu", mode=mode, backend=backend, threads=2)
        assert describe(tracker)["backend"] == backend
        tracker.init(demo_seq.frames[0], demo_seq.boxes[0])
        boxes[backend] = np.array([tracker.track(f).box for f in demo_seq.frames[1:FRAMES]])
    for backend in RUNTIMES:
        worst = float(np.abs(boxes[backend] - boxes["torch"]).max())
        assert worst < BOX_TOL_PX, f"{backend}: {worst:.4f} px"


@pytest.mark.parametrize("backend", RUNTIMES)
def test_the_trackers_own_ops_run_on_one_torch_thread_next_to_a_runtime(exports, demo_seq, backend):
    """torch's worker threads spin after each small op and took the cores the runtime computes on
    (OpenVINO ran the lite net 1.6x slower): around a runtime's calls the tracker holds torch to one
    thread, and gives the caller's setting back after each init/track."""
    tracker = load_tracker(exports["lite"], device="cpu", backend=backend, threads=2)
    seen = []
    run = tracker.net._run
    tracker.net._run = lambda session, feeds: (seen.append(torch.get_num_threads()), run(session, feeds))[1]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tracker.init(demo_seq.frames[0], demo_seq.boxes[0])
        tracker.track(demo_seq.frames[1])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert seen == [1, 1]
    torch_tracker = load_tracker(LITE_CHECKPOINT, device="cpu")
    with torch_tracker.net.host_ops():     # a PyTorch net keeps the caller's threads: it computes on them
        assert torch.get_num_threads() == previous


def test_a_checkpoint_file_is_exported_once_into_the_cache(tmp_path):
    tracker = load_tracker(LITE_CHECKPOINT, device="cpu", backend="onnxruntime")
    (export_dir,) = (tmp_path / "cache" / "exports").iterdir()
    assert tracker.checkpoint.metadata["export"] == str(export_dir)
    stamp = (export_dir / MANIFEST).stat().st_mtime_ns
    load_tracker(LITE_CHECKPOINT, device="cpu", backend="openvino")
    assert (export_dir / MANIFEST).stat().st_mtime_ns == stamp


def test_an_unwritable_cache_falls_back_to_torch_for_auto_and_is_an_error_otherwise(tmp_path, monkeypatch, caplog):
    """A robot with a read-only home: `auto` (the node's default) keeps tracking on PyTorch and says
    why; an explicitly requested runtime is an ExportError naming the cache and the variable."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv(runtime.CACHE_ENV, str(blocker / "cache"))
    with caplog.at_level("WARNING", logger="dasiamrpn_core.api"):
        tracker = load_tracker(LITE_CHECKPOINT, device="cpu", backend="auto")
    assert describe(tracker)["backend"] == "torch"
    assert "running on torch instead" in caplog.text and str(blocker) in caplog.text
    with pytest.raises(ExportError, match=r"cannot write the ONNX export .*\$DASIAMRPN_CACHE"):
        load_tracker(LITE_CHECKPOINT, device="cpu", backend="openvino")


def test_two_processes_exporting_at_once_share_one_whole_export(tmp_path):
    """Two tracker processes started together (a stereo pair) export into the same empty cache: each
    builds privately and renames into place, so both end up with the same complete export and no
    private folder is left; a partial folder of a crashed older run is replaced."""
    cache = tmp_path / "cache"             # the private_cache fixture's $DASIAMRPN_CACHE
    code = ("import sys; from dasiamrpn_core import LITE_CHECKPOINT; from dasiamrpn_core.runtime import export_for, "
            "read_manifest; d = export_for(LITE_CHECKPOINT, None); read_manifest(d); print(d)")
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    (first, _), (second, _) = outs
    assert first.strip() == second.strip()
    exports = cache / "exports"
    assert [d.name for d in exports.iterdir()] == [Path(first.strip()).name]   # no private folder left
    # a partial export of a crashed run (graphs, no manifest) is replaced by a whole one
    partial = Path(first.strip())
    (partial / MANIFEST).unlink()
    (partial / "stale.txt").write_text("")
    assert runtime.export_for(LITE_CHECKPOINT, None) == partial
    assert (partial / MANIFEST).exists() and not (partial / "stale.txt").exists()


def test_auto_takes_the_fastest_installed_backend_for_the_net_and_device():
    assert runtime.resolve_backend("auto", torch.device("cpu"), "efficientnet_lite0") == "openvino"
    assert runtime.resolve_backend("auto", torch.device("cpu"), "alexnet") == "torch"
    assert runtime.resolve_backend("auto", torch.device("cuda"), "efficientnet_lite0") == "torch"
    assert describe(load_tracker(LITE_CHECKPOINT, device="cpu", backend="auto"))["backend"] == "openvino"


def test_export_cli(tmp_path):
    out = tmp_path / "export"
    result = subprocess.run([sys.executable, "-m", "dasiamrpn_core.export", "--checkpoint", str(LITE_CHECKPOINT),
                             "--format", "onnx", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["arch"]["name"] == "SiamRPNLite0" and manifest["checkpoint"]["sha256"] == sha256(LITE_CHECKPOINT)
    # the file's own distractor/long-term values travel with the export and are applied from it
    assert manifest["tracker"] == load_checkpoint(LITE_CHECKPOINT).tracker != {}
    from_export = load_tracker(out, device="cpu", mode="longterm")
    assert from_export.config.longterm == load_tracker(LITE_CHECKPOINT, device="cpu", mode="longterm").config.longterm
    assert from_export.config.longterm.similarity_failure_ratio == manifest["tracker"]["similarity_failure_ratio"]
    bad = subprocess.run([sys.executable, "-m", "dasiamrpn_core.export", "--checkpoint", str(tmp_path / "none.pth"),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "none.pth" in bad.stderr


def _copy(export, tmp_path):
    return shutil.copytree(export, tmp_path / "copy")


def test_not_an_export(tmp_path):
    with pytest.raises(ExportError, match=f"{tmp_path}.*is not an export: no {MANIFEST}"):
        load_tracker(tmp_path, device="cpu", backend="onnxruntime")


def test_a_graph_of_another_export_is_refused(exports, tmp_path):
    mixed = _copy(exports["compact"], tmp_path)
    shutil.copy(exports["lite"] / SEARCH_FILE, mixed / SEARCH_FILE)
    with pytest.raises(ExportError, match=f"{SEARCH_FILE}: its sha256 is not the one in"):
        load_tracker(mixed, device="cpu", backend="onnxruntime")


def test_a_missing_graph_and_a_foreign_manifest(exports, tmp_path):
    copy = _copy(exports["compact"], tmp_path)
    (copy / TEMPLATE_FILE).unlink()
    with pytest.raises(ExportError, match=f"{TEMPLATE_FILE}: the template graph of this export is missing"):
        load_tracker(copy, device="cpu", backend="openvino")
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ExportError, match="format 'dasiamrpn-onnx' version 99"):
        load_tracker(copy, device="cpu", backend="openvino")


def _rewrite(copy, data: bytes):
    (copy / SEARCH_FILE).write_bytes(data)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["graphs"]["search"]["sha256"] = sha256(copy / SEARCH_FILE)
    (copy / MANIFEST).write_text(json.dumps(manifest))


def test_an_opset_the_runtime_does_not_know(exports, tmp_path):
    import onnx
    copy = _copy(exports["compact"], tmp_path)
    model = onnx.load(str(copy / SEARCH_FILE))
    model.opset_import[0].version = 999
    _rewrite(copy, model.SerializeToString())
    with pytest.raises(ExportError, match=f"{SEARCH_FILE}: ONNX Runtime .* cannot load it"):
        load_tracker(copy, device="cpu", backend="onnxruntime")


@pytest.mark.parametrize("backend", RUNTIMES)
def test_a_damaged_graph(exports, tmp_path, backend):
    copy = _copy(exports["compact"], tmp_path)
    _rewrite(copy, (copy / SEARCH_FILE).read_bytes()[:5000])   # truncated, with a matching manifest
    manifest = json.loads((copy / MANIFEST).read_text())
    assert manifest["graphs"]["search"]["sha256"] == sha256(copy / SEARCH_FILE)
    with pytest.raises(ExportError, match=f"{SEARCH_FILE}: .* cannot load it"):
        load_tracker(copy, device="cpu", backend=backend)


def test_a_search_crop_the_export_cannot_run(exports):
    net = load_exported_net(exports["lite"], "onnxruntime")
    _, kernels = net.template(torch.zeros(1, 3, 127, 127))
    traced = load_checkpoint(LITE_CHECKPOINT).params.instance_size   # the file's own search crop
    with pytest.raises(ExportError, match=f"search crop of 256 px, but this export runs crops of {traced} \\+ k \\* 16"):
        net.search(torch.zeros(1, 3, 256, 256), kernels)


def test_backend_not_installed_or_unknown(monkeypatch, exports):
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        load_tracker(LITE_CHECKPOINT, device="cpu", backend="tensorflow")
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ExportError, match="backend 'openvino' is not installed: pip install openvino"):
        load_tracker(LITE_CHECKPOINT, device="cpu", backend="openvino")
    assert runtime.resolve_backend("auto", torch.device("cpu")) == "torch"
    with pytest.raises(ExportError, match="is an export, which runs on onnxruntime or openvino: neither"):
        load_tracker(exports["lite"], device="cpu")


def test_warm_up_pays_the_first_call_costs_and_leaves_the_target_alone(demo_seq):
    """After ``warm_up`` the first init and track of a real target cost what later ones do (a node's
    catch-up after an init must not stall on them), and a tracker's own target is untouched."""
    import time

    tracker = load_tracker(LITE_CHECKPOINT, mode="dasiamrpn", backend="openvino", threads=2)
    tracker.init(demo_seq.frames[0], demo_seq.boxes[0])
    before = (tuple(tracker.center), tuple(tracker.size))
    assert tracker.warm_up() > 0.0
    assert (tuple(tracker.center), tuple(tracker.size)) == before

    def first_track_s(t) -> float:
        probe = t.fresh()
        probe.init(demo_seq.frames[0], demo_seq.boxes[0])
        start = time.perf_counter()
        probe.track(demo_seq.frames[1])
        return time.perf_counter() - start

    steady = min(first_track_s(tracker) for _ in range(3))
    cold = load_tracker(LITE_CHECKPOINT, mode="dasiamrpn", backend="openvino", threads=2)
    warmed = load_tracker(LITE_CHECKPOINT, mode="dasiamrpn", backend="openvino", threads=2)
    warmed.warm_up()
    cold_s, warmed_s = first_track_s(cold), first_track_s(warmed)
    assert warmed_s < cold_s and warmed_s < 3 * steady + 0.05, (cold_s, warmed_s, steady)

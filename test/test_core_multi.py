"""The multi-target tracker (issue 30): one model, one batched network call per frame.

* with mutual awareness off, N targets give each target the boxes of N separate single trackers
  (<= 0.1 px, first 50 frames of a real clip, 3 targets, every mode, PyTorch and OpenVINO: the
  batched graphs of the export);
* one ``search_batch`` call per frame and crop size, never a per-target ``search``;
* bad input: a bad box is refused without touching the others, an unknown id is a clear error;
* mutual awareness changes the ranking only through the other targets (one target alone: equal).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dasiamrpn_core import MODES, MultiTracker, load_tracker
from dasiamrpn_core.geometry import iou_xywh

from conftest import require_shared

FRAMES = 50
MAX_PX = 0.1
CLIP = "Crossing"                  # 360x240; a pedestrian crossing a road with cars and others
# the annotated pedestrian and two other boxes of the same clip (a car lane and the far kerb)
EXTRA_BOXES = ((60.0, 120.0, 40.0, 30.0), (280.0, 60.0, 30.0, 40.0))


@pytest.fixture(scope="module")
def clip():
    folder = require_shared("data", "sequences", CLIP)
    files = sorted((folder / "img").glob("*.jpg"))[:FRAMES]
    frames = [cv2.imread(str(f)) for f in files]
    truth = np.loadtxt(folder / "groundtruth.txt", delimiter=",")[0]
    return frames, [tuple(float(v) for v in truth), *EXTRA_BOXES]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    from dasiamrpn_core import default_checkpoint
    from dasiamrpn_core.export import export_onnx
    return export_onnx(default_checkpoint(), tmp_path_factory.mktemp("export"))


def _singles(mode: str, frames, boxes, **kwargs) -> list[list]:
    trackers = []
    for box in boxes:
        t = load_tracker(mode=mode, device="cpu", **kwargs)
        t.init(frames[0], box)
        trackers.append(t)
    return [[t.track(f) for t in trackers] for f in frames[1:]]


def _multi(mode: str, frames, boxes, mutual: bool, **kwargs) -> tuple[MultiTracker, list[dict]]:
    multi = MultiTracker(load_tracker(mode=mode, device="cpu", **kwargs), mutual_awareness=mutual)
    ids = [multi.add(frames[0], box) for box in boxes]
    assert ids == list(range(1, len(boxes) + 1))
    return multi, [multi.track(f) for f in frames[1:]]


@pytest.mark.parametrize("mode", MODES)
def test_without_mutual_awareness_each_target_is_a_separate_single_tracker(clip, mode, monkeypatch):
    frames, boxes = clip
    singles = _singles(mode, frames, boxes)
    calls = []
    multi = MultiTracker(load_tracker(mode=mode, device="cpu"), mutual_awareness=False)
    net = multi.net
    batched = net.search_batch
    monkeypatch.setattr(net, "search", lambda *a: pytest.fail("a per-target network call"))
    monkeypatch.setattr(net, "search_batch", lambda x, k: calls.append(x.shape[0]) or batched(x, k))
    ids = [multi.add(frames[0], box) for box in boxes]
    worst = 0.0
    for frame, expected in zip(frames[1:], singles):
        got = multi.track(frame)
        assert list(got) == ids
        for target_id, single in zip(ids, expected):
            worst = max(worst, float(np.abs(np.subtract(got[target_id].box, single.box)).max()))
            assert got[target_id].state == single.state
            assert got[target_id].score == pytest.approx(single.score, abs=1e-3)
    assert worst <= MAX_PX, f"{mode}: a box {worst:.3f} px from its single tracker's"
    # one call of all three crops per frame (a longterm target searching a larger crop: its own call)
    assert len(calls) >= FRAMES - 1 and sum(calls) == 3 * (FRAMES - 1), calls


@pytest.mark.parametrize("mode", MODES)
def test_on_openvino_each_target_is_a_separate_single_tracker_too(clip, mode, export_dir, monkeypatch):
    pytest.importorskip("openvino")
    frames, boxes = clip
    kwargs = {"checkpoint": export_dir, "backend": "openvino"}
    singles = _singles(mode, frames, boxes, **kwargs)
    multi = MultiTracker(load_tracker(mode=mode, device="cpu", **kwargs), mutual_awareness=False)
    calls = []
    batched = multi.net._run
    monkeypatch.setattr(multi.net, "_run", lambda session, feeds: (calls.append(feeds["x"].shape[0]) if "x" in feeds
                                                                   else None) or batched(session, feeds))
    for box in boxes:
        multi.add(frames[0], box)
    worst = 0.0
    for frame, expected in zip(frames[1:], singles):
        got = multi.track(frame)
        for target_id, single in zip(multi.ids, expected):
            worst = max(worst, float(np.abs(np.subtract(got[target_id].box, single.box)).max()))
            assert got[target_id].state == single.state
    assert worst <= MAX_PX, f"{mode} on OpenVINO: a box {worst:.3f} px from its single tracker's"
    # 3 targets: one call of the batch-4 graph per frame (a longterm target searching: its own call)
    assert calls.count(4) >= (FRAMES - 1) * (mode != "longterm") and len(calls) <= 3 * (FRAMES - 1), calls
    assert mode == "longterm" or calls == [4] * (FRAMES - 1), calls


def test_the_single_tracker_is_unchanged_by_the_multi_tracker_beside_it(clip):
    """The prototype handed to MultiTracker keeps its own target and results."""
    frames, boxes = clip
    alone = _singles("dasiamrpn", frames[:6], boxes[:1])
    tracker = load_tracker(mode="dasiamrpn", device="cpu")
    tracker.init(frames[0], boxes[0])
    multi = MultiTracker(tracker)
    multi.add(frames[0], boxes[1])
    for frame, expected in zip(frames[1:6], alone):
        multi.track(frame)
        assert tracker.track(frame) == expected[0]


def test_mutual_awareness_with_one_target_is_the_single_tracker(clip):
    frames, boxes = clip
    alone = _singles("dasiamrpn", frames[:11], boxes[:1])
    multi, results = _multi_one(frames[:11], boxes[0])
    assert multi.mutual_awareness
    for got, expected in zip(results, alone):
        assert np.abs(np.subtract(got[1].box, expected[0].box)).max() <= MAX_PX


def _multi_one(frames, box):
    multi = MultiTracker(load_tracker(mode="dasiamrpn", device="cpu"))
    multi.add(frames[0], box)
    return multi, [multi.track(f) for f in frames[1:]]


def test_mutual_awareness_keeps_two_look_alikes_apart(clip):
    """Two targets started on the same pedestrian (a look-alike pair at its limit): independent
    trackers stay merged; with mutual awareness the second one may not take the first one's box
    unless it clearly wins, and the other target's template is a distractor: they are not one box
    on every frame."""
    frames, boxes = clip
    x, y, w, h = boxes[0]
    pair = [(x, y, w, h), (x + 2.0, y + 1.0, w, h)]
    _, off = _multi("dasiamrpn", frames[:20], pair, mutual=False)
    _, on = _multi("dasiamrpn", frames[:20], pair, mutual=True)
    merged_off = [float(np.squeeze(iou_xywh(r[1].box, r[2].box))) for r in off]
    merged_on = [float(np.squeeze(iou_xywh(r[1].box, r[2].box))) for r in on]
    assert min(merged_off) >= 0.5, merged_off
    assert min(merged_on) < 0.5, merged_on


def test_bad_input_is_refused_without_touching_the_other_targets(clip):
    frames, boxes = clip
    multi = MultiTracker(load_tracker(mode="dasiamrpn", device="cpu"))
    first = multi.add(frames[0], boxes[0])
    before = multi.target(first).center.copy()
    with pytest.raises(ValueError, match="positive width and height"):
        multi.add(frames[0], (10, 10, 0, 5))
    with pytest.raises(ValueError, match="lies outside"):
        multi.add(frames[0], (1000, 1000, 10, 10))
    assert multi.ids == (first,) and np.array_equal(multi.target(first).center, before)
    with pytest.raises(KeyError, match=r"no target with id 7 \(targets: \[1\]\)"):
        multi.remove(7)
    second = multi.add(frames[0], boxes[1])
    assert second == 2
    multi.remove(first)
    assert set(multi.track(frames[1])) == {2}
    assert multi.add(frames[1], boxes[2]) == 3, "ids are never reused"
    with pytest.raises(ValueError, match="target 2: frame size changed"):
        multi.track(frames[1][:100])
    assert MultiTracker(load_tracker(mode="siamrpn", device="cpu")).track(frames[1]) == {}


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))


def test_track_cli_with_several_boxes_writes_one_file_per_target(tmp_path, clip):
    from conftest import REPO
    img_dir = require_shared("data", "sequences", CLIP, "img")
    _, boxes = clip
    args = ["dasiamrpn_core.cli.track", str(img_dir), "--output", str(tmp_path / "r.txt"), "--video",
            str(tmp_path / "v.avi"), "--max-frames", "6", "--threads", "2", "--mode", "dasiamrpn", "--backend", "torch"]
    for box in boxes:
        args += ["--box", ",".join(str(v) for v in box)]
    out = _run(*args, cwd=REPO)
    assert out.returncode == 0, out.stderr
    for target_id, box in enumerate(boxes, 1):
        lines = (tmp_path / f"r_id{target_id}.txt").read_text().splitlines()
        assert len(lines) == 6 and lines[0].endswith("init") and lines[1].endswith("tracking")
        assert np.allclose([float(v) for v in lines[0].split(",")[:4]], box, atol=1e-3)
    assert not (tmp_path / "r.txt").exists()
    cap = cv2.VideoCapture(str(tmp_path / "v.avi"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    bad = _run(*args[:-2], "--box", "5000,10,20,20", cwd=REPO)   # the third box is outside the image
    assert bad.returncode == 2 and "--box number 3" in bad.stderr and "outside" in bad.stderr


def test_multi_target_benchmark_runs(tmp_path):
    from conftest import REPO
    out = _run("dasiamrpn_benchmarks.multi_targets", "--backends", "torch", "--frames", "4", "--targets", "1,2",
               "--json", str(tmp_path / "m.json"), cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "N=2: batched" in out.stdout and "independent" in out.stdout
    data = json.loads((tmp_path / "m.json").read_text())
    assert set(data["results"]["torch"]) == {"1", "2"} and data["results"]["torch"]["2"]["peak_rss_mb"] > 0


@pytest.mark.parametrize("net_name", ["lite", "compact"])
def test_batched_search_equals_one_call_per_target_on_every_backend(net_name, tmp_path):
    """Both network families (EfficientNet-Lite: depth-wise correlation; AlexNet: the folded head as a
    convolution grouped by target), on PyTorch and on the exported batched graphs: crop b with
    kernel b only, 3 targets (the batch-4 graph, padded) and 5 (the batch-8 one)."""
    import torch

    from dasiamrpn_core import COMPACT_CHECKPOINT, LITE_CHECKPOINT
    from dasiamrpn_core.export import export_onnx
    from dasiamrpn_core.runtime import installed
    checkpoint = {"lite": LITE_CHECKPOINT, "compact": COMPACT_CHECKPOINT}[net_name]
    export = export_onnx(checkpoint, tmp_path / "export")
    backends = [("torch", checkpoint)] + [(b, export) for b in ("onnxruntime", "openvino") if installed(b)]
    generator = torch.Generator().manual_seed(0)
    for backend, source in backends:
        tracker = load_tracker(source, device="cpu", backend=backend)
        net, size = tracker.net, tracker.params.instance_size
        for n in (3, 5):
            kernels = [net.template(torch.rand(1, 3, 127, 127, generator=generator) * 255)[1] for _ in range(n)]
            x = torch.rand(n, 3, size, size, generator=generator) * 255
            with torch.no_grad():
                batched = net.search_batch(x, net.stack_kernels(kernels))
                singles = [net.search(x[i:i + 1], kernels[i]) for i in range(n)]
            for i in range(n):
                for got, expected in zip(batched, singles[i]):
                    scale = float(expected.abs().max()) or 1.0
                    assert float((got[i] - expected[0]).abs().max()) / scale < 1e-4, (net_name, backend, n, i)

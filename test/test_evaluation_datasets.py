"""Dataset readers on small synthetic layouts (every benchmark's real file conventions) and
malformed input; plus the shared sequences when they are present."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import require_shared
from dasiamrpn_core.evaluation import AnnotationError, DatasetError, load_dataset

TINY = np.full((6, 8, 3), 127, np.uint8)


def frames(folder: Path, numbers, digits: int = 4, suffix: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"{n:0{digits}d}{suffix}"), TINY)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rects(n: int, sep: str = ",", start: int = 1) -> str:
    return "\n".join(sep.join(str(v) for v in (start + i, 2, 3, 4)) for i in range(n)) + "\n"


# -- OTB ----------------------------------------------------------------------------------
def make_otb(root: Path) -> None:
    frames(root / "Basic" / "img", range(1, 4))
    write(root / "Basic" / "groundtruth_rect.txt", "11\t21\t5\t6\r\n12 22 5 6\r\n13,23,5,6\r\n")
    frames(root / "Jogging" / "img", range(1, 3))
    write(root / "Jogging" / "groundtruth_rect.1.txt", rects(2))
    write(root / "Jogging" / "groundtruth_rect.2.txt", rects(2, start=50))
    frames(root / "David" / "img", range(1, 771))  # the folder holds frames 1..770, OTB uses 300..770
    write(root / "David" / "groundtruth_rect.txt", rects(471))
    frames(root / "Tiger1" / "img", range(1, 355))  # annotation counts from frame 1, OTB uses 6..354
    write(root / "Tiger1" / "groundtruth_rect.txt", rects(354))


def test_otb_folders_irregular_sequences_and_1_based_boxes(tmp_path):
    make_otb(tmp_path)
    seqs = {s.name: s for s in load_dataset("otb", tmp_path)}
    assert sorted(seqs) == ["Basic", "David", "Jogging-1", "Jogging-2", "Tiger1"]
    basic = seqs["Basic"]
    assert np.allclose(basic.boxes, [[10, 20, 5, 6], [11, 21, 5, 6], [12, 22, 5, 6]])  # tab, space, comma
    assert basic.one_based and basic.frames[0].name == "0001.jpg"
    assert np.allclose(seqs["Jogging-2"].boxes[0], [49, 1, 3, 4])
    assert len(seqs["David"]) == 471 and seqs["David"].frames[0].name == "0300.jpg"
    tiger = seqs["Tiger1"]
    assert len(tiger) == 349 and tiger.frames[0].name == "0006.jpg"
    assert tiger.boxes[0][0] == 5  # line 6 of the file (x = 6, 1-based)
    only = load_dataset("otb", tmp_path, split="otb2013")
    assert {s.name for s in only} == {"David", "Jogging-1", "Jogging-2", "Tiger1"}


def test_otb_json_index_as_shipped_with_dasiamrpn(tmp_path):
    frames(tmp_path / "Jogging" / "img", range(1, 4))
    index = {"jogging_1": {"name": "Jogging", "image_files": ["0001.jpg", "0002.jpg", "0003.jpg"],
                           "init_rect": [111, 98, 25, 101], "gt_rect": [[111, 98, 25, 101]] * 3}}
    write(tmp_path / "OTB2015.json", json.dumps(index))
    (seq,) = load_dataset("otb", tmp_path)
    assert seq.name == "jogging_1" and np.allclose(seq.boxes[0], [110, 97, 25, 101])
    index["jogging_1"]["gt_rect"][1] = [1, 2, -3, 4]
    write(tmp_path / "OTB2015.json", json.dumps(index))
    with pytest.raises(AnnotationError, match=r"OTB2015.json: sequence 'jogging_1', box 2: negative box size"):
        load_dataset("otb", tmp_path)


@pytest.mark.parametrize("content, problem", [
    ("1,2,3,4\n1,2,x,4\n1,2,3,4\n", r"groundtruth_rect.txt:2: cannot parse"),
    ("1,2,3,4\n1,2,-3,4\n1,2,3,4\n", r"groundtruth_rect.txt:2: negative box size"),
    ("1,2,3,4\nnan,nan,nan,nan\n1,2,3,4\n", r"groundtruth_rect.txt:2: NaN values are not allowed"),
    ("1,2,3,4\n1,2,3\n1,2,3,4\n", r"groundtruth_rect.txt:2: expected 4 values, got 3"),
    ("1,2,3,4\n\n1,2,3,4\n", r"groundtruth_rect.txt:2: empty line"),
    ("1,2,3,4\n1,2,3,4\n", r"groundtruth_rect.txt: 2 boxes but 3 frames .*fewer boxes"),
    ("1,2,3,4\n" * 4, r"groundtruth_rect.txt: 4 boxes but 3 frames .*more boxes"),
])
def test_malformed_otb_annotation_names_file_and_line(tmp_path, content, problem):
    frames(tmp_path / "Seq" / "img", range(1, 4))
    write(tmp_path / "Seq" / "groundtruth_rect.txt", content)
    with pytest.raises(AnnotationError, match=problem):
        load_dataset("otb", tmp_path)


def test_missing_frame_is_named(tmp_path):
    frames(tmp_path / "Seq" / "img", [1, 2, 4])
    write(tmp_path / "Seq" / "groundtruth_rect.txt", rects(4))
    with pytest.raises(DatasetError, match=r"missing frame 3 \(.*Seq/img/0003.jpg\)"):
        load_dataset("otb", tmp_path)


# -- VOT ------------------------------------------------------------------------------------
def test_vot_short_term_polygons_rectangles_and_tags(tmp_path):
    write(tmp_path / "list.txt", "ball\n")
    frames(tmp_path / "ball" / "color", range(1, 4), digits=8)
    write(tmp_path / "ball" / "groundtruth.txt",
          "5,0,10,5,5,10,0,5\n1.5,2.5,3,4\n5.5,0,10.5,5,5.5,10,0.5,5\n")
    write(tmp_path / "ball" / "occlusion.tag", "0\n1\n0\n")
    write(tmp_path / "ball" / "camera_motion.tag", "0\n0\n0\n")
    (seq,) = load_dataset("vot", tmp_path)
    assert np.allclose(seq.boxes[0], [0, 0, 10, 10]) and np.allclose(seq.boxes[1], [1.5, 2.5, 3, 4])
    assert np.allclose(seq.polygons[1], [1.5, 2.5, 4.5, 2.5, 4.5, 6.5, 1.5, 6.5])
    assert seq.attributes == ("occlusion",) and not seq.one_based
    write(tmp_path / "ball" / "groundtruth.txt", "m1,2,3\n" * 3)
    with pytest.raises(AnnotationError, match="mask annotations"):
        load_dataset("vot", tmp_path)


def test_vot_long_term_nan_rows_mean_absent(tmp_path):
    frames(tmp_path / "car" / "color", range(1, 4), digits=8)
    write(tmp_path / "car" / "groundtruth.txt", "1,2,3,4\nnan,nan,nan,nan\n2,2,3,4\n")
    (seq,) = load_dataset("vot-lt", tmp_path)
    assert list(seq.absent) == [False, True, False] and list(seq.annotated) == [True, False, True]
    with pytest.raises(AnnotationError, match=r"groundtruth.txt:2: NaN values are not allowed"):
        load_dataset("vot", tmp_path)
    write(tmp_path / "car" / "groundtruth.txt", "1,2,3,4\nnan,2,3,4\n2,2,3,4\n")
    with pytest.raises(AnnotationError, match=r"groundtruth.txt:2: partly NaN"):
        load_dataset("vot-lt", tmp_path)


# -- GOT-10k ---------------------------------------------------------------------------------
def test_got10k_labels_meta_info_and_test_split(tmp_path):
    val = tmp_path / "val" / "GOT-10k_Val_000001"
    frames(val, range(1, 4), digits=8)
    write(val / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n1,2,3,4\n")
    write(val / "absence.label", "0\n1\n0\n")
    write(val / "cover.label", "8\n0\n5\n")
    write(val / "meta_info.ini", "[METAINFO]\nmotion_class: walking\nmajor_class: person\nresolution: (8, 6)\n")
    write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\n")
    test = tmp_path / "test" / "GOT-10k_Test_000001"
    frames(test, range(1, 4), digits=8)
    write(test / "groundtruth.txt", "1,2,3,4\n")
    (seq,) = load_dataset("got10k", tmp_path)  # default split: val
    assert list(seq.absent) == [False, True, False]
    assert seq.attributes == ("motion_class:walking", "major_class:person")
    assert seq.metadata["cover"] == [8, 0, 5]
    (tseq,) = load_dataset("got10k", tmp_path, split="test")
    assert list(tseq.annotated) == [True, False, False]
    write(val / "absence.label", "0\n1\n")
    with pytest.raises(AnnotationError, match=r"absence.label: 2 values for 3 frames"):
        load_dataset("got10k", tmp_path)


# -- LaSOT -----------------------------------------------------------------------------------
def test_lasot_occlusion_flags_and_test_split(tmp_path):
    for name in ("airplane-1", "airplane-2"):
        seq_dir = tmp_path / "airplane" / name
        frames(seq_dir / "img", range(1, 4), digits=8)
        write(seq_dir / "groundtruth.txt", "1,2,3,4\n0,0,0,0\n2,2,3,4\n")
        write(seq_dir / "full_occlusion.txt", "0,1,0")
        write(seq_dir / "out_of_view.txt", "0,0,1")
    write(tmp_path / "testing_set.txt", "airplane-2\n")
    seqs = load_dataset("lasot", tmp_path)
    assert [s.name for s in seqs] == ["airplane-1", "airplane-2"]
    assert list(seqs[0].absent) == [False, True, True]
    assert np.allclose(seqs[0].boxes[0], [0, 1, 3, 4])  # 1-based
    assert [s.name for s in load_dataset("lasot", tmp_path, split="test")] == ["airplane-2"]


# -- UAV ---------------------------------------------------------------------------------------
def test_uav_nan_rows_attributes_and_subsequence_ranges(tmp_path):
    frames(tmp_path / "data_seq" / "UAV123" / "bike1", range(1, 4), digits=6)
    frames(tmp_path / "data_seq" / "UAV123" / "bird1", range(1, 11), digits=6)
    anno = tmp_path / "anno" / "UAV123"
    write(anno / "bike1.txt", "1,2,3,4\nNaN,NaN,NaN,NaN\n1,2,3,4\n")
    write(anno / "bird1_2.txt", rects(3))
    write(anno / "att" / "bike1.txt", "1,0,0,0,0,0,1,0,0,0,0,0\n")
    ranges = {"UAV123": {"bird1_2": {"start_frame": 5, "end_frame": 7, "folder_name": "bird1"}}}
    write(tmp_path / "ranges.json", json.dumps(ranges))
    seqs = {s.name: s for s in load_dataset("uav", tmp_path, index=tmp_path / "ranges.json")}
    assert list(seqs["bike1"].absent) == [False, True, False]
    assert seqs["bike1"].attributes == ("scale_variation", "out_of_view")
    assert [f.name for f in seqs["bird1_2"].frames] == ["000005.jpg", "000006.jpg", "000007.jpg"]


# -- the shared layout ------------------------------------------------------------------------------
def test_shared_sequences_layout():
    root = require_shared("data", "sequences")
    seqs = {s.name: s for s in load_dataset("simple", root)}
    assert {"bag", "Crossing", "Girl", "Jogging", "Jogging-target2"} <= set(seqs)
    for name, seq in seqs.items():
        assert len(seq.frames) == len(seq.boxes) and seq.annotated.all(), name
    assert seqs["bag"].polygons is not None and seqs["Girl"].polygons is None
    assert "distractors" in seqs["Couple"].attributes
    picked = load_dataset("simple", root, sequences=["girl", "BAG"])
    assert [s.name for s in picked] == ["Girl", "bag"]
    with pytest.raises(DatasetError, match=r"sequences not found .*\['nope'\]"):
        load_dataset("simple", root, sequences=["nope"])


def test_unknown_dataset_and_root():
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet", ".")
    with pytest.raises(DatasetError, match="dataset root not found"):
        load_dataset("otb", "/nonexistent/otb")

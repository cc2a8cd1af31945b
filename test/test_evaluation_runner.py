"""The tracking loops with scripted trackers on synthetic frames: VOT re-initialisation timing,
result file round trips, frame prefetching errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dasiamrpn_core.evaluation import DatasetError, Sequence
from dasiamrpn_core.evaluation.config import SupervisedConfig
from dasiamrpn_core.evaluation.results_io import read_ope, read_supervised, write_ope, write_supervised
from dasiamrpn_core.evaluation.runner import run_ope, run_supervised
from dasiamrpn_core.evaluation.supervised import FAILURE, INIT, SKIPPED, TRACKED

N = 20
GT = np.array([[10.0 + i, 10.0, 20.0, 20.0] for i in range(N)])


class Result:
    def __init__(self, box, score):
        self.box, self.score = box, score


class ScriptedTracker:
    """Follows the ground truth except on the frames listed in ``lost`` (far away there)."""

    def __init__(self, lost=()):
        self.lost, self.frame, self.inits = set(lost), 0, []

    def init(self, image, box):
        assert image.dtype == np.uint8 and image.shape == (60, 80, 3)
        self.frame = int(image[0, 0, 0])  # each synthetic frame carries its index
        self.inits.append(self.frame)

    def track(self, image):
        self.frame = int(image[0, 0, 0])
        if self.frame in self.lost:
            return Result((70.0, 50.0, 5.0, 5.0), 0.1)
        return Result(tuple(GT[self.frame]), 0.9)


@pytest.fixture()
def sequence(tmp_path) -> Sequence:
    frames = []
    for i in range(N):
        path = tmp_path / f"{i + 1:08d}.png"
        cv2.imwrite(str(path), np.full((60, 80, 3), i, np.uint8))
        frames.append(path)
    return Sequence("synthetic", tuple(frames), GT.copy(), np.zeros(N, bool))


def test_supervised_reinitialises_five_frames_after_a_failure(sequence, tmp_path):
    tracker = ScriptedTracker(lost={3, 15})
    res = run_supervised(tracker, sequence, SupervisedConfig())
    expected = [INIT, TRACKED, TRACKED, FAILURE, SKIPPED, SKIPPED, SKIPPED, SKIPPED, INIT] + [TRACKED] * 6 + \
               [FAILURE, SKIPPED, SKIPPED, SKIPPED, SKIPPED]
    assert res.codes.tolist() == expected
    assert tracker.inits == [0, 8]
    assert np.isnan(res.boxes[3]).all() and np.allclose(res.boxes[9], GT[9])
    assert np.isfinite(res.times[[0, 1, 8]]).all() and np.isnan(res.times[4])
    write_supervised(tmp_path, "synthetic", res)
    back = read_supervised(tmp_path, "synthetic", N)
    assert back.codes.tolist() == expected and np.allclose(back.boxes[9], GT[9])
    lines = (tmp_path / "baseline" / "synthetic" / "synthetic_001.txt").read_text().splitlines()
    assert lines[:4] == ["1", lines[1], lines[2], "2"] and lines[4] == "0"


def test_reinitialisation_waits_for_annotated_frame(sequence):
    seq = Sequence(sequence.name, sequence.frames, sequence.boxes.copy(), sequence.absent.copy())
    seq.absent[8:10] = True  # the target is not annotated where the re-initialisation would be
    tracker = ScriptedTracker(lost={3})
    res = run_supervised(tracker, seq, SupervisedConfig())
    assert tracker.inits == [0, 10] and res.codes[8] == SKIPPED


def test_ope_records_given_box_first_and_round_trips(sequence, tmp_path):
    res = run_ope(ScriptedTracker(lost={5}), sequence)
    assert np.allclose(res.boxes[0], GT[0]) and res.scores[0] == 1.0
    assert np.allclose(res.boxes[5], [70, 50, 5, 5]) and res.scores[5] == pytest.approx(0.1)
    write_ope(tmp_path, "synthetic", res)
    back = read_ope(tmp_path, "synthetic", N)
    assert np.allclose(back.boxes, res.boxes, atol=1e-4) and np.allclose(back.scores, res.scores, atol=1e-6)


def test_unreadable_frame_is_named(sequence):
    sequence.frames[4].write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"cannot read image .*00000005.png"):
        run_ope(ScriptedTracker(), sequence)


def test_tracker_errors_propagate(sequence):
    class Broken(ScriptedTracker):
        def track(self, image):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_ope(Broken(), sequence)

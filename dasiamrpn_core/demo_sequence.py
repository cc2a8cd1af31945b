"""Built-in tracking sequences made from real photographs shipped inside the scikit-image wheel.

No download: the background is the ``coffee`` photo (a wooden table, CC0), the target is the face
from the ``astronaut`` photo (NASA, public domain) and the look-alike distractor is the same face
mirrored with shifted colours. The target's path, scale and the camera pan are analytic, so the
ground truth is exact (0-based ``x, y, w, h``).

* ``"demo"``: the target moves, changes scale and crosses the distractor while the camera pans.
* ``"reappear"``: the target vanishes for a while and reappears far outside the normal search
  region (for the long-term tracker).
* ``"lookalike"``: the target drifts slowly with its twin beside it (one target side apart); from
  frame 20 to 44 a shadow darkens the target to 40 % and blurs it, while the twin stays bright
  (for the distractor-aware tracker).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FRAME_SIZE = (640, 480)          # width, height
TARGET_SIDE = 84                 # target side at scale 1, pixels
FACE_ROWS, FACE_COLS = slice(20, 200), slice(150, 330)   # the astronaut's face in `astronaut()`
# "lookalike": the twin's offset to the right of the target, and the shadow over the target
TWIN_OFFSET = 110                # pixels: 26 px of background between the two
SHADOW_FRAMES = (20, 45)         # frames [first, last + 1) in the shadow
SHADOW_GAIN, SHADOW_BLUR = 0.4, 9.0


@dataclass(frozen=True)
class Sequence:
    name: str
    frames: list[np.ndarray]      # H x W x 3 uint8 BGR
    boxes: np.ndarray             # (N, 4) ground truth x, y, w, h; NaN where the target is absent
    twin: np.ndarray | None = None   # (N, 4) the look-alike's box ("demo", "lookalike"; NaN outside the frame)

    @property
    def present(self) -> np.ndarray:
        return np.isfinite(self.boxes).all(axis=1)


def _photos() -> tuple[np.ndarray, np.ndarray]:
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - scikit-image is a pinned dependency
        raise RuntimeError("the built-in sequences need scikit-image (pip install scikit-image)") from exc
    background = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    face = cv2.cvtColor(np.ascontiguousarray(data.astronaut()[FACE_ROWS, FACE_COLS]), cv2.COLOR_RGB2BGR)
    return background, face


def _paste(frame: np.ndarray, patch: np.ndarray, x: float, y: float, side: float) -> tuple[float, float, float, float]:
    """Paste ``patch`` scaled to ``side`` with its top-left at integer-rounded (x, y); returns the
    exact box that was drawn (clipped to the frame)."""
    s = max(2, int(round(side)))
    resized = cv2.resize(patch, (s, s), interpolation=cv2.INTER_AREA)
    x0, y0 = int(round(x)), int(round(y))
    h, w = frame.shape[:2]
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return (np.nan,) * 4
    frame[fy0:fy1, fx0:fx1] = resized[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return float(fx0), float(fy0), float(fx1 - fx0), float(fy1 - fy0)


def _background(photo: np.ndarray, t: float) -> np.ndarray:
    """A 640x480 window panning slowly over the upscaled photo (camera motion)."""
    w, h = FRAME_SIZE
    big = cv2.resize(photo, (int(w * 1.4), int(h * 1.4)), interpolation=cv2.INTER_LINEAR)
    ox = int(round((big.shape[1] - w) * (0.5 + 0.45 * np.sin(2 * np.pi * t))))
    oy = int(round((big.shape[0] - h) * (0.5 + 0.45 * np.sin(np.pi * t))))
    return big[oy:oy + h, ox:ox + w].copy()


def make_sequence(kind: str = "demo", num_frames: int | None = None) -> Sequence:
    background, face = _photos()
    distractor = cv2.flip(face, 1)
    distractor = cv2.add(distractor, np.full_like(distractor, 18))  # a slightly brighter twin
    w, h = FRAME_SIZE
    if kind == "demo":
        n = num_frames or 150
        frames, boxes, twin = [], [], []
        for i in range(n):
            t = i / n
            frame = _background(background, t)
            side = TARGET_SIDE * (1.0 + 0.3 * np.sin(2 * np.pi * t))
            dx = w / 2 + 200 * np.sin(2 * np.pi * t) - side / 2
            dy = h / 2 + 120 * np.sin(4 * np.pi * t) - side / 2
            # the twin walks the opposite way along the same row band and crosses the target twice
            twin.append(_paste(frame, distractor, w / 2 - 220 * np.sin(2 * np.pi * t) - TARGET_SIDE / 2,
                               h / 2 + 100 * np.sin(4 * np.pi * t + 0.6) - TARGET_SIDE / 2, TARGET_SIDE))
            boxes.append(_paste(frame, face, dx, dy, side))
            frames.append(frame)
        return Sequence("demo", frames, np.asarray(boxes, dtype=np.float64), np.asarray(twin, dtype=np.float64))
    if kind == "reappear":
        n = num_frames or 80
        visible_until, reappear_at = 25, 40
        frames, boxes = [], []
        for i in range(n):
            frame = _background(background, 0.1)
            if i < visible_until:
                box = _paste(frame, face, 90 + 2 * i, 80 + i, TARGET_SIDE)
            elif i < reappear_at:
                box = (np.nan,) * 4
            else:
                box = _paste(frame, face, 500 - (i - reappear_at), 360 - 0.5 * (i - reappear_at), TARGET_SIDE)
            boxes.append(box)
            frames.append(frame)
        return Sequence("reappear", frames, np.asarray(boxes, dtype=np.float64))
    if kind == "lookalike":
        n = num_frames or 50
        frames, boxes, twin = [], [], []
        for i in range(n):
            frame = _background(background, 0.1 + 0.002 * i)
            x, y = 200.0 + i, 200.0
            patch = face
            if SHADOW_FRAMES[0] <= i < SHADOW_FRAMES[1]:
                patch = (cv2.GaussianBlur(face, (0, 0), SHADOW_BLUR) * SHADOW_GAIN).astype(np.uint8)
            twin.append(_paste(frame, distractor, x + TWIN_OFFSET, y, TARGET_SIDE))
            boxes.append(_paste(frame, patch, x, y, TARGET_SIDE))
            frames.append(frame)
        return Sequence("lookalike", frames, np.asarray(boxes, dtype=np.float64), np.asarray(twin, dtype=np.float64))
    raise ValueError(f"unknown built-in sequence {kind!r}; expected 'demo', 'reappear' or 'lookalike'")

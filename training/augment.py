"""Photometric and occlusion augmentation of template/search crops (geometry is done by the crop)."""
from __future__ import annotations

import cv2
import numpy as np

from .config import AugmentConfig


def _odd_kernel(rng: np.random.Generator, max_kernel: int) -> int:
    return int(rng.integers(1, max_kernel // 2 + 1)) * 2 + 1


def gaussian_blur(img: np.ndarray, rng: np.random.Generator, max_kernel: int) -> np.ndarray:
    k = _odd_kernel(rng, max_kernel)
    return cv2.GaussianBlur(img, (k, k), 0)


def motion_blur(img: np.ndarray, rng: np.random.Generator, max_kernel: int) -> np.ndarray:
    k = _odd_kernel(rng, max_kernel)
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(img, -1, kernel)


def color_jitter(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    gain = np.exp(rng.uniform(-cfg.channel_gain, cfg.channel_gain, 3)).astype(np.float32)
    contrast = np.float32(np.exp(rng.uniform(-cfg.contrast, cfg.contrast)))
    bright = np.float32(rng.uniform(-cfg.brightness, cfg.brightness))
    f = img.astype(np.float32)
    mean = f.mean()
    f = (f - mean) * contrast + mean + bright
    f *= gain[None, None, :]
    return np.clip(f, 0, 255).astype(np.uint8)


def to_gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def photometric(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Blur, motion blur and colour changes, each with its probability."""
    if rng.random() < cfg.blur_prob:
        img = gaussian_blur(img, rng, cfg.max_blur_kernel)
    if rng.random() < cfg.motion_blur_prob:
        img = motion_blur(img, rng, cfg.max_blur_kernel)
    if rng.random() < cfg.color_prob:
        img = color_jitter(img, rng, cfg)
    return img


def occlude(img: np.ndarray, box: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig,
            filler: np.ndarray | None = None) -> np.ndarray:
    """Cover up to ``max_occlusion`` of the target box with a rectangle of noise or of ``filler``."""
    x, y, w, h = (float(v) for v in box)
    frac = rng.uniform(0.1, cfg.max_occlusion)
    if rng.random() < 0.5:   # a vertical band entering from the left or right
        ow, oh = w * frac, h * rng.uniform(0.6, 1.2)
        ox = x + rng.uniform(-0.3, 1.0) * w - ow / 2
        oy = y + rng.uniform(-0.2, 0.2) * h
    else:                    # a horizontal band
        ow, oh = w * rng.uniform(0.6, 1.2), h * frac
        ox = x + rng.uniform(-0.2, 0.2) * w
        oy = y + rng.uniform(-0.3, 1.0) * h - oh / 2
    size = img.shape[0]
    x0, y0 = int(np.clip(ox, 0, size - 1)), int(np.clip(oy, 0, size - 1))
    x1, y1 = int(np.clip(ox + ow, x0 + 1, size)), int(np.clip(oy + oh, y0 + 1, size))
    img = img.copy()
    if filler is not None and filler.shape[0] >= y1 - y0 and filler.shape[1] >= x1 - x0:
        img[y0:y1, x0:x1] = filler[: y1 - y0, : x1 - x0]
    else:
        img[y0:y1, x0:x1] = rng.integers(0, 256, size=(1, 1, 3), dtype=np.uint8) + rng.integers(
            0, 24, size=(y1 - y0, x1 - x0, 3), dtype=np.uint8)
    return img


def flip_pair(template: np.ndarray, search: np.ndarray, box: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mirror both crops horizontally (the box too)."""
    template, search = template[:, ::-1].copy(), search[:, ::-1].copy()
    if box is not None:
        box = box.copy()
        box[0] = search.shape[1] - box[0] - box[2]
    return template, search, box

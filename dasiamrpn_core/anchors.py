"""The SiamRPN anchor grid: one implementation for inference decoding and training targets.

Reproduces the original DaSiamRPN ``generate_anchor`` including its integer truncations:
``ws = int(sqrt(stride**2 / ratio))``, ``hs = int(ws * ratio)`` and the Python 2 integer
division in the grid origin ``-(score_size // 2) * stride``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorConfig:
    """Anchor shapes and the RPN geometry (the original's TrackerConfig values)."""

    total_stride: int = 8
    ratios: tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    scales: tuple[float, ...] = (8.0,)
    exemplar_size: int = 127

    @property
    def anchor_num(self) -> int:
        return len(self.ratios) * len(self.scales)

    def score_size(self, instance_size: int) -> int:
        """Side of the response map for a search crop of ``instance_size`` pixels. It must be odd: the
        grid of :func:`generate_anchors` is centred on the middle cell, and an even map would put every
        anchor half a stride off its cell (an 8-px bias for a stride-16 net at 271 px)."""
        if (instance_size - self.exemplar_size) % self.total_stride:
            raise ValueError(
                f"instance_size {instance_size} - exemplar_size {self.exemplar_size} must be a "
                f"multiple of the stride {self.total_stride}")
        size = (instance_size - self.exemplar_size) // self.total_stride + 1
        if size % 2 == 0:
            raise ValueError(
                f"instance_size {instance_size} gives an even {size}x{size} response map at stride "
                f"{self.total_stride}; use exemplar_size + an even multiple of the stride, e.g. "
                f"{instance_size - self.total_stride} or {instance_size + self.total_stride}")
        return size

    def largest_search_size(self, limit: int) -> int:
        """The largest search crop side <= ``limit`` with an odd response map (at least the exemplar)."""
        period = 2 * self.total_stride
        return self.exemplar_size + max(int(limit) - self.exemplar_size, 0) // period * period


def anchor_shapes(cfg: AnchorConfig) -> np.ndarray:
    """(anchor_num, 2) widths and heights, in the original's ratio-major order."""
    size = cfg.total_stride * cfg.total_stride
    shapes = []
    for ratio in cfg.ratios:
        ws = int(math.sqrt(size / ratio))
        hs = int(ws * ratio)
        for scale in cfg.scales:
            shapes.append((ws * scale, hs * scale))
    return np.asarray(shapes, dtype=np.float32)


def generate_anchors(cfg: AnchorConfig, score_size: int) -> np.ndarray:
    """(anchor_num * S * S, 4) anchors ``(cx, cy, w, h)`` relative to the search-crop centre.

    Layout is anchor-major: index ``a * S * S + row * S + col`` (as the original).
    """
    shapes = anchor_shapes(cfg)
    ori = -(score_size // 2) * cfg.total_stride
    offsets = ori + cfg.total_stride * np.arange(score_size, dtype=np.float32)
    xx, yy = np.meshgrid(offsets, offsets)
    n = cfg.anchor_num
    anchors = np.zeros((n, score_size * score_size, 4), dtype=np.float32)
    anchors[:, :, 0] = xx.reshape(1, -1)
    anchors[:, :, 1] = yy.reshape(1, -1)
    anchors[:, :, 2] = shapes[:, 0:1]
    anchors[:, :, 3] = shapes[:, 1:2]
    return anchors.reshape(-1, 4)

"""ROI-align in pure PyTorch (Mask R-CNN's bilinear ROI-align, batched over all boxes).

torchvision does not import beside this project's torch, so this is self-contained.
Boxes are ``(x1, y1, x2, y2)`` in feature-map coordinates where cell ``i`` spans ``[i, i+1)``
(the ``aligned=True`` convention: a sample at continuous coordinate ``u`` reads cell centre
``u - 0.5``). Samples outside ``[-1, size]`` read zero, as in Mask R-CNN.
"""
from __future__ import annotations

import torch


def _axis_weights(start: torch.Tensor, bin_size: torch.Tensor, n: int, s: int, size: int) -> torch.Tensor:
    """Per ROI, the weights (K, n, size) that turn one axis of the map into the ROI's n bins: each bin
    averages s samples, each sample interpolates its two neighbouring cells (clamped at the edges,
    zero outside ``[-1, size]``)."""
    k = start.shape[0]
    steps = (torch.arange(n, dtype=start.dtype, device=start.device)[:, None]
             + (torch.arange(s, dtype=start.dtype, device=start.device)[None] + 0.5) / s).reshape(-1)
    u = start[:, None] + steps[None] * bin_size[:, None] - 0.5      # (K, n*s) sample coordinates
    inside = ((u >= -1.0) & (u <= size)).to(u.dtype)
    u = u.clamp(min=0.0, max=size - 1)
    u0 = u.floor().long().clamp(max=size - 1)
    u1 = (u0 + 1).clamp(max=size - 1)
    frac = u - u0
    weights = u.new_zeros((k, n * s, size))
    weights.scatter_add_(2, u0[..., None], ((1.0 - frac) * inside)[..., None])
    weights.scatter_add_(2, u1[..., None], (frac * inside)[..., None])
    return weights.reshape(k, n, s, size).mean(dim=2)


def roi_align(feature: torch.Tensor, boxes: torch.Tensor, output_size: int, sampling_ratio: int = 2
              ) -> torch.Tensor:
    """feature (C, H, W), boxes (K, 4) x1,y1,x2,y2 -> (K, C, output_size, output_size).

    Each output bin averages ``sampling_ratio**2`` bilinear samples on a regular grid. The samples of
    a ROI form a product grid, so the interpolation and the averaging separate by axis: the result is
    ``Wy @ feature @ Wx^T`` per ROI, with the per-axis weights of :func:`_axis_weights` (a sample
    outside the map is zero in either axis, as in Mask R-CNN).
    """
    if boxes.numel() == 0:
        return feature.new_zeros((0, feature.shape[0], output_size, output_size))
    _, h, w = feature.shape
    x1, y1, x2, y2 = (boxes[:, i].to(feature.dtype) for i in range(4))
    wy = _axis_weights(y1, (y2 - y1) / output_size, output_size, sampling_ratio, h)   # (K, n, H)
    wx = _axis_weights(x1, (x2 - x1) / output_size, output_size, sampling_ratio, w)   # (K, n, W)
    return torch.einsum("kiy,cyx,kjx->kcij", wy, feature, wx)


def roi_align_reference(feature: torch.Tensor, boxes: torch.Tensor, output_size: int,
                        sampling_ratio: int = 2) -> torch.Tensor:
    """Straightforward per-box, per-bin, per-sample loop (the test oracle for :func:`roi_align`)."""
    c, h, w = feature.shape
    out = feature.new_zeros((boxes.shape[0], c, output_size, output_size))
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        bw, bh = (x2 - x1) / output_size, (y2 - y1) / output_size
        for i in range(output_size):
            for j in range(output_size):
                acc = feature.new_zeros(c)
                for sy in range(sampling_ratio):
                    for sx in range(sampling_ratio):
                        y = y1 + (i + (sy + 0.5) / sampling_ratio) * bh - 0.5
                        x = x1 + (j + (sx + 0.5) / sampling_ratio) * bw - 0.5
                        acc += _bilinear_point(feature, y, x)
                out[k, :, i, j] = acc / sampling_ratio ** 2
    return out


def _bilinear_point(feature: torch.Tensor, y: float, x: float) -> torch.Tensor:
    c, h, w = feature.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return feature.new_zeros(c)
    y, x = min(max(y, 0.0), h - 1), min(max(x, 0.0), w - 1)
    y0, x0 = int(y), int(x)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    return (feature[:, y0, x0] * (1 - ly) * (1 - lx) + feature[:, y0, x1] * (1 - ly) * lx
            + feature[:, y1, x0] * ly * (1 - lx) + feature[:, y1, x1] * ly * lx)

"""ROI-align in pure PyTorch (Mask R-CNN's bilinear ROI-align, batched over all boxes).

torchvision does not import beside this project's torch, so this is self-contained.
Boxes are ``(x1, y1, x2, y2)`` in feature-map coordinates where cell ``i`` spans ``[i, i+1)``
(the ``aligned=True`` convention: a sample at continuous coordinate ``u`` reads cell centre
``u - 0.5``). Samples outside ``[-1, size]`` read zero, as in Mask R-CNN.
"""
from __future__ import annotations

import torch


def _bilinear(feature: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """feature (C, H, W); ys (..., ) xs (...) continuous pixel-centre coords -> (..., C)."""
    c, h, w = feature.shape
    valid = (ys >= -1.0) & (ys <= h) & (xs >= -1.0) & (xs <= w)
    y = ys.clamp(min=0.0, max=h - 1)
    x = xs.clamp(min=0.0, max=w - 1)
    y0 = y.floor().long().clamp(max=h - 1)
    x0 = x.floor().long().clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    x1 = (x0 + 1).clamp(max=w - 1)
    ly, lx = y - y0, x - x0
    hy, hx = 1.0 - ly, 1.0 - lx
    flat = feature.reshape(c, h * w)

    def gather(yy, xx):
        return flat[:, (yy * w + xx).reshape(-1)].reshape(c, *yy.shape)

    out = (gather(y0, x0) * (hy * hx) + gather(y0, x1) * (hy * lx)
           + gather(y1, x0) * (ly * hx) + gather(y1, x1) * (ly * lx))
    out = out * valid.to(out.dtype)
    return out.movedim(0, -1)


def roi_align(feature: torch.Tensor, boxes: torch.Tensor, output_size: int, sampling_ratio: int = 2
              ) -> torch.Tensor:
    """feature (C, H, W), boxes (K, 4) x1,y1,x2,y2 -> (K, C, output_size, output_size).

    Each output bin averages ``sampling_ratio**2`` bilinear samples on a regular grid.
    """
    if boxes.numel() == 0:
        return feature.new_zeros((0, feature.shape[0], output_size, output_size))
    k = boxes.shape[0]
    n, s = output_size, sampling_ratio
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    bin_w = (x2 - x1) / n
    bin_h = (y2 - y1) / n
    # sample offsets inside the ROI: bin b, sample j -> (b + (j + 0.5) / s) * bin
    grid = (torch.arange(n, dtype=feature.dtype, device=feature.device)[:, None]
            + (torch.arange(s, dtype=feature.dtype, device=feature.device)[None] + 0.5) / s).reshape(-1)
    xs = x1[:, None] + grid[None] * bin_w[:, None] - 0.5        # (K, n*s)
    ys = y1[:, None] + grid[None] * bin_h[:, None] - 0.5
    yy = ys[:, :, None].expand(k, n * s, n * s)
    xx = xs[:, None, :].expand(k, n * s, n * s)
    samples = _bilinear(feature, yy, xx)                         # (K, n*s, n*s, C)
    samples = samples.reshape(k, n, s, n, s, -1).mean(dim=(2, 4))  # (K, n, n, C)
    return samples.permute(0, 3, 1, 2).contiguous()


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

"""SiamRPN loss: cross-entropy over labelled anchors + smooth-L1 over positive anchors."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import LossConfig


@dataclass
class LossParts:
    total: torch.Tensor
    cls: torch.Tensor
    reg: torch.Tensor
    accuracy: torch.Tensor   # on labelled anchors (a cheap progress signal)


def flatten_outputs(delta: torch.Tensor, logits: torch.Tensor, anchor_num: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Network outputs -> (B, K, 4) deltas and (B, K, 2) logits in the anchor-major order
    ``a * S * S + row * S + col`` of ``dasiamrpn_core.anchors.generate_anchors``."""
    b, _, s, _ = delta.shape
    d = delta.view(b, 4, anchor_num, s, s).permute(0, 2, 3, 4, 1).reshape(b, -1, 4)
    c = logits.view(b, 2, anchor_num, s, s).permute(0, 2, 3, 4, 1).reshape(b, -1, 2)
    return d, c


def siamrpn_loss(delta: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, deltas: torch.Tensor,
                 weights: torch.Tensor, anchor_num: int, cfg: LossConfig) -> LossParts:
    d, c = flatten_outputs(delta.float(), logits.float(), anchor_num)
    c = c.reshape(-1, 2)
    lab = labels.reshape(-1)
    pos, neg = lab == 1, lab == 0
    ce = F.cross_entropy(c, lab.clamp(min=0), reduction="none")
    zero = c.sum() * 0.0
    pos_loss = ce[pos].mean() if pos.any() else zero
    neg_loss = ce[neg].mean() if neg.any() else zero
    cls = 0.5 * pos_loss + 0.5 * neg_loss if pos.any() else neg_loss
    reg_each = F.smooth_l1_loss(d, deltas, beta=cfg.smooth_l1_beta, reduction="none").sum(-1)
    n_pairs = max(int((weights.sum(-1) > 0).sum()), 1)
    reg = (reg_each * weights).sum() / n_pairs
    with torch.no_grad():
        labelled = lab >= 0
        acc = ((c.argmax(-1) == lab) & labelled).sum().float() / labelled.sum().clamp(min=1)
    total = cfg.cls_weight * cls + cfg.reg_weight * reg
    return LossParts(total, cls, reg, acc)

"""Network initialisation for training from scratch.

``tied``: He-normal backbone, and a classification head whose foreground kernels start as
``+c * conv_cls2`` and background kernels as ``-c * conv_cls2`` (the construction of
``shared/reference/make_weights.py``): the classification branch then begins as a real
template/search cross-correlation (a SiamFC), which converges much faster than i.i.d. kernels.
The regression branch starts near zero so early boxes keep the anchor shapes.
"""
from __future__ import annotations

import torch
from torch import nn

from dasiamrpn_core.models import SiamRPN

TIE_NOISE = 0.3          # i.i.d. part of the tied classification kernels, relative to the tie
REG_ADJUST_GAIN = 0.1    # regress_adjust starts close to a scaled identity ...
TARGET_LOGIT_STD = 1.0   # the tie scale is calibrated so fg-bg logits have about this spread


def init_backbone(net: SiamRPN) -> None:
    for m in net.featureExtract:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def init_tied(net: SiamRPN, generator: torch.Generator, calibration: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> None:
    """Tied (SiamFC-like) head initialisation; ``calibration`` = a (z, x) batch to scale the tie."""
    init_backbone(net)
    fo, a = net.spec.feature_out, net.spec.anchor_num
    for conv in (net.conv_r2, net.conv_cls2, net.conv_r1):
        fan_in = conv.weight[0].numel()
        conv.weight.normal_(0, fan_in ** -0.5, generator=generator)
        nn.init.zeros_(conv.bias)
    net.conv_r1.weight.mul_(0.1 / fo ** 0.5)
    w2 = net.conv_cls2.weight
    w = torch.empty_like(net.conv_cls1.weight)
    for j in range(2 * a):
        sign = 1.0 if j >= a else -1.0
        noise = torch.randn(w2.shape, generator=generator) * (w2.std() * TIE_NOISE)
        w[j * fo:(j + 1) * fo] = sign * (w2 + noise)
    net.conv_cls1.weight.copy_(w)
    nn.init.zeros_(net.conv_cls1.bias)
    adj = net.regress_adjust
    adj.weight.copy_(torch.eye(4 * a)[:, :, None, None] * REG_ADJUST_GAIN)
    nn.init.zeros_(adj.bias)
    scale = 1.0 / fo
    if calibration is not None:
        z, x = calibration
        was_training = net.training
        net.train()
        _, logits = net(z, x)
        net.train(was_training)
        b, _, s, _ = logits.shape
        diff = (logits[:, a:] - logits[:, :a]).std()
        scale = TARGET_LOGIT_STD / max(float(diff), 1e-6)
    net.conv_cls1.weight.mul_(scale)
    balance_bilinear(net.conv_cls1, net.conv_cls2, 2 * a)
    balance_bilinear(net.conv_r1, net.conv_r2, 4 * a)
    # BN running statistics were touched by the calibration pass; reset them
    for m in net.featureExtract:
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()


@torch.no_grad()
def balance_bilinear(kernel_conv: nn.Conv2d, feature_conv: nn.Conv2d, n_kernels: int) -> None:
    """Rescale the two factors of a correlation head (kernel branch by k, search branch by 1/k,
    output unchanged) so each kernel has the norm of the search filter bank: SGD then moves both
    factors at the same relative rate instead of blowing up the smaller one."""
    a = float(kernel_conv.weight.norm()) / n_kernels ** 0.5
    b = float(feature_conv.weight.norm())
    k = (b / max(a, 1e-12)) ** 0.5
    kernel_conv.weight.mul_(k)
    kernel_conv.bias.mul_(k)
    feature_conv.weight.div_(k)
    feature_conv.bias.div_(k)


def initialise(net: SiamRPN, mode: str, seed: int, calibration=None) -> None:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if mode == "tied":
        init_tied(net, g, calibration)
    elif mode == "random":
        init_backbone(net)
    else:
        raise ValueError(f"unknown init {mode!r}: expected 'tied', 'random' or a checkpoint path")

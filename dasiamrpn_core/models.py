"""SiamRPN networks with the original DaSiamRPN layer order and state-dict keys.

``SiamRPN`` keeps the exact module layout of foolwood/DaSiamRPN ``code/net.py`` so the
published ``SiamRPNBIG.model`` / ``SiamRPNVOT.model`` / ``SiamRPNOTB.model`` load with
``strict=True``. Unlike the original, the module is stateless: template kernels are returned
to the caller (the tracker holds them), and training uses :meth:`SiamRPN.forward` on batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BASE_CHANNELS = (96, 256, 384, 384, 256)
KERNEL_SIZES = (11, 5, 3, 3, 3)


@dataclass(frozen=True)
class ArchSpec:
    """Architecture of a SiamRPN network.

    width: multiplier of the AlexNet channel widths (2 = BIG, 1 = vot/otb, <1 = compact).
    feature_out: channels of the correlation features (512 BIG, 256 vot/otb).
    anchor_num: anchors per position.
    """

    name: str
    width: float
    feature_out: int
    anchor_num: int = 5

    @property
    def channels(self) -> tuple[int, ...]:
        return (3,) + tuple(int(round(c * self.width)) for c in BASE_CHANNELS)

    def to_dict(self) -> dict:
        return {"name": self.name, "width": float(self.width), "feature_out": int(self.feature_out),
                "anchor_num": int(self.anchor_num)}

    @staticmethod
    def from_dict(data: dict) -> "ArchSpec":
        unknown = set(data) - {"name", "width", "feature_out", "anchor_num"}
        if unknown:
            raise ValueError(f"unknown architecture fields {sorted(unknown)}")
        return ArchSpec(str(data["name"]), float(data["width"]), int(data["feature_out"]),
                        int(data.get("anchor_num", 5)))


ARCHITECTURES: dict[str, ArchSpec] = {
    "SiamRPNBIG": ArchSpec("SiamRPNBIG", 2.0, 512),
    "SiamRPNvot": ArchSpec("SiamRPNvot", 1.0, 256),
    "SiamRPNotb": ArchSpec("SiamRPNotb", 1.0, 256),
    # the compact CPU variant trained for the bundled model
    "SiamRPNcompact": ArchSpec("SiamRPNcompact", 0.5, 128),
}


def template_kernels(layers: nn.Module, z_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``conv_r1``/``conv_cls1`` of ``layers`` on template features, reshaped into correlation kernels."""
    b = z_f.shape[0]
    r = layers.conv_r1(z_f)
    c = layers.conv_cls1(z_f)
    k = r.shape[-1]
    fo, a = layers.spec.feature_out, layers.spec.anchor_num
    return r.view(b, 4 * a, fo, k, k), c.view(b, 2 * a, fo, k, k)


class SiamRPN(nn.Module):
    """AlexNet backbone + the SiamRPN up-channel head (original module names)."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        ch = spec.channels
        layers: list[nn.Module] = []
        for i in range(5):
            stride = 2 if i == 0 else 1
            layers += [nn.Conv2d(ch[i], ch[i + 1], kernel_size=KERNEL_SIZES[i], stride=stride),
                       nn.BatchNorm2d(ch[i + 1])]
            if i < 2:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))  # pool before ReLU, as the original
            if i < 4:
                layers.append(nn.ReLU(inplace=True))
        self.featureExtract = nn.Sequential(*layers)
        feat_in, fo, a = ch[-1], spec.feature_out, spec.anchor_num
        self.conv_r1 = nn.Conv2d(feat_in, fo * 4 * a, 3)
        self.conv_r2 = nn.Conv2d(feat_in, fo, 3)
        self.conv_cls1 = nn.Conv2d(feat_in, fo * 2 * a, 3)
        self.conv_cls2 = nn.Conv2d(feat_in, fo, 3)
        self.regress_adjust = nn.Conv2d(4 * a, 4 * a, 1)

    def template_kernels(self, z_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Template features (B, C, k, k) -> regression (B, 4A, fo, k', k') and
        classification (B, 2A, fo, k', k') correlation kernels."""
        return template_kernels(self, z_f)

    def head(self, x_f: torch.Tensor, reg_kernel: torch.Tensor, cls_kernel: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched correlation of search features with per-sample kernels.

        Returns delta (B, 4A, S, S) and class logits (B, 2A, S, S); channel layout as the
        original (``delta``: coord * A + anchor; ``score``: 0..A-1 background, A..2A-1 foreground).
        """
        b = x_f.shape[0]
        reg_in = self.conv_r2(x_f)
        cls_in = self.conv_cls2(x_f)
        fo = self.spec.feature_out
        s = reg_in.shape[-1]
        reg = F.conv2d(reg_in.reshape(1, b * fo, s, s), reg_kernel.flatten(0, 1), groups=b)
        cls = F.conv2d(cls_in.reshape(1, b * fo, s, s), cls_kernel.flatten(0, 1), groups=b)
        out = reg.shape[-1]
        delta = self.regress_adjust(reg.view(b, -1, out, out))
        return delta, cls.view(b, -1, out, out)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward: template crops (B,3,127,127), search crops (B,3,N,N)."""
        reg_k, cls_k = self.template_kernels(self.featureExtract(z))
        return self.head(self.featureExtract(x), reg_k, cls_k)


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride)
    fused.weight.data = (conv.weight.double() * scale[:, None, None, None]).float()
    fused.bias.data = ((conv.bias.double() - bn.running_mean.double()) * scale + bn.bias.double()).float()
    return fused


class InferenceNet(nn.Module):
    """Inference-only form of a trained :class:`SiamRPN` with linear layers folded ahead of time.

    * BatchNorm is folded into the preceding convolution.
    * At template time, ``conv_r2``/``conv_cls2`` are composed with the template kernels (and
      ``regress_adjust`` with the regression kernels) into one 6x6 correlation with 6A output
      channels, so tracking computes the backbone plus a single small convolution.

    Folding is done in float64 and rounded once, so results stay within float32 noise of the
    unfolded original.
    """

    def __init__(self, net: SiamRPN):
        super().__init__()
        self.spec = net.spec
        layers: list[nn.Module] = []
        modules = list(net.featureExtract)
        i = 0
        while i < len(modules):
            m = modules[i]
            if isinstance(m, nn.Conv2d):
                layers.append(_fold_bn(m, modules[i + 1]))
                i += 2
                continue
            layers.append(nn.MaxPool2d(3, 2) if isinstance(m, nn.MaxPool2d) else nn.ReLU(inplace=True))
            i += 1
        # channels-last: the HWC uint8 crop becomes an NHWC-strided tensor without a copy, and the
        # oneDNN convolutions run faster on that layout than on NCHW
        self.backbone = nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)
        # only the head layers are kept (not a second copy of the backbone)
        self.conv_r1, self.conv_cls1 = net.conv_r1, net.conv_cls1
        self.conv_r2, self.conv_cls2, self.regress_adjust = net.conv_r2, net.conv_cls2, net.regress_adjust

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x.contiguous(memory_format=torch.channels_last))

    @torch.no_grad()
    def fold_head(self, z_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Template features (1, C, k, k) -> (weight (6A, C, k2, k2), bias (6A,)) of the folded head.

        Output channels: 0..4A-1 regression deltas (after ``regress_adjust``), 4A..6A-1 class logits.
        """
        reg_k, cls_k = template_kernels(self, z_f)
        reg_k, cls_k = reg_k[0].double(), cls_k[0].double()
        w_r2, b_r2 = self.conv_r2.weight.double(), self.conv_r2.bias.double()
        w_c2, b_c2 = self.conv_cls2.weight.double(), self.conv_cls2.bias.double()
        # corr(conv(x, W2) + b2, K) == conv(x, conv_transpose(K, W2)) + sum(K * b2)
        w_reg = F.conv_transpose2d(reg_k, w_r2)
        b_reg = (reg_k.sum(dim=(2, 3)) * b_r2[None]).sum(dim=1)
        w_cls = F.conv_transpose2d(cls_k, w_c2)
        b_cls = (cls_k.sum(dim=(2, 3)) * b_c2[None]).sum(dim=1)
        adj_w = self.regress_adjust.weight.double()[:, :, 0, 0]
        w_reg = torch.einsum("oc,cfst->ofst", adj_w, w_reg)
        b_reg = adj_w @ b_reg + self.regress_adjust.bias.double()
        weight = torch.cat([w_reg, w_cls]).to(z_f.dtype).contiguous()
        bias = torch.cat([b_reg, b_cls]).to(z_f.dtype).contiguous()
        return weight, bias

    @torch.no_grad()
    def head(self, x_f: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.conv2d(x_f, weight, bias)
        a4 = 4 * self.spec.anchor_num
        return out[:, :a4], out[:, a4:]


def build_network(spec: ArchSpec) -> SiamRPN:
    return SiamRPN(spec)

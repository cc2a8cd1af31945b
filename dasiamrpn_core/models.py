"""The Siamese RPN networks: the original DaSiamRPN AlexNet nets and a SiamRPN++-style net on an
ImageNet-pretrained EfficientNet-Lite0 trunk (the second bundled model).

``SiamRPN`` keeps the exact module layout of foolwood/DaSiamRPN ``code/net.py`` so the
published ``SiamRPNBIG.model`` / ``SiamRPNVOT.model`` / ``SiamRPNOTB.model`` load with
``strict=True``. Unlike the original, the module is stateless: template kernels are returned
to the caller (the tracker holds them), and training uses :meth:`SiamRPN.forward` on batches.

``SiamRPNLite`` (:class:`LiteArchSpec`) is this project's design, described in its docstring. Both
families share the contract the tracker and the trainer use: ``forward(z, x) -> (delta, logits)``
with the original channel layout, ``spec.stride`` / ``spec.anchor_num``, and ``inference()``, the
folded inference form with ``features`` / ``fold_head`` / ``head``.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet import VARIANTS, EfficientNetLite, block_stride

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

    family = "alexnet"
    stride = 8           # total stride of the backbone (the original's total_stride)

    @property
    def channels(self) -> tuple[int, ...]:
        return (3,) + tuple(int(round(c * self.width)) for c in BASE_CHANNELS)

    def to_dict(self) -> dict:
        return {"name": self.name, "width": float(self.width), "feature_out": int(self.feature_out),
                "anchor_num": int(self.anchor_num)}

    @staticmethod
    def from_dict(data: dict) -> ArchSpec:
        unknown = set(data) - {"name", "width", "feature_out", "anchor_num"}
        if unknown:
            raise ValueError(f"unknown architecture fields {sorted(unknown)}")
        return ArchSpec(str(data["name"]), float(data["width"]), int(data["feature_out"]),
                        int(data.get("anchor_num", 5)))


LITE_FAMILY_PREFIX = "efficientnet_"   # a Lite net's stored family: the prefix + its trunk variant


@dataclass(frozen=True)
class LiteArchSpec:
    """A SiamRPN++-style network on the first ``backbone_blocks`` MBConv blocks of an EfficientNet-Lite
    trunk (``trunk``: ``lite0`` or ``lite2``; the file stores it as the family ``efficientnet_<trunk>``).

    backbone_blocks: Lite0 11 = through the stride-16, 112-channel stage (8 = through the 80-channel
    one); Lite2 15 = through its stride-16, 120-channel stage.
    neck_channels: channels of the adjust layer and of the depth-wise correlation branches.
    """

    name: str
    backbone_blocks: int = 11
    neck_channels: int = 128
    anchor_num: int = 5
    trunk: str = "lite0"

    @property
    def family(self) -> str:
        return LITE_FAMILY_PREFIX + self.trunk

    @property
    def stride(self) -> int:
        return block_stride(self.backbone_blocks, self.trunk)

    def to_dict(self) -> dict:
        return {"family": self.family, "name": self.name, "backbone_blocks": int(self.backbone_blocks),
                "neck_channels": int(self.neck_channels), "anchor_num": int(self.anchor_num)}

    @staticmethod
    def from_dict(data: dict) -> LiteArchSpec:
        unknown = set(data) - {"family", "name", "backbone_blocks", "neck_channels", "anchor_num"}
        if unknown:
            raise ValueError(f"unknown architecture fields {sorted(unknown)}")
        return LiteArchSpec(str(data["name"]), int(data["backbone_blocks"]), int(data["neck_channels"]),
                            int(data.get("anchor_num", 5)), trunk=str(data["family"]).removeprefix(LITE_FAMILY_PREFIX))


LITE_FAMILIES = tuple(LITE_FAMILY_PREFIX + v for v in VARIANTS)


def spec_from_dict(data: dict) -> ArchSpec | LiteArchSpec:
    """The architecture stored in a project checkpoint (files without ``family`` are AlexNet nets)."""
    family = data.get("family", ArchSpec.family)
    if family in LITE_FAMILIES:
        return LiteArchSpec.from_dict(data)
    if family != ArchSpec.family:
        raise ValueError(f"unknown architecture family {family!r}")
    return ArchSpec.from_dict(data)


ARCHITECTURES: dict[str, ArchSpec | LiteArchSpec] = {
    "SiamRPNBIG": ArchSpec("SiamRPNBIG", 2.0, 512),
    "SiamRPNvot": ArchSpec("SiamRPNvot", 1.0, 256),
    "SiamRPNotb": ArchSpec("SiamRPNotb", 1.0, 256),
    # the compact CPU variant trained for the bundled model
    "SiamRPNcompact": ArchSpec("SiamRPNcompact", 0.5, 128),
    # the second bundled model: ImageNet EfficientNet-Lite0 trunk to stride 16 + depth-wise RPN
    "SiamRPNLite0": LiteArchSpec("SiamRPNLite0", 11, 128),
    # the same design on the wider, deeper EfficientNet-Lite2 trunk (stride 16, 120 channels)
    "SiamRPNLite2": LiteArchSpec("SiamRPNLite2", 15, 128, trunk="lite2"),
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

    def inference(self) -> InferenceNet:
        return InferenceNet(self)


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` (same class, padding, groups) with ``bn`` folded in, computed in float64."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    fused = copy.deepcopy(conv)
    fused.weight = nn.Parameter((conv.weight.double() * scale[:, None, None, None]).float())
    fused.bias = nn.Parameter(((bias - bn.running_mean.double()) * scale + bn.bias.double()).float())
    return fused


def stack_kernels(kernels: Sequence[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """Several targets' kernels (each as ``template`` gave them) stacked on a leading target axis."""
    return tuple(torch.stack(k) for k in zip(*kernels))


class TemplateSearch:
    """The two calls a tracker makes on a network, and what an exported graph pair implements
    (``dasiamrpn_core.runtime``): ``template`` at ``init``, ``search`` on every frame."""

    spec: ArchSpec | LiteArchSpec

    def template(self, z: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Template crop (1, 3, 127, 127) -> (template features, the head's kernels for this target)."""
        z_f = self.features(z)
        return z_f, self.fold_head(z_f)

    def search(self, x: torch.Tensor, kernels: tuple[torch.Tensor, ...]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Search crop (1, 3, S, S) and kernels -> (search features, box deltas, class logits)."""
        x_f = self.features(x)
        delta, logits = self.head(x_f, *kernels)
        return x_f, delta, logits

    def stack_kernels(self, kernels: Sequence[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        return stack_kernels(kernels)

    def search_batch(self, x: torch.Tensor, kernels: tuple[torch.Tensor, ...]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """B search crops (B, 3, S, S), one per target, with the targets' kernels (``stack_kernels``)
        in one call: the trunk runs once on the batch and crop b is correlated with kernel b only."""
        x_f = self.features(x)
        delta, logits = self.batched_head(x_f, *kernels)
        return x_f, delta, logits

    @property
    def precision(self) -> str:
        """What the network computes in ("float32", "bfloat16", "float16"): its weights' dtype."""
        return str(next(self.parameters()).dtype).removeprefix("torch.")

    def host_ops(self) -> contextlib.AbstractContextManager:
        """The context in which the tracker runs its own tensor operations (crops, softmax, ROI align)
        around these calls: as they are, for a PyTorch net."""
        return contextlib.nullcontext()


class InferenceNet(TemplateSearch, nn.Module):
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
    def fold_head(self, z_f: torch.Tensor, compute_dtype: torch.dtype = torch.float64
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Template features (1, C, k, k) -> (weight (6A, C, k2, k2), bias (6A,)) of the folded head.

        Output channels: 0..4A-1 regression deltas (after ``regress_adjust``), 4A..6A-1 class logits.
        ``compute_dtype``: float64 here; the ONNX export folds in float32 (the runtimes have no
        float64 convolutions), within 1e-6 relative of it.
        """
        reg_k, cls_k = template_kernels(self, z_f)
        reg_k, cls_k = reg_k[0].to(compute_dtype), cls_k[0].to(compute_dtype)
        w_r2, b_r2 = self.conv_r2.weight.to(compute_dtype), self.conv_r2.bias.to(compute_dtype)
        w_c2, b_c2 = self.conv_cls2.weight.to(compute_dtype), self.conv_cls2.bias.to(compute_dtype)
        # corr(conv(x, W2) + b2, K) == conv(x, conv_transpose(K, W2)) + sum(K * b2)
        w_reg = F.conv_transpose2d(reg_k, w_r2)
        b_reg = (reg_k.sum(dim=(2, 3)) * b_r2[None]).sum(dim=1)
        w_cls = F.conv_transpose2d(cls_k, w_c2)
        b_cls = (cls_k.sum(dim=(2, 3)) * b_c2[None]).sum(dim=1)
        adj_w = self.regress_adjust.weight.to(compute_dtype)[:, :, 0, 0]
        w_reg = torch.einsum("oc,cfst->ofst", adj_w, w_reg)
        b_reg = adj_w @ b_reg + self.regress_adjust.bias.to(compute_dtype)
        weight = torch.cat([w_reg, w_cls]).to(z_f.dtype).contiguous()
        bias = torch.cat([b_reg, b_cls]).to(z_f.dtype).contiguous()
        return weight, bias

    @torch.no_grad()
    def head(self, x_f: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.conv2d(x_f, weight, bias)
        a4 = 4 * self.spec.anchor_num
        return out[:, :a4], out[:, a4:]

    @torch.no_grad()
    def batched_head(self, x_f: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``head`` for B targets at once, weight (B, 6A, C, k, k), bias (B, 6A): one convolution
        grouped by target over the batch's features."""
        b, c, s = x_f.shape[0], x_f.shape[1], x_f.shape[-1]
        out = F.conv2d(x_f.contiguous().reshape(1, b * c, s, s), weight.flatten(0, 1), bias.flatten(), groups=b)
        out = out.view(b, -1, out.shape[-2], out.shape[-1])
        a4 = 4 * self.spec.anchor_num
        return out[:, :a4], out[:, a4:]


def _conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseBranch(nn.Module):
    """One SiamRPN++ branch: 3x3 conv of the template (-> kernels) and of the search features, their
    depth-wise cross-correlation, then a 1x1 head to ``out_channels`` outputs per position."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv_kernel = _conv_bn_relu(channels, channels, 3)
        self.conv_search = _conv_bn_relu(channels, channels, 3)
        self.head = nn.Sequential(_conv_bn_relu(channels, channels, 1), nn.Conv2d(channels, out_channels, 1))

    def forward(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.head(depthwise_xcorr(self.conv_search(search), kernel))


def depthwise_xcorr(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel cross-correlation of (B, C, H, W) with (B, C, k, k) kernels."""
    b, c = kernel.shape[:2]
    out = F.conv2d(x.reshape(1, b * c, *x.shape[2:]), kernel.reshape(b * c, 1, *kernel.shape[2:]), groups=b * c)
    return out.view(b, c, *out.shape[2:])


class SiamRPNLite(nn.Module):
    """Siamese RPN on an ImageNet-pretrained EfficientNet-Lite0 trunk (this project's design).

    * trunk: EfficientNet-Lite0 to ``spec.backbone_blocks`` MBConv blocks (stride 16), TF SAME
      padding; a 127-px template gives 8x8 features, a 255-px search crop 16x16. For odd crop sides
      N with (N + 1) divisible by 16 (127, 255, 271, 431 ...), feature cell d is centred on crop pixel
      16 d + 14 in both crops, so template and search are offset alike and score cell i is displaced
      16 (i - (S - 1) / 2) pixels from the crop centre, the anchor grid of ``dasiamrpn_core.anchors``.
    * adjust: 1x1 conv + BN to ``neck_channels`` (SiamRPN++'s AdjustLayer, no template crop: the
      8x8 template is small already).
    * two :class:`DepthwiseBranch` es (SiamRPN++ DepthwiseRPN): classification (2A) and box deltas (4A),
      a 9x9 score map for a 255-px crop (13x13 for the default file's 319), in the original's
      channel layout.

    ``frozen_blocks`` (set by the trainer): that many leading trunk blocks (and the stem) run in eval
    mode without gradients; the default -1 freezes the whole trunk.
    """

    def __init__(self, spec: LiteArchSpec):
        super().__init__()
        self.spec = spec
        self.backbone = EfficientNetLite(spec.backbone_blocks, variant=spec.trunk)
        c, a = spec.neck_channels, spec.anchor_num
        self.adjust = nn.Sequential(nn.Conv2d(self.backbone.out_channels, c, 1, bias=False), nn.BatchNorm2d(c))
        self.cls = DepthwiseBranch(c, 2 * a)
        self.loc = DepthwiseBranch(c, 4 * a)
        self.frozen_blocks = -1

    @property
    def frozen_blocks(self) -> int:
        return self._frozen_blocks

    @frozen_blocks.setter
    def frozen_blocks(self, value: int) -> None:
        """Freeze the stem and the first ``value`` trunk blocks (-1: all): no gradients (so DDP and
        the optimiser skip them) and BatchNorm statistics kept."""
        self._frozen_blocks = int(value)
        trunk = (self.backbone.stem, self.backbone.stem_bn, *self.backbone.blocks)
        for i, module in enumerate(trunk):
            module.requires_grad_(i >= 2 + self._frozen_count())

    def _frozen_count(self) -> int:
        n = len(self.backbone.blocks)
        return n if self._frozen_blocks < 0 else min(self._frozen_blocks, n)

    def train(self, mode: bool = True) -> SiamRPNLite:
        super().train(mode)
        k = self._frozen_count()
        self.backbone.stem_bn.train(False)
        for block in self.backbone.blocks[:k]:
            block.train(False)
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk features; the frozen part runs without autograd."""
        k = self._frozen_count()
        t = self.backbone
        with torch.no_grad():
            x = t.stem_features(x)
            for block in t.blocks[:k]:
                x = block(x)
        for block in t.blocks[k:]:
            x = block(x)
        return x

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zf, xf = self.adjust(self.features(z)), self.adjust(self.features(x))
        logits = self.cls(self.cls.conv_kernel(zf), xf)
        delta = self.loc(self.loc.conv_kernel(zf), xf)
        return delta, logits

    def inference(self) -> LiteInferenceNet:
        return LiteInferenceNet(self)


def _fused(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with every Conv2d followed by a BatchNorm2d folded (``_fold_bn``)."""
    module = copy.deepcopy(module).eval()
    for parent in module.modules():
        names = list(parent._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = parent._modules[first], parent._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                parent._modules[first] = _fold_bn(conv, bn)
                parent._modules[second] = nn.Identity()
    return module


class LiteInferenceNet(TemplateSearch, nn.Module):
    """Inference form of :class:`SiamRPNLite`: BatchNorm folded, channels-last, the template branch
    convolutions run once at ``init`` (``fold_head``)."""

    def __init__(self, net: SiamRPNLite):
        super().__init__()
        self.spec = net.spec
        self.backbone = _fused(net.backbone).to(memory_format=torch.channels_last)
        self.adjust = _fused(net.adjust)
        self.cls = _fused(net.cls)
        self.loc = _fused(net.loc)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x.contiguous(memory_format=torch.channels_last))

    @torch.no_grad()
    def fold_head(self, z_f: torch.Tensor, compute_dtype: torch.dtype | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Template features -> (classification, regression) depth-wise kernels (1, C, k, k)
        (computed in the features' dtype: ``compute_dtype`` is accepted for a uniform call)."""
        zf = self.adjust(z_f)
        return self.cls.conv_kernel(zf).contiguous(), self.loc.conv_kernel(zf).contiguous()

    @torch.no_grad()
    def head(self, x_f: torch.Tensor, cls_kernel: torch.Tensor, loc_kernel: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        xf = self.adjust(x_f)
        return self.loc(loc_kernel, xf), self.cls(cls_kernel, xf)

    @torch.no_grad()
    def batched_head(self, x_f: torch.Tensor, cls_kernel: torch.Tensor, loc_kernel: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """``head`` for B targets at once, kernels (B, 1, C, k, k): the depth-wise correlation is
        already per sample (``depthwise_xcorr``, grouped over batch and channels)."""
        return self.head(x_f, cls_kernel.flatten(0, 1), loc_kernel.flatten(0, 1))


def build_network(spec: ArchSpec | LiteArchSpec) -> SiamRPN | SiamRPNLite:
    if isinstance(spec, LiteArchSpec):
        return SiamRPNLite(spec)
    return SiamRPN(spec)

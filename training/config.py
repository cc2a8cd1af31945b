"""Training configuration: frozen dataclasses built from one YAML file plus ``key=value`` overrides.

Every field is documented where it is declared. Unknown keys raise :class:`ConfigError`, so a
misspelt setting never silently falls back to a default. Derived values (score-map size,
anchor count) are properties, never repeated in YAML.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dasiamrpn_core.anchors import AnchorConfig

DATASET_KINDS = ("got10k", "vid", "youtube_bb", "lasot", "det", "coco", "sequences", "mot", "photos", "prepared",
                 "videos", "flow_videos")


INIT_KEYWORDS = ("tied", "random", "imagenet")   # TrainConfig.init values that are not checkpoint paths


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DatasetSpec:
    """One training (or validation) data source."""

    kind: str                      # one of DATASET_KINDS
    root: str = ""                 # dataset root directory ("" = the built-in default of `photos`/`videos`);
                                   # ${DASIAMRPN_SHARED} (any environment variable) is expanded
    name: str = ""                 # label in logs and provenance (defaults to kind)
    weight: float = 1.0            # relative share of this source when drawing a positive pair
    split: str = "train"           # split sub-folder where the layout has one (GOT-10k, VID, LaSOT, COCO);
                                   # with split_file: the videos that file assigns to this split
    split_file: str = ""           # sequences/mot: a split file by video (training/split.py), e.g.
                                   # training/splits/real_v1.json with split train | heldout
    min_frames: int = 1            # drop tracks annotated on fewer frames (held-out: too short to score)
    annotations: str = ""          # annotation file where the layout needs one (COCO json, YouTube-BB csv)
    include: tuple[str, ...] = ()  # only these sequence/image names (empty = all)
    exclude: tuple[str, ...] = ()  # drop these sequence/image names
    max_items: int = 0             # keep at most this many sequences/images (0 = all), first in sorted order
    max_frame_gap: int = 100       # video positives: largest frame distance between template and search
    proposals_per_image: int = 24  # photos/videos: objectness proposals drawn per still image

    def __post_init__(self):
        if self.kind not in DATASET_KINDS:
            raise ConfigError(f"dataset kind {self.kind!r} unknown; expected one of {DATASET_KINDS}")
        if self.weight < 0:
            raise ConfigError(f"dataset {self.label}: weight must be >= 0, got {self.weight}")
        if self.max_frame_gap < 1:
            raise ConfigError(f"dataset {self.label}: max_frame_gap must be >= 1")
        if self.split_file and self.kind not in ("sequences", "mot"):
            raise ConfigError(f"dataset {self.label}: split_file is for kinds sequences and mot, not {self.kind}")
        if self.min_frames < 1:
            raise ConfigError(f"dataset {self.label}: min_frames must be >= 1")

    @property
    def label(self) -> str:
        return self.name or self.kind


@dataclass(frozen=True)
class SamplingConfig:
    """Pair sampling proportions (DaSiamRPN §3.1). They are normalised to sum to 1."""

    video_positive: float = 0.45       # two frames of the same video within max_frame_gap
    still_positive: float = 0.25       # one still image, two different augmentations
    negative_other_category: float = 0.15  # template and search from different categories
    negative_same_category: float = 0.15   # same category, a different instance (look-alike distractor)
    # an object's patch pasted on another photo at a new shape (aspect up to paste_max_aspect either
    # way) and moved between template and search: the box is the patch's, with visible boundaries
    paste_positive: float = 0.0
    paste_max_aspect: float = 4.0
    distractor_paste: float = 0.3      # positives: probability of pasting a same-category look-alike
                                       # next to the target in the search crop (labelled negative)
    template_size: int = 127           # exemplar crop side (network pixels)
    search_size: int = 255             # training search crop side; (search - template) % stride == 0
    context_amount: float = 0.5        # context added around the target, as in tracking
    min_box_pixels: float = 4.0        # skip annotated boxes narrower/shorter than this (counted, warned)

    def __post_init__(self):
        shares = (self.video_positive, self.still_positive, self.negative_other_category,
                  self.negative_same_category, self.paste_positive)
        if min(shares) < 0 or sum(shares) <= 0:
            raise ConfigError(f"sampling proportions must be >= 0 and not all 0, got {shares}")
        if not 0 <= self.distractor_paste <= 1:
            raise ConfigError("sampling.distractor_paste must be in [0, 1]")
        if self.paste_max_aspect < 1:
            raise ConfigError(f"sampling.paste_max_aspect must be >= 1, got {self.paste_max_aspect}")

    @property
    def proportions(self) -> dict[str, float]:
        raw = {"video_positive": self.video_positive, "still_positive": self.still_positive,
               "negative_other_category": self.negative_other_category,
               "negative_same_category": self.negative_same_category, "paste_positive": self.paste_positive}
        total = sum(raw.values())
        return {k: v / total for k, v in raw.items()}


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation of the template and search crops (probabilities and magnitudes)."""

    search_shift: float = 64.0         # max target-centre offset from the search-crop centre (network px)
    search_scale: float = 0.18         # search crop scale jitter: factor exp(U(-s, s))
    search_aspect: float = 0.12        # independent x/y stretch: factor exp(U(-a, a)) per axis
    template_shift: float = 4.0        # template centre jitter (network px)
    template_scale: float = 0.05       # template scale jitter
    rotation_deg: float = 5.0          # still-image positives: search rotation in [-r, r] degrees
    blur_prob: float = 0.15            # Gaussian blur
    motion_blur_prob: float = 0.15     # linear motion-blur kernel of random direction
    max_blur_kernel: int = 9           # largest blur kernel side (odd)
    color_prob: float = 0.8            # brightness/contrast/per-channel gain jitter
    brightness: float = 32.0           # additive brightness range (0..255 scale)
    contrast: float = 0.25             # contrast factor range exp(U(-c, c))
    channel_gain: float = 0.1          # per-channel gain range exp(U(-g, g))
    grayscale_prob: float = 0.05       # both crops to grayscale (kept 3-channel)
    flip_prob: float = 0.1             # horizontal flip of both crops (box mirrored)
    occluder_prob: float = 0.15        # random rectangle (noise or another image) over part of the search target
    max_occlusion: float = 0.4         # largest fraction of the target box an occluder covers

    def __post_init__(self):
        for name in ("blur_prob", "motion_blur_prob", "color_prob", "grayscale_prob", "flip_prob",
                     "occluder_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"augment.{name} must be a probability in [0, 1], got {value}")
        if self.max_blur_kernel < 3 or self.max_blur_kernel % 2 == 0:
            raise ConfigError("augment.max_blur_kernel must be an odd number >= 3")


@dataclass(frozen=True)
class TargetConfig:
    """SiamRPN anchor targets."""

    positive_iou: float = 0.6          # anchor IoU with the target >= this: positive
    negative_iou: float = 0.3          # anchor IoU < this: negative
    total_samples: int = 64            # labelled anchors per pair
    max_positives: int = 16            # at most this many positives among them
    anchors: AnchorConfig = field(default_factory=AnchorConfig)

    def __post_init__(self):
        if not 0 < self.negative_iou <= self.positive_iou <= 1:
            raise ConfigError("targets: need 0 < negative_iou <= positive_iou <= 1")
        if not 0 < self.max_positives <= self.total_samples:
            raise ConfigError("targets: need 0 < max_positives <= total_samples")


@dataclass(frozen=True)
class LossConfig:
    cls_weight: float = 1.0            # weight of the classification cross-entropy
    reg_weight: float = 1.2            # weight of the smooth-L1 regression (positives only)
    smooth_l1_beta: float = 1.0 / 9.0  # smooth-L1 transition point (normalised deltas)


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum, linear warm-up then log-linear (exponential) decay."""

    lr: float = 0.01                   # peak learning rate (after warm-up)
    final_lr: float = 0.0005           # learning rate at the last step (log-space interpolation)
    warmup_steps: int = 200            # linear warm-up from warmup_start_lr to lr
    warmup_start_lr: float = 0.001     # learning rate at step 0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 10.0            # max global gradient norm (0 = off)
    frozen_backbone_convs: int = 0     # AlexNet nets: first N backbone convolutions (and their BN) kept frozen ...
    unfreeze_step: int = 0             # ... until this step (0 = for the whole run)
    trainable_backbone_blocks: int = 0  # EfficientNet-Lite nets: the last N trunk blocks are trained (with
                                        # BN statistics); the rest of the ImageNet trunk stays frozen
    backbone_lr_factor: float = 1.0    # learning rate of those trunk blocks relative to the schedule's
                                       # (fine-tuning a pretrained trunk: e.g. 0.1, as in SiamRPN++)
    amp: bool = True                   # automatic mixed precision (CUDA only; ignored on CPU)
    decay_by_wall_time: bool = False   # decay progress = max(step / max_steps, elapsed / wall_time_s):
                                       # the schedule completes within the time budget on a slow or
                                       # shared machine (the learning rate then depends on the clock)

    def __post_init__(self):
        if self.lr <= 0 or self.final_lr <= 0 or self.warmup_start_lr <= 0:
            raise ConfigError("optim: learning rates must be > 0")
        if not 0 <= self.frozen_backbone_convs <= 5:
            raise ConfigError("optim.frozen_backbone_convs must be in 0..5")
        if self.trainable_backbone_blocks < 0:
            raise ConfigError("optim.trainable_backbone_blocks must be >= 0")
        if not 0 < self.backbone_lr_factor <= 1:
            raise ConfigError(f"optim.backbone_lr_factor must be in (0, 1], got {self.backbone_lr_factor}")


@dataclass(frozen=True)
class CheckpointConfig:
    every_steps: int = 500             # write a resumable checkpoint every N steps (and at the end)
    keep_last: int = 3                 # resumable checkpoints kept (oldest removed)
    keep_best: bool = True             # also keep best.pt by validation success AUC


@dataclass(frozen=True)
class ValidationConfig:
    """Tracker success AUC on held-out sequences during training."""

    every_steps: int = 0               # 0 = only at the end of the run
    at_start: bool = False             # also validate the initial network (a baseline)
    datasets: tuple[DatasetSpec, ...] = ()  # held-out sequences (kind sequences/got10k/lasot/synthetic ...)
    synthetic_sequences: int = 0       # extra synthetic sequences made from held-out photos
    synthetic_frames: int = 60         # frames per synthetic sequence
    synthetic_photos: tuple[str, ...] = ()  # photo names (of the `photos` source) reserved for them
    twin_sequences: int = 0            # extra synthetic sequences whose distractor is a recoloured copy
                                       # of the target circling it (same photos, synthetic_frames each)
    occlusion_sequences: int = 0       # twin sequences in which an opaque strip sweeps across the
                                       # target (full occlusion: the long-term re-detection case)
    fast_sequences: int = 0            # plain ones with a smaller target moving about 3x as fast (up to
                                       # half its size per frame: a thrown ball, a sprinting player)
    max_sequences: int = 8             # at most this many sequences per validation
    max_frames: int = 150              # at most this many frames per sequence
    mode: str = "siamrpn"              # tracker mode used for validation


@dataclass(frozen=True)
class TrackingExport:
    """Tracking hyper-parameters stored in the exported checkpoint."""

    preset: str = "vot"                # start from this dasiamrpn_core PRESETS entry
    overrides: dict = field(default_factory=dict)  # SiamRPNParams fields replaced (e.g. penalty_k)


@dataclass(frozen=True)
class ExportConfig:
    directory: str = "weights"         # under the run's output directory
    name: str = ""                     # file stem (default: the architecture name)
    official: bool = True              # also write the original DaSiamRPN format for original archs
    copy_to: str = ""                  # also copy the project checkpoint here (e.g. the bundled model);
                                       # relative paths are relative to the config file
    use_best: bool = False             # export the best-validated weights instead of the last ones
    storage_dtype: str = "float32"     # "float16" halves the project file (loading gives float32)
    tune_grid: dict = field(default_factory=dict)  # {param: [values]}: before export, coordinate-search
                                       # these tracking parameters on the validation sequences
    tune_mode: str = "dasiamrpn"       # tracker mode used for that search
    tune_max_sequences: int = 0        # validation sequences used by the search (0 = validation.max_sequences)
    tracking: TrackingExport = field(default_factory=TrackingExport)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    arch: str = "SiamRPNcompact"       # dasiamrpn_core.models.ARCHITECTURES key
    init: str = "tied"                 # AlexNet nets: "tied" (SiamFC-like correlation head) or "random";
                                       # EfficientNet-Lite nets: "imagenet" (pretrained trunk) or "random";
                                       # either: a checkpoint path (relative: to the config file)
    datasets: tuple[DatasetSpec, ...] = ()
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    batch_size: int = 16               # pairs per step (per process under torchrun)
    max_steps: int = 1000              # optimisation steps of the schedule
    wall_time_s: float = 0.0           # stop (checkpoint + export) after this many seconds (0 = no limit)
    seed: int = 1                      # all randomness derives from it (pair i uses seed + i)
    num_workers: int = 1               # data-loader worker processes
    threads: int = 0                   # torch intra-op threads (0 = torch default)
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    log_every: int = 10                # CSV/TensorBoard scalars every N steps
    max_skip_fraction: float = 0.2     # abort if more than this fraction of items are unusable

    def __post_init__(self):
        from dasiamrpn_core.models import ARCHITECTURES
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"arch {self.arch!r} unknown; expected one of {sorted(ARCHITECTURES)}")
        if self.batch_size < 1 or self.max_steps < 1:
            raise ConfigError("batch_size and max_steps must be >= 1")
        spec = ARCHITECTURES[self.arch]
        if spec.stride != self.targets.anchors.total_stride:
            raise ConfigError(f"targets.anchors.total_stride is {self.targets.anchors.total_stride} but {self.arch} "
                              f"has stride {spec.stride}")
        if self.sampling.template_size != self.targets.anchors.exemplar_size:
            raise ConfigError(f"sampling.template_size {self.sampling.template_size} != targets.anchors."
                              f"exemplar_size {self.targets.anchors.exemplar_size}")
        from dasiamrpn_core.config import PRESETS
        tracking = self.export.tracking
        if tracking.preset in PRESETS:   # an unknown preset is named by tracking_params at export
            exported = float(tracking.overrides.get("context_amount", PRESETS[tracking.preset].context_amount))
            if exported != self.sampling.context_amount:
                raise ConfigError(f"sampling.context_amount {self.sampling.context_amount} != the exported "
                                  f"tracker's context_amount {exported} (export.tracking): the tracker would "
                                  f"crop differently from training")
        blocks = getattr(spec, "backbone_blocks", None)
        if blocks is not None and self.optim.trainable_backbone_blocks > blocks:
            raise ConfigError(f"optim.trainable_backbone_blocks {self.optim.trainable_backbone_blocks} > the "
                              f"{blocks} trunk blocks of {self.arch}")
        self.targets.anchors.score_size(self.sampling.search_size)  # validates the geometry

    @property
    def score_size(self) -> int:
        return self.targets.anchors.score_size(self.sampling.search_size)


# ----------------------------------------------------------------------------- YAML <-> dataclasses

def _hint_dataclass(hint) -> type | None:
    return hint if dataclasses.is_dataclass(hint) else None


def _build(cls, data: Any, where: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _convert(hints[key], value, f"{where}.{key}" if where else key)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


def _convert(hint, value, where: str):
    origin = typing.get_origin(hint)
    if _hint_dataclass(hint):
        if isinstance(value, hint):
            return value
        return _build(hint, value, where)
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint in (int, float, str):
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        if hint is str and isinstance(value, (int, float)):
            return str(value)
        if not isinstance(value, hint) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value


def config_to_dict(cfg) -> dict:
    """Plain-data form (YAML/JSON friendly) of a config dataclass."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(cfg)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested mapping."""
    data = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            if part not in node or node[part] is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
            node = node[part]
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply overrides and build the typed :class:`TrainConfig`.

    Relative dataset roots are resolved against the YAML file's directory.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    data = apply_overrides(data, overrides or [])
    cfg = _build(TrainConfig, data, "")
    return resolve_roots(cfg, path.parent)


def expand(value: str, where: str) -> str:
    """``value`` with environment variables expanded; an unset one is an error naming it."""
    out = os.path.expandvars(value)
    if "$" in out:
        raise ConfigError(f"{where}: {value!r} names an environment variable that is not set "
                          f"(the shared data: set DASIAMRPN_SHARED, as the Makefile does)")
    return out


def _resolve_spec(spec: DatasetSpec, base: Path) -> DatasetSpec:
    changes = {}
    for key in ("root", "annotations", "split_file"):
        value = expand(getattr(spec, key), f"dataset {spec.label}.{key}")
        if value and not Path(value).expanduser().is_absolute():
            changes[key] = str((base / Path(value).expanduser()).resolve())
        elif value:
            changes[key] = str(Path(value).expanduser())
    return dataclasses.replace(spec, **changes) if changes else spec


def resolve_roots(cfg: TrainConfig, base: Path) -> TrainConfig:
    datasets = tuple(_resolve_spec(s, base) for s in cfg.datasets)
    val = dataclasses.replace(cfg.validation,
                              datasets=tuple(_resolve_spec(s, base) for s in cfg.validation.datasets))
    init = cfg.init
    if init not in INIT_KEYWORDS and not Path(init).expanduser().is_absolute():
        init = str((base / Path(init).expanduser()).resolve())
    export = cfg.export
    if export.copy_to and not Path(export.copy_to).expanduser().is_absolute():
        export = dataclasses.replace(export, copy_to=str((base / export.copy_to).resolve()))
    return dataclasses.replace(cfg, init=init, datasets=datasets, validation=val, export=export)

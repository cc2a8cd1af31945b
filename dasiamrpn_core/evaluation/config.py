"""Evaluation settings as frozen dataclasses (built at the entry point, passed down).

Every threshold of the protocols is a named field with its benchmark's standard value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# VOT EAO sequence-length intervals [low, high] (inclusive), per challenge year
EAO_INTERVALS: dict[str, tuple[int, int]] = {
    "2016": (108, 371), "2017": (100, 356), "2018": (100, 356), "2019": (46, 291)}
DEFAULT_VOT_YEAR = "2018"
POLYGON_INIT_RULES = ("area", "minmax")
PROTOCOLS = ("ope", "supervised", "longterm")


@dataclass(frozen=True)
class OPEConfig:
    """One-pass evaluation (OTB / LaSOT / UAV / GOT-10k style)."""

    success_bins: int = 21                 # IoU thresholds linspace(0, 1, bins); success = IoU > t
    precision_max_px: int = 50             # centre-error thresholds 0, 1, ..., max px; precision = err <= t
    precision_px: int = 20                 # the reported precision ("precision_20")
    norm_precision_max: float = 0.5        # normalised centre-error thresholds linspace(0, max, bins)
    norm_precision_bins: int = 51
    norm_precision_threshold: float = 0.2  # the reported normalised precision (pysot/pytracking)
    success_rates: tuple[float, ...] = (0.5, 0.75)  # GOT-10k SR_t = fraction of IoU > t

    def __post_init__(self):
        if self.success_bins < 2 or self.norm_precision_bins < 2:
            raise ValueError("success_bins and norm_precision_bins must be >= 2")
        if not 0 <= self.precision_px <= self.precision_max_px:
            raise ValueError(f"precision_px {self.precision_px} outside 0..{self.precision_max_px}")
        if not 0 <= self.norm_precision_threshold <= self.norm_precision_max:
            raise ValueError("norm_precision_threshold outside 0..norm_precision_max")


@dataclass(frozen=True)
class SupervisedConfig:
    """VOT baseline (supervised) experiment: re-initialisation after failures."""

    skip_frames: int = 5         # re-initialise this many frames after a failure
    burnin: int = 10             # frames from each (re-)initialisation left out of the accuracy
    failure_overlap: float = 0.0  # a frame with overlap <= this is a failure
    year: str = DEFAULT_VOT_YEAR  # selects the EAO interval
    init_box: str = "area"       # polygon -> init box: "area" (DaSiamRPN/pysot) or "minmax" (VOT toolkit)
    bounded: bool = True         # overlaps computed inside the image, as the VOT toolkit does
    robustness_frames: int = 100  # robustness = failures per this many frames (VOT2016-2018 "R")

    def __post_init__(self):
        if self.year not in EAO_INTERVALS:
            raise ValueError(f"unknown VOT year {self.year!r}; expected one of {sorted(EAO_INTERVALS)}")
        if self.init_box not in POLYGON_INIT_RULES:
            raise ValueError(f"unknown init_box rule {self.init_box!r}; expected one of {POLYGON_INIT_RULES}")
        if self.skip_frames < 1 or self.burnin < 0:
            raise ValueError("skip_frames must be >= 1 and burnin >= 0")

    @property
    def eao_interval(self) -> tuple[int, int]:
        return EAO_INTERVALS[self.year]


@dataclass(frozen=True)
class LongTermConfig:
    """VOT long-term precision / recall / F-score over confidence thresholds."""

    threshold_resolution: int = 100  # thresholds picked from the pooled confidences (vot-toolkit)
    f_beta: float = 1.0

    def __post_init__(self):
        if self.threshold_resolution < 3:
            raise ValueError("threshold_resolution must be >= 3")


@dataclass(frozen=True)
class EvalConfig:
    ope: OPEConfig = field(default_factory=OPEConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    longterm: LongTermConfig = field(default_factory=LongTermConfig)

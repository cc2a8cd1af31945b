"""Tracking hyper-parameters as frozen dataclasses (loaded at the entry points, never global).

Every threshold of the tracker is a named field here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .anchors import AnchorConfig

MODES = ("siamrpn", "dasiamrpn", "longterm")


@dataclass(frozen=True)
class SiamRPNParams:
    """Vanilla SiamRPN inference (the original ``TrackerConfig`` plus each net's ``cfg``)."""

    lr: float = 0.295                   # size learning rate (scaled by penalty * score)
    window_influence: float = 0.42      # weight of the cosine window in the final score
    penalty_k: float = 0.055            # scale/ratio change penalty
    instance_size: int = 271            # search crop side (network pixels)
    context_amount: float = 0.5         # context added around the target for crops
    adaptive: bool = False              # BIG only: larger search for small targets
    adaptive_instance_size: int = 287   # the search crop used by `adaptive` for small targets
    adaptive_area_ratio: float = 0.004  # "small target": w*h / image area below this
    min_size: float = 10.0              # final clip of the box size, pixels
    # weight of the template similarity added to every anchor's windowed score: the cosine of the
    # template's backbone features with the search features at that anchor's position (the f(z, p)
    # of DaSiamRPN's Eq. 3, evaluated densely over the response map, in every mode). 0 = the
    # original's score (the official presets); the bundled files store the values searched for them
    # on held-out data (model card)
    similarity_weight: float = 0.0
    # side, in feature cells, of the central part of the template features that f(z, p) compares
    # (0 = all of them), for the dense term above and for the ROI features of the distractor-aware
    # re-ranking (Eq. 3, both terms) and the long-term similarity tests: one f everywhere. With
    # context_amount 0.5 the target fills the central half of the template crop (4 of the lite
    # net's 8 cells); k - cells must be even (a centred crop). Fixed for a target at init()
    similarity_cells: int = 0
    anchors: AnchorConfig = field(default_factory=AnchorConfig)

    @property
    def exemplar_size(self) -> int:
        return self.anchors.exemplar_size


@dataclass(frozen=True)
class DistractorParams:
    """Distractor-aware re-ranking and incremental learning (DaSiamRPN §4.2, Eq. 3-4)."""

    pre_nms_top_k: int = 64            # proposals (by penalised score) entering NMS
    nms_iou: float = 0.5               # NMS IoU threshold between proposals
    max_proposals: int = 16            # proposals kept after NMS (the set P)
    distractor_threshold: float = 0.5  # h: a proposal with RPN similarity above this is a distractor
    distractor_exclusion_iou: float = 0.1  # ...unless it overlaps the chosen box more (a target variant)
    alpha_hat: float = 0.5             # α̂: weight of the distractor term in the re-ranking
    # weight of the Eq. 3 score added to the penalised RPN score when re-ranking P in local tracking;
    # chosen on held-out data with the bundled model: 23 sequences 0.25 -> AUC 0.737, 0.5 -> 0.736,
    # 1.0 -> 0.731 (siamrpn 0.727); 12 twin sequences 0.1/0.25/0.5/1.0 -> 0.562/0.581/0.572/0.561
    # (siamrpn 0.562)
    rerank_weight: float = 0.25
    learning_rate: float = 0.2         # β (η): incremental learning rate of the distractor term (Eq. 4)
    roi_sampling_ratio: int = 2        # bilinear samples per ROI-align bin and axis


@dataclass(frozen=True)
class LongTermParams:
    """Local-to-global search (DaSiamRPN §4.3)."""

    # RPN score below this: a low frame. The bundled model scores 0.4-0.5 on background once the
    # target has gone (built-in "reappear" sequence: 0.4 never searches, 0.45 and above re-acquire);
    # held-out (27 sequences, with patience 3): 0.3 -> AUC 0.673, 0.45 -> 0.671, 0.5 -> 0.669, 0.6 -> 0.660
    failure_threshold: float = 0.5
    # failure (start growing the search) after more than this many consecutive low frames; until
    # then local DaSiamRPN tracking goes on. Held-out (27 sequences of which 4 occlusion, threshold
    # 0.5): 1 -> longterm AUC 0.656 (occlusion 0.205), 3 -> 0.669 (0.293), 6 -> 0.669 (0.286);
    # at threshold 0.3: 0 -> 0.655 (0.199), 3 -> 0.673 (0.303), 10 -> 0.669; dasiamrpn 0.662 (0.230).
    # Searching on one dip moved the box onto a look-alike found by the window-free search before
    # the target came back
    failure_patience: int = 3
    recovery_threshold: float = 0.65   # RPN score needed to return to local tracking
    # template similarity f(z, p) of the chosen proposal, relative to its running average while tracking
    # below this fraction of the average: a low frame. 0 = off (the paper's score-only test; until
    # 2026-12-01 a 0 still flagged frames whose cosine was negative, a bug). Held-out (27 sequences,
    # threshold 0.3, patience 3): 0 -> AUC 0.673, 0.2 -> 0.662, 0.4 -> 0.661 (vtest tracklets lose
    # most: a deforming pedestrian's similarity varies); raise it for a model whose RPN score stays
    # high once the target has gone. The default file stores 0.7 in its `tracker` section: with f on
    # the target's central cells (similarity_cells 4) its held-out vanish-and-reappear F rose 0.50 ->
    # 0.67 at an unchanged 27-sequence AUC (model card); the compact file, f on whole windows, lost
    # 0.07 of held-out AUC at 0.7 and keeps 0
    similarity_failure_ratio: float = 0.0
    # at least this fraction of the average to recover. Held-out (27 sequences, final long-term
    # defaults): 0 -> 0.660 (occlusion 0.232), 0.5 -> 0.669 (0.293), 0.8 -> 0.669 (0.293); 0 also
    # re-locked on the wrong object of the built-in "reappear" sequence before the failure rules above
    similarity_recovery_ratio: float = 0.5
    similarity_average_rate: float = 0.1     # update rate of that running average
    search_step: int = 64              # search crop growth per frame, network pixels (multiple of 8)
    # largest search crop, network pixels (~2.9x the 271 crop FLOPs): the largest size up to this with
    # an odd response map (431 at stride 8; 415 for the stride-16 lite net)
    max_instance_size: int = 431
    lost_after_frames: int = 30        # searching this many frames without recovery: state "lost"


@dataclass(frozen=True)
class MutualParams:
    """Several targets in one ``MultiTracker`` (``dasiamrpn``/``longterm``, mutual awareness on):
    every other target is a known distractor of each target."""

    # weight of the other targets in Eq. 3: a proposal's ranking loses this times its highest
    # similarity f(z_j, p) to another target's template (beside α̂ times the learned distractor term)
    mutual_weight: float = 0.5
    # a proposal overlapping another target's current box by this IoU or more is that target's ...
    takeover_iou: float = 0.5
    # ... and is taken over only when its RPN score for this target beats that target's own last
    # score by this margin (otherwise it is not eligible unless every proposal is)
    takeover_margin: float = 0.1


@dataclass(frozen=True)
class TrackerConfig:
    mode: str = "dasiamrpn"
    siamrpn: SiamRPNParams = field(default_factory=SiamRPNParams)
    distractor: DistractorParams = field(default_factory=DistractorParams)
    longterm: LongTermParams = field(default_factory=LongTermParams)
    mutual: MutualParams = field(default_factory=MutualParams)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {MODES}")

    def with_overrides(self, **overrides) -> TrackerConfig:
        """Return a copy with fields of any section replaced by name (names are unique).

        Unknown names raise ``TypeError`` (no silently ignored settings).
        """
        updates: dict[str, dict] = {}
        for key, value in overrides.items():
            updates.setdefault(self._section_of(key), {})[key] = value
        return dataclasses.replace(
            self, **{s: dataclasses.replace(getattr(self, s), **u) for s, u in updates.items()})

    def value(self, name: str):
        """The value of a tracker parameter of any section, by name (``TypeError`` if unknown)."""
        return getattr(getattr(self, self._section_of(name)), name)

    def _section_of(self, name: str) -> str:
        for section in ("siamrpn", "distractor", "longterm", "mutual"):
            if name in {f.name for f in dataclasses.fields(getattr(self, section))}:
                return section
        raise TypeError(f"unknown tracker parameter {name!r}")


# The original nets' tracking configs (foolwood/DaSiamRPN code/net.py).
PRESETS: dict[str, SiamRPNParams] = {
    "big": SiamRPNParams(lr=0.295, window_influence=0.42, penalty_k=0.055, adaptive=True),
    "vot": SiamRPNParams(lr=0.45, window_influence=0.44, penalty_k=0.04, adaptive=False),
    "otb": SiamRPNParams(lr=0.30, window_influence=0.40, penalty_k=0.22, adaptive=False),
}


def siamrpn_params_to_dict(p: SiamRPNParams) -> dict:
    d = dataclasses.asdict(p)
    d["anchors"]["ratios"] = list(p.anchors.ratios)
    d["anchors"]["scales"] = list(p.anchors.scales)
    return d


def siamrpn_params_from_dict(d: dict) -> SiamRPNParams:
    d = dict(d)
    anchors = d.pop("anchors", None)
    known = {f.name for f in dataclasses.fields(SiamRPNParams)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown tracking parameters {sorted(unknown)}")
    if anchors is not None:
        anchors = dict(anchors)
        anchors["ratios"] = tuple(anchors["ratios"])
        anchors["scales"] = tuple(anchors["scales"])
        d["anchors"] = AnchorConfig(**anchors)
    return SiamRPNParams(**d)

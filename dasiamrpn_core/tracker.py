"""The trackers: vanilla SiamRPN, distractor-aware DaSiamRPN and its long-term variant.

``SiamRPNTracker`` reproduces the original ``SiamRPN_init`` / ``SiamRPN_track`` (foolwood/DaSiamRPN
``code/run_SiamRPN.py``) number for number: the same crop rounding and padding, the same anchors,
window, penalties, learning rate and clipping, with numpy doing the post-processing in the same
dtypes as the original. The network runs in its folded inference form (``net.inference()``), for
the original AlexNet nets and for the EfficientNet-Lite0 net alike.

``DaSiamRPNTracker`` adds the distractor-aware re-ranking and incremental learning of the
DaSiamRPN paper (§4.2); ``LongTermTracker`` adds the local-to-global search (§4.3).
"""
from __future__ import annotations

import copy

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .anchors import generate_anchors
from .config import SiamRPNParams, TrackerConfig
from .crop import get_subwindow
from .geometry import corners_iou, cxcywh_to_corners, nms_cxcywh, pairwise_iou_cxcywh, py2_round
from .models import SiamRPN, SiamRPNLite
from .roi_align import roi_align

log = logging.getLogger(__name__)

STATES = ("tracking", "searching", "lost")
WARM_UP_SIZE = (320, 240)   # (W, H) of the synthetic warm-up frame (the network sees fixed-size crops)
WARM_UP_FRAMES = 2          # track calls of the warm-up (the first pays the costs; the second checks)


@dataclass(frozen=True)
class TrackResult:
    """One tracked frame: ``box`` is 0-based ``(x, y, w, h)``; ``score`` in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float
    state: str = "tracking"


@dataclass
class SearchOutput:
    """Everything one RPN evaluation of a search crop produced (crop-pixel coordinates)."""

    boxes: np.ndarray        # (4, N) float32 decoded cx, cy (offsets from the crop centre), w, h
    score: np.ndarray        # (N,) float32 foreground softmax
    penalty: np.ndarray      # (N,) scale/ratio penalty
    pscore: np.ndarray       # (N,) penalised, windowed score (the selection criterion)
    scale_z: float
    size_in_crop: np.ndarray  # target size at crop scale
    features: torch.Tensor   # (1, C, Sx, Sx) search features (for proposal ROI features)
    center: np.ndarray | None = None  # the crop centre in the image (proposal offsets are relative to it)


@dataclass(frozen=True)
class OtherTargets:
    """The other targets of a ``MultiTracker``, as one target's known distractors (mutual awareness)."""

    units: torch.Tensor     # (K, D) their L2-normalised template features (``template_unit``)
    boxes: np.ndarray       # (K, 4) their current boxes, cx, cy, w, h in image pixels
    scores: np.ndarray      # (K,) their last RPN scores


@dataclass(frozen=True)
class SearchPlan:
    """Where a target is searched on this frame: the crop centre, crop size (network pixels) and the
    cosine window's influence; ``global_search``: a long-term target searching the image."""

    center: np.ndarray
    instance_size: int
    window_influence: float
    global_search: bool = False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU (logged)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        log.info("device=auto selected %s", chosen)
        return chosen
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda[:N]'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX, as oneDNN reports it): only
    then is bfloat16 inference faster than float32; elsewhere it would be emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def half_dtype(device: torch.device) -> torch.dtype:
    """The 16-bit type ``half=True`` computes in on ``device``: float16 on CUDA, bfloat16 on a CPU with
    native bfloat16 (:func:`bf16_supported`); float32 elsewhere (``half`` is then ignored)."""
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and bf16_supported():
        return torch.bfloat16
    return torch.float32


def validate_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (H x W x 3 uint8 BGR), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H x W x 3 BGR), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have 3 channels (H x W x 3 BGR), got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def validate_box(box, image_shape) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got {box!r}") from exc
    if not all(np.isfinite([x, y, w, h])):
        raise ValueError(f"box has non-finite values: {(x, y, w, h)}")
    if w <= 0 or h <= 0:
        raise ValueError(f"box must have positive width and height, got w={w}, h={h}")
    img_h, img_w = image_shape[:2]
    if x >= img_w or y >= img_h or x + w <= 0 or y + h <= 0:
        raise ValueError(f"box {(x, y, w, h)} lies outside the {img_w}x{img_h} image")
    return x, y, w, h


class SiamRPNTracker:
    """Vanilla SiamRPN (``mode="siamrpn"``)."""

    mode = "siamrpn"

    def __init__(self, net: SiamRPN | SiamRPNLite, config: TrackerConfig, device: str | torch.device = "auto",
                 half: bool = False):
        self.config = config
        self.device = resolve_device(device)
        self.dtype = half_dtype(self.device) if half else torch.float32
        if net.spec.stride != config.siamrpn.anchors.total_stride:
            raise ValueError(f"{net.spec.name} has stride {net.spec.stride} but the tracking parameters' anchors "
                             f"use total_stride {config.siamrpn.anchors.total_stride}")
        self.net = net.inference().to(self.device, self.dtype)
        self._geometry_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        # per-target state, set by init()
        self.center: np.ndarray | None = None
        self.size: np.ndarray | None = None
        self.image_shape: tuple[int, int] | None = None
        self.instance_size: int | None = None
        self.pad_value: np.ndarray | None = None
        self.template_features: torch.Tensor | None = None
        self.similarity_cells = 0   # the part of the template f(z, p) compares, fixed at init
        self.head_kernels: tuple[torch.Tensor, ...] | None = None  # the target's folded head (net-specific)

    @property
    def precision(self) -> str:
        """What the network computes in: the PyTorch net's dtype, or an exported net's runtime precision."""
        return self.net.precision

    @property
    def params(self) -> SiamRPNParams:
        """The SiamRPN parameters, read from ``config`` on each use: a caller that replaces ``config``
        (the ROS node's live parameters) changes what the next frame uses; nothing is cached apart."""
        return self.config.siamrpn

    # -- public API ------------------------------------------------------------------------
    def fresh(self) -> SiamRPNTracker:
        """A tracker of the same kind, network, configuration and device, with no target yet.

        The network is shared (inference only reads it), so this is cheap: a caller can ``init`` the
        copy on a new target while this tracker keeps tracking the old one, and swap only if that
        ``init`` succeeded. ``init`` sets every per-target attribute anew, so nothing is shared after it.
        """
        clone = copy.copy(self)
        clone.center = clone.size = clone.image_shape = clone.instance_size = None
        clone.pad_value = clone.template_features = clone.head_kernels = None
        return clone

    def warm_up(self, frames: int = WARM_UP_FRAMES) -> float:
        """Pay the first-call costs (graph compilation, memory allocation: 0.3 s each for the first init
        and track of the default model on OpenVINO, against 0.02-0.05 s afterwards) on a fresh copy and
        a synthetic frame, so that the first real target does not: a node calls it after loading a
        model, before a catch-up after an init would stall on it. Returns the seconds it took; this
        tracker's own target, if any, is untouched."""
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, (WARM_UP_SIZE[1], WARM_UP_SIZE[0], 3), dtype=np.uint8)
        probe = self.fresh()
        probe.init(image, (WARM_UP_SIZE[0] // 2 - 20, WARM_UP_SIZE[1] // 2 - 20, 40, 40))
        for _ in range(frames):
            probe.track(image)
        return time.perf_counter() - start

    @torch.no_grad()
    def init(self, image: np.ndarray, box) -> None:
        """Start tracking the target ``box`` = (x, y, w, h) in ``image`` (H x W x 3 uint8 BGR)."""
        image = validate_image(image)
        x, y, w, h = validate_box(box, image.shape)
        p = self.params
        self.center = np.array([x + w / 2.0, y + h / 2.0])
        self.size = np.array([w, h])
        self.image_shape = image.shape[:2]
        self.similarity_cells = p.similarity_cells
        small = (w * h) / float(image.shape[0] * image.shape[1]) < p.adaptive_area_ratio
        self.instance_size = p.adaptive_instance_size if (p.adaptive and small) else p.instance_size
        avg_chans = np.mean(image, axis=(0, 1))
        self.pad_value = avg_chans.astype(np.uint8)  # the original assigns floats into uint8: truncation
        wc_z = w + p.context_amount * (w + h)
        hc_z = h + p.context_amount * (w + h)
        s_z = py2_round(np.sqrt(wc_z * hc_z))
        z_crop = get_subwindow(image, self.center, p.exemplar_size, s_z, self.pad_value)
        with self.net.host_ops():
            self.template_features, self.head_kernels = self.net.template(self._to_tensor(z_crop))
            self._on_init()

    @torch.no_grad()
    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""
        if self.center is None:
            raise ValueError("track() called before init(): initialise the tracker with a box first")
        image = validate_image(image)
        if image.shape[:2] != self.image_shape:
            raise ValueError(f"frame size changed from {self.image_shape[1]}x{self.image_shape[0]} to "
                             f"{image.shape[1]}x{image.shape[0]}; call init() again")
        with self.net.host_ops():
            return self._track(image)

    # -- the vanilla SiamRPN step ------------------------------------------------------------
    # One step is plan (where to search) -> crop -> network -> decode -> finish (select, update):
    # ``_track`` runs them for this target; ``MultiTracker`` runs the network once for all targets.
    def _track(self, image: np.ndarray) -> TrackResult:
        plan = self._plan()
        return self._finish(self._search(image, plan.center, plan.instance_size, plan.window_influence), plan)

    def _plan(self) -> SearchPlan:
        return SearchPlan(self.center, self.instance_size, self.params.window_influence)

    def _finish(self, out: SearchOutput, plan: SearchPlan) -> TrackResult:
        best = self._select(out)
        score = self._update(out, best)
        return self._result(score, "tracking")

    def _on_init(self) -> None:
        """Hook for subclasses: reset per-target state."""

    def _select(self, out: SearchOutput) -> int:
        return int(np.argmax(out.pscore))

    def _search_scale(self) -> tuple[float, float]:
        """(s_z, scale_z) for the current target size (the original's unrounded s_z)."""
        p = self.params
        w, h = self.size
        wc_z = h + p.context_amount * (w + h)
        hc_z = w + p.context_amount * (w + h)
        s_z = np.sqrt(wc_z * hc_z)
        return s_z, p.exemplar_size / s_z

    def _search(self, image: np.ndarray, center: np.ndarray, instance_size: int,
                window_influence: float) -> SearchOutput:
        x_crop, scale_z = self._crop(image, center, instance_size)
        return self._decode(*self.net.search(self._to_tensor(x_crop), self.head_kernels), center, instance_size,
                            window_influence, scale_z)

    def _crop(self, image: np.ndarray, center: np.ndarray, instance_size: int) -> tuple[np.ndarray, float]:
        """The search crop (HWC uint8, ``instance_size`` square) around ``center`` and its scale."""
        p = self.params
        s_z, scale_z = self._search_scale()
        d_search = (instance_size - p.exemplar_size) // 2
        s_x = s_z + 2 * (d_search / scale_z)
        return get_subwindow(image, center, instance_size, py2_round(s_x), self.pad_value), scale_z

    def _decode(self, x_f: torch.Tensor, delta_t: torch.Tensor, logits_t: torch.Tensor, center: np.ndarray,
                instance_size: int, window_influence: float, scale_z: float) -> SearchOutput:
        """The network's outputs for one search crop -> proposals, scores and penalties."""
        p = self.params
        delta = delta_t.float().permute(1, 2, 3, 0).contiguous().view(4, -1).cpu().numpy()
        score = F.softmax(logits_t.float().permute(1, 2, 3, 0).contiguous().view(2, -1), dim=0)[1].cpu().numpy()
        anchors, window = self._geometry(instance_size)
        boxes = np.empty_like(delta)
        boxes[0] = delta[0] * anchors[:, 2] + anchors[:, 0]
        boxes[1] = delta[1] * anchors[:, 3] + anchors[:, 1]
        boxes[2] = np.exp(delta[2]) * anchors[:, 2]
        boxes[3] = np.exp(delta[3]) * anchors[:, 3]
        size_in_crop = self.size * scale_z
        s_c = _change(_padded_size(boxes[2], boxes[3]) / _padded_size(size_in_crop[0], size_in_crop[1]))
        r_c = _change((size_in_crop[0] / size_in_crop[1]) / (boxes[2] / boxes[3]))
        penalty = np.exp(-(r_c * s_c - 1.) * p.penalty_k)
        pscore = penalty * score
        pscore = pscore * (1 - window_influence) + window * window_influence
        if p.similarity_weight:
            similarity = template_similarity(x_f, self.template_features, self.similarity_cells)
            if similarity.size * p.anchors.anchor_num != pscore.size:
                raise ValueError(f"template similarity map of {similarity.size} cells does not match the "
                                 f"{pscore.size // p.anchors.anchor_num} of the response map")
            pscore = pscore + p.similarity_weight * np.tile(similarity, p.anchors.anchor_num)
        # a diverged network output (overflowing exp) must never be selected; a no-op when all
        # outputs are finite, so the original's numbers are unchanged
        pscore[~(np.isfinite(boxes).all(axis=0) & np.isfinite(pscore))] = -np.inf
        return SearchOutput(boxes, score, penalty, pscore, scale_z, size_in_crop, x_f, center)

    def _update(self, out: SearchOutput, best: int) -> float:
        """Apply the chosen proposal to the state (the original's update and clipping).

        If every proposal diverged (no finite candidate), the state is kept and the score is 0.
        """
        if not np.isfinite(out.pscore[best]):
            return 0.0
        target = out.boxes[:, best] / out.scale_z
        size = out.size_in_crop / out.scale_z
        lr = out.penalty[best] * out.score[best] * self.params.lr
        center = np.array([target[0] + self.center[0], target[1] + self.center[1]])
        size = np.array([size[0] * (1 - lr) + target[2] * lr, size[1] * (1 - lr) + target[3] * lr])
        img_h, img_w = self.image_shape
        min_size = self.params.min_size
        self.center = np.array([max(0, min(img_w, center[0])), max(0, min(img_h, center[1]))])
        self.size = np.array([max(min_size, min(img_w, size[0])), max(min_size, min(img_h, size[1]))])
        return float(out.score[best])

    def _result(self, score: float, state: str) -> TrackResult:
        cx, cy = self.center
        w, h = self.size
        return TrackResult((float(cx - w / 2), float(cy - h / 2), float(w), float(h)), float(score), state)

    def _geometry(self, instance_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Anchors and cosine window for a search crop size (cached)."""
        cfg = self.params.anchors
        key = (instance_size, cfg)
        if key not in self._geometry_cache:
            s = cfg.score_size(instance_size)
            window = np.tile(np.outer(np.hanning(s), np.hanning(s)).flatten(), cfg.anchor_num)
            self._geometry_cache[key] = (generate_anchors(cfg, s), window)
        return self._geometry_cache[key]

    def _to_tensor(self, patch: np.ndarray) -> torch.Tensor:
        """HWC uint8 crop -> (1, 3, H, W) float tensor in channels-last layout (no reordering copy)."""
        t = torch.from_numpy(patch).to(self.device)
        return t.permute(2, 0, 1).unsqueeze(0).to(self.dtype)


def central_cells(features: torch.Tensor, cells: int) -> torch.Tensor:
    """The central ``cells`` x ``cells`` part of (..., k, k) features (all of them for 0): the part of
    a template-sized window that f(z, p) compares (``SiamRPNParams.similarity_cells``)."""
    k = features.shape[-1]
    if not cells:
        return features
    if not 0 < cells <= k or (k - cells) % 2:
        raise ValueError(f"similarity_cells {cells} must be at most the template's {k} feature cells "
                         f"and differ from it by an even number (a centred crop)")
    offset = (k - cells) // 2
    return features[..., offset:offset + cells, offset:offset + cells]


def template_similarity(search_features: torch.Tensor, template_features: torch.Tensor,
                        cells: int = 0) -> np.ndarray:
    """Cosine similarity of the template features (1, C, k, k) with every k x k window of the search
    features (1, C, S, S), flattened row-major: (S - k + 1)^2 values in [-1, 1], one per response-map
    cell (template and search features are offset alike, so window i is centred on score cell i).

    ``cells`` > 0 compares only the central ``cells`` x ``cells`` part of the template with the
    central part of each window (the target without its context); ``k - cells`` must be even.
    """
    x = search_features.float()
    k = template_features.shape[-1]
    t = central_cells(template_features.float(), cells)
    offset = (k - t.shape[-1]) // 2
    c = t.shape[-1]
    dot = F.conv2d(x, t)
    window_norm = F.avg_pool2d(x.pow(2).sum(1, keepdim=True), c, stride=1).mul(c * c).clamp_min(1e-12).sqrt()
    cosine = (dot / (window_norm * t.norm().clamp_min(1e-12)))[0, 0]
    side = x.shape[-1] - k + 1
    return cosine[offset:offset + side, offset:offset + side].flatten().cpu().numpy().astype(np.float64)


def _change(r):
    return np.maximum(r, 1. / r)


def _padded_size(w, h):
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class DaSiamRPNTracker(SiamRPNTracker):
    """Distractor-aware SiamRPN (DaSiamRPN paper §4.2).

    Each frame: NMS over the best proposals gives the set P; their features are taken from the
    search feature map by ROI-align at the template feature size. Proposals other than the chosen
    one whose RPN similarity to the template exceeds ``distractor_threshold`` and that overlap the
    chosen box by at most ``distractor_exclusion_iou`` are distractors;
    their L2-normalised features, weighted by that similarity (α_i), are learned incrementally
    with rate β (Eq. 4) into one distractor term. Proposals are re-ranked by
    ``pscore + rerank_weight * Eq. 3``, Eq. 3 evaluated with one similarity f for both of its
    terms, the cosine of the normalised features: ``f(z, p) - α̂ f(distractor term, p)``. Using the
    same f for the template and the distractor term keeps the two on one scale: subtracting the
    distractor similarity alone from the RPN score (a first version) favoured background
    proposals, unlike both the target and the distractors, over a target that resembles its
    distractors (held-out look-alike sequences: AUC 0.518 against SiamRPN's 0.562; with Eq. 3
    added at weight 1, 0.561; at the chosen 0.25, 0.581). Until a distractor has been seen, the
    selection is exactly the SiamRPN one.
    """

    mode = "dasiamrpn"

    def _on_init(self) -> None:
        super()._on_init()
        self.distractor_sum: torch.Tensor | None = None
        self.distractor_weight: float = 0.0
        self.others: OtherTargets | None = None   # set by a MultiTracker with mutual awareness, per frame
        self.template_unit = F.normalize(
            central_cells(self.template_features.float(), self.similarity_cells).flatten(1), dim=1)[0]

    def _select(self, out: SearchOutput) -> int:
        return self._distractor_aware_select(out, learn=True)

    def _distractor_aware_select(self, out: SearchOutput, learn: bool) -> int:
        d = self.config.distractor
        keep = self._proposal_set(out)
        feats = None
        if self.distractor_sum is None and self.others is None:
            best = int(np.argmax(out.pscore))
        else:
            feats = self._proposal_features(out, keep)
            ranked = out.pscore[keep] + d.rerank_weight * self._eq3(feats)[1]
            if self.others is not None:
                ranked = self._mutual(out, keep, feats, ranked, d.rerank_weight)
            best = int(keep[int(np.argmax(ranked))])
        if learn:
            self._learn_distractors(out, keep, best, feats)
        return best

    def _eq3(self, feats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 3 for each proposal, with one similarity f (cosine of L2-normalised features) for both
        terms: returns (f(z, p), f(z, p) - α̂ Σ α_i f(d_i, p) / Σ α_i). Without a learned distractor
        the second is the template similarity itself."""
        similarity = (feats @ self.template_unit).cpu().numpy().astype(np.float64)
        if self.distractor_sum is None:
            return similarity, similarity
        memory = self.distractor_sum / self.distractor_weight
        distractor = (feats @ memory).cpu().numpy().astype(np.float64)
        return similarity, similarity - self.config.distractor.alpha_hat * distractor

    def _mutual(self, out: SearchOutput, keep: np.ndarray, feats: torch.Tensor, ranked: np.ndarray,
                scale: float) -> np.ndarray:
        """Mutual awareness (``self.others``): each proposal's ranking minus ``scale x mutual_weight``
        times its highest similarity f(z_j, p) to another target's template (Eq. 3's distractor
        term with the other targets as known distractors); a proposal overlapping another target's
        box by ``takeover_iou`` is not eligible unless its score beats that target's last score by
        ``takeover_margin`` (the non-takeover rule; when no proposal is eligible, all are)."""
        m, others = self.config.mutual, self.others
        other_sim = (feats @ others.units.T).max(dim=1).values.cpu().numpy().astype(np.float64)
        ranked = ranked - scale * m.mutual_weight * other_sim
        proposals = np.stack([out.center[0] + out.boxes[0, keep] / out.scale_z,
                              out.center[1] + out.boxes[1, keep] / out.scale_z,
                              out.boxes[2, keep] / out.scale_z, out.boxes[3, keep] / out.scale_z], axis=1)
        overlap = corners_iou(cxcywh_to_corners(proposals)[:, None], cxcywh_to_corners(others.boxes)[None])
        wins = out.score[keep][:, None] >= others.scores[None, :] + m.takeover_margin
        blocked = ((overlap >= m.takeover_iou) & ~wins).any(axis=1)
        if blocked.all():
            return ranked
        return np.where(blocked, -np.inf, ranked)

    def _proposal_set(self, out: SearchOutput) -> np.ndarray:
        """The set P: NMS over the best proposals by penalised score (indices, best first)."""
        d = self.config.distractor
        order = np.argsort(-out.pscore, kind="stable")[:d.pre_nms_top_k]
        return order[nms_cxcywh(out.boxes[:, order].T, out.pscore[order], d.nms_iou, d.max_proposals)]

    def _learn_distractors(self, out: SearchOutput, keep: np.ndarray, best: int,
                           feats: torch.Tensor | None) -> None:
        d = self.config.distractor
        # proposals overlapping the chosen box are shape variants of the target, not distractors
        overlap = pairwise_iou_cxcywh(out.boxes[:, np.append(keep, best)].T)[-1, :-1]
        is_distractor = ((keep != best) & (overlap <= d.distractor_exclusion_iou)
                         & (out.score[keep] > d.distractor_threshold))
        if not is_distractor.any():
            return
        if feats is None:
            feats = self._proposal_features(out, keep)
        alpha = torch.as_tensor(out.score[keep][is_distractor], dtype=feats.dtype, device=feats.device)
        frame_sum = (alpha[:, None] * feats[torch.as_tensor(is_distractor, device=feats.device)]).sum(0)
        frame_weight = float(alpha.sum())
        if self.distractor_sum is None:
            self.distractor_sum, self.distractor_weight = frame_sum, frame_weight
        else:
            beta = d.learning_rate
            self.distractor_sum = (1 - beta) * self.distractor_sum + beta * frame_sum
            self.distractor_weight = (1 - beta) * self.distractor_weight + beta * frame_weight

    def _proposal_features(self, out: SearchOutput, idx: np.ndarray) -> torch.Tensor:
        """L2-normalised ROI-align features (K, C*c*c) of proposals, at the template feature size.

        A proposal centred ``dx`` crop pixels from the crop centre sits at feature coordinate
        ``Sx / 2 + dx / stride``; the region is the template's context window (``exemplar_size``
        crop pixels = ``k`` feature cells), of which the central ``similarity_cells`` (c; all k for
        0) are kept, as of the template (``template_unit``): one f(z, p) for Eq. 3, the dense term
        and the long-term tests.
        """
        x_f = out.features[0].float()
        k = self.template_features.shape[-1]
        stride = self.params.anchors.total_stride
        centre = x_f.shape[-1] / 2.0
        cx = centre + out.boxes[0, idx].astype(np.float64) / stride
        cy = centre + out.boxes[1, idx].astype(np.float64) / stride
        rois = torch.as_tensor(np.stack([cx - k / 2, cy - k / 2, cx + k / 2, cy + k / 2], axis=1),
                               dtype=x_f.dtype, device=x_f.device)
        feats = roi_align(x_f, rois, k, self.config.distractor.roi_sampling_ratio)
        return F.normalize(central_cells(feats, self.similarity_cells).flatten(1), dim=1)


class LongTermTracker(DaSiamRPNTracker):
    """DaSiamRPN with the local-to-global search (paper §4.3).

    A low frame: the RPN score of the chosen proposal is below ``failure_threshold`` or its template
    similarity f(z, p) (cosine similarity of the template features and the proposal's ROI-aligned
    features, the f of Eq. 3) falls below ``similarity_failure_ratio`` times its running average
    over the frames tracked so far (0 switches that test off; it is there for a network whose RPN
    score stays high on textured background once the target has gone, and it is relative because
    the typical similarity depends on the target, rigid vs deforming). Failure: more than
    ``failure_patience`` low frames in a row; until then local tracking goes on, so a momentary dip
    (blur, a partial occlusion) does not start a window-free search that can lock onto a look-alike
    before the target is back. On failure the box is frozen and the search crop grows by ``search_step``
    network pixels per frame (at the frozen scale) up to ``max_instance_size``; if that crop still
    does not cover the image, its centre sweeps the image on a grid, one position per frame, so the
    whole image is searched at a bounded per-frame cost. While searching, the cosine window is off
    and the NMS proposals are ranked by Eq. 3 (template similarity minus α̂ times the learned
    distractor similarity). Recovery needs both ``recovery_threshold`` and
    ``similarity_recovery_ratio`` times the running average.
    """

    mode = "longterm"

    def _on_init(self) -> None:
        super()._on_init()
        self.failed_frames = 0
        self.low_frames = 0
        self.search_size: int | None = None
        self.sweep_index = 0
        self.similarity_average: float | None = None

    def _plan(self) -> SearchPlan:
        if self.failed_frames == 0:
            return super()._plan()
        lt = self.config.longterm
        self.search_size = max(self.search_size, self.params.anchors.largest_search_size(
            min(self.search_size + lt.search_step, self._largest_search_size())))
        return SearchPlan(self._search_center(), self.search_size, 0.0, global_search=True)

    def _finish(self, out: SearchOutput, plan: SearchPlan) -> TrackResult:
        lt = self.config.longterm
        if not plan.global_search:
            best = self._select(out)
            watched = lt.similarity_failure_ratio > 0 or lt.similarity_recovery_ratio > 0
            similarity = (float(self._proposal_features(out, np.array([best]))[0] @ self.template_unit)
                          if watched else 0.0)
            average = similarity if self.similarity_average is None else self.similarity_average
            # a ratio of 0 switches its test off: the cosine can be negative, so "similarity >= 0 x
            # average" would still declare failures
            dissimilar = lt.similarity_failure_ratio > 0 and similarity < lt.similarity_failure_ratio * average
            if out.score[best] >= lt.failure_threshold and not dissimilar:
                self.low_frames = 0
                rate = lt.similarity_average_rate
                self.similarity_average = (1 - rate) * average + rate * similarity
                return self._result(self._update(out, best), "tracking")
            self.low_frames += 1
            if self.low_frames <= lt.failure_patience:
                return self._result(self._update(out, best), "tracking")
            self.low_frames = 0
            self.similarity_average = average  # the reference of recovery, even after a failure on frame 1
            self.failed_frames = 1
            self.search_size = self.instance_size
            self.sweep_index = 0
            return self._result(float(out.score[best]), "searching")
        best, similarity = self._global_select(out)
        score = float(out.score[best])
        similar = (lt.similarity_recovery_ratio == 0
                   or similarity >= lt.similarity_recovery_ratio * self.similarity_average)
        if score >= lt.recovery_threshold and similar:
            self.center = plan.center  # the proposal offsets are relative to this crop's centre
            self.failed_frames = 0
            return self._result(self._update(out, best), "tracking")
        self.failed_frames += 1
        return self._result(score, "lost" if self.failed_frames > lt.lost_after_frames else "searching")

    def _largest_search_size(self) -> int:
        """``max_instance_size`` rounded down to a crop with an odd response map."""
        return self.params.anchors.largest_search_size(self.config.longterm.max_instance_size)

    def _global_select(self, out: SearchOutput) -> tuple[int, float]:
        """Eq. 3 over the NMS proposals: template similarity minus α̂ x distractor similarity.
        Returns the chosen anchor index and its template similarity."""
        keep = self._proposal_set(out)
        feats = self._proposal_features(out, keep)
        similarity, ranked = self._eq3(feats)
        if self.others is not None:
            ranked = self._mutual(out, keep, feats, ranked, 1.0)
        k = int(np.argmax(ranked))
        return int(keep[k]), float(similarity[k])

    def _search_center(self) -> np.ndarray:
        """The last position, or, once the largest crop cannot cover the image from there, the next
        position of a grid sweep over the image."""
        s_z, scale_z = self._search_scale()
        side = self.search_size / scale_z
        img_h, img_w = self.image_shape
        covers = (self.center[0] - side / 2 <= 0 and self.center[0] + side / 2 >= img_w
                  and self.center[1] - side / 2 <= 0 and self.center[1] + side / 2 >= img_h)
        if self.search_size < self._largest_search_size() or covers:
            return self.center
        # effective search span: the response map covers the crop minus the template margin
        span = max(side * (self.search_size - self.params.exemplar_size) / self.search_size, 1.0)
        nx = max(1, int(np.ceil(img_w / span)))
        ny = max(1, int(np.ceil(img_h / span)))
        i = self.sweep_index % (nx * ny)
        self.sweep_index += 1
        gx, gy = i % nx, i // nx
        return np.array([(gx + 0.5) * img_w / nx, (gy + 0.5) * img_h / ny])


TRACKERS = {cls.mode: cls for cls in (SiamRPNTracker, DaSiamRPNTracker, LongTermTracker)}

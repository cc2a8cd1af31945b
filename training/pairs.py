"""Training pairs in the DaSiamRPN way (§3.1), one deterministic pair per index.

Pair ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the data position of a run is
just the number of pairs consumed: resuming, or splitting the index stream between torchrun
ranks, needs no sampler state. Kinds (proportions in ``SamplingConfig``):

* ``video_positive``: template and search from two frames of one track within ``max_frame_gap``;
* ``still_positive``: one still image (or one video frame), two different augmentations
  (shift, scale, aspect, rotation, photometric) — the paper's use of detection images;
* ``negative_other_category``: the search shows an object of another category;
* ``negative_same_category``: the search shows another instance of the same category (for the
  registry photographs: a look-alike patch of the same photo). Negatives train the classifier only;
* ``paste_positive``: an object's patch pasted on another photo at a new shape (any aspect up to
  ``paste_max_aspect``, a rectangle or an inscribed ellipse), then moved and reshaped a little for
  the search: the box is exactly the pasted patch, whose boundaries are visible. A random proposal
  of a still photo has no visible extent, so from still positives alone the regression can only
  learn a near-square box whatever the target's shape.

Positives may also get a same-category look-alike pasted next to the target (``distractor_paste``),
labelled negative, so the classifier learns to prefer the template's instance. Tracks of a MOT video
(``Track.others``) bring their real look-alikes: every other annotated object inside a positive's
search crop is labelled negative, and a ``negative_same_category`` pair of such a track is centred on
another object of the same video (the paper's semantic negative, §4.1, on real instances).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from dasiamrpn_core.geometry import iou_xywh

from .augment import flip_pair, occlude, photometric, to_gray
from .config import TrainConfig
from .crops import context_side, crop_affine, map_box, mean_pad
from .datasets.images import read_image
from .datasets.records import DatasetError, SkipCounter, Track
from .targets import AnchorTargetBuilder

KINDS = ("video_positive", "still_positive", "negative_other_category", "negative_same_category", "paste_positive")
MIN_DRAWS_FOR_RATE = 200   # the unusable-item rate is checked after this many draws
MAX_DRAWS = 20             # attempts to draw a usable pair before giving up on an index
MIN_SEARCH_BOX = 6.0       # a positive whose target is smaller than this in the search crop is redrawn
MAX_SEARCH_BOX_FRACTION = 0.9  # ... or larger than this fraction of the crop
PASTE_MIN_GAP = 0.1        # pasted distractor: IoU with the target below this
PASTE_SIDE = (0.12, 0.4)   # pasted positive: area-equivalent side, fraction of the background's shorter side
PASTE_MOVE = 1.0           # ... moves up to this many of its widths/heights between template and search
PASTE_RESHAPE = 0.15       # ... and changes width and height by exp(U(-r, r)) each
PASTE_ELLIPSE_PROB = 0.5   # ... masked by the inscribed ellipse instead of the whole rectangle
PASTE_MAX_FRACTION = 0.9   # ... at most this fraction of the background's width/height


class PairError(RuntimeError):
    """No usable pair could be drawn (too many unreadable images or unusable boxes)."""


@dataclass
class TrackIndex:
    """Tracks grouped for sampling."""

    tracks: list[Track]
    source_weights: dict[str, float]
    max_gap: dict[str, int]
    min_box: float

    def __post_init__(self):
        if not self.tracks:
            raise DatasetError("no training tracks: every dataset is empty")
        self.by_source: dict[str, list[int]] = defaultdict(list)
        self.videos_by_source: dict[str, list[int]] = defaultdict(list)
        self.by_category: dict[str, list[int]] = defaultdict(list)
        self.valid: list[np.ndarray] = []
        for i, t in enumerate(self.tracks):
            valid = t.valid_indices(self.min_box)
            self.valid.append(valid)
            if len(valid) == 0:
                continue
            self.by_source[t.source].append(i)
            self.by_category[t.category].append(i)
            if len(valid) >= 2 and not t.still:
                self.videos_by_source[t.source].append(i)
        self.categories = sorted(self.by_category)
        if not self.by_source:
            raise DatasetError("no training track has a usable box")

    def _pick_source(self, rng, pool: dict[str, list[int]]) -> str:
        names = sorted(k for k, v in pool.items() if v and self.source_weights.get(k, 1.0) > 0)
        w = np.array([self.source_weights.get(k, 1.0) for k in names], np.float64)
        return names[int(rng.choice(len(names), p=w / w.sum()))]

    def any_track(self, rng) -> int:
        pool = self.by_source[self._pick_source(rng, self.by_source)]
        return pool[int(rng.integers(len(pool)))]

    def video_track(self, rng) -> int | None:
        if not any(self.videos_by_source.values()):
            return None
        pool = self.videos_by_source[self._pick_source(rng, self.videos_by_source)]
        return pool[int(rng.integers(len(pool)))]

    def other_category(self, rng, category: str) -> int | None:
        if len(self.categories) < 2:
            return None
        for _ in range(MAX_DRAWS):
            j = self.any_track(rng)
            if self.tracks[j].category != category:
                return j
        return None

    def same_category(self, rng, i: int) -> int | None:
        pool = self.by_category[self.tracks[i].category]
        if len(pool) < 2:
            return None
        for _ in range(MAX_DRAWS):
            j = pool[int(rng.integers(len(pool)))]
            if j != i and self.tracks[j].name != self.tracks[i].name:
                return j
        return None

    def frame(self, rng, i: int) -> int:
        v = self.valid[i]
        return int(v[rng.integers(len(v))])


class PairDataset(Dataset):
    """Map-style dataset of ``length`` deterministic pairs (index -> pair)."""

    def __init__(self, tracks: list[Track], cfg: TrainConfig, length: int, seed: int | None = None):
        self.cfg = cfg
        self.length = int(length)
        self.seed = cfg.seed if seed is None else seed
        self.index = TrackIndex(tracks, {s.label: s.weight for s in cfg.datasets},
                                {s.label: s.max_frame_gap for s in cfg.datasets},
                                cfg.sampling.min_box_pixels)
        self.targets = AnchorTargetBuilder(cfg.targets, cfg.sampling.search_size)
        props = cfg.sampling.proportions
        if self.index.video_track(np.random.default_rng(0)) is None:  # no videos: stills take their share
            props = dict(props, still_positive=props["still_positive"] + props["video_positive"],
                         video_positive=0.0)
        self.kind_p = np.array([props[k] for k in KINDS], np.float64)
        self.skips = SkipCounter("pairs")
        self.draws = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, int(i)])
        last_error: Exception | None = None
        for _ in range(MAX_DRAWS):
            self.draws += 1
            kind = int(rng.choice(len(KINDS), p=self.kind_p))
            try:
                sample = self._draw(KINDS[kind], rng)
            except DatasetError as exc:
                self.skips.skip(str(exc).split(":")[0], str(exc))
                last_error = exc
                if (self.draws >= MIN_DRAWS_FOR_RATE
                        and self.skips.total > self.cfg.max_skip_fraction * self.draws):
                    raise PairError(f"{self.skips.total} of {self.draws} drawn items were unusable "
                                    f"(more than max_skip_fraction={self.cfg.max_skip_fraction}): "
                                    f"{self.skips.summary()}") from exc
                continue
            if sample is None:
                continue
            sample["index"] = int(i)
            sample["kind"] = kind
            return sample
        raise PairError(f"pair {i}: no usable pair in {MAX_DRAWS} draws (last problem: {last_error}); "
                        f"skipped so far: {self.skips.summary()}")

    # -------------------------------------------------------------------------------------------

    def _draw(self, kind: str, rng: np.random.Generator) -> dict | None:
        idx = self.index
        if kind == "video_positive":
            t = idx.video_track(rng)
            if t is None:
                return None
            track = idx.tracks[t]
            valid = idx.valid[t]
            a = int(valid[rng.integers(len(valid))])
            gap = idx.max_gap.get(track.source, 100)
            near = valid[(np.abs(valid - a) <= gap) & (valid != a)]
            if len(near) == 0:
                return None
            b = int(near[rng.integers(len(near))])
            return self._positive(track, a, track, b, rng, still=False)
        t = idx.any_track(rng)
        track = idx.tracks[t]
        a = idx.frame(rng, t)
        if kind == "still_positive":
            return self._positive(track, a, track, a, rng, still=True)
        if kind == "paste_positive":
            return self._paste_positive(track, a, rng)
        other = (idx.other_category(rng, track.category) if kind == "negative_other_category"
                 else idx.same_category(rng, t))
        if other is None:
            return None
        return self._negative(track, a, idx.tracks[other], idx.frame(rng, other), rng)

    def _template(self, image: np.ndarray, box, rng) -> np.ndarray:
        s = self.cfg.sampling
        aug = self.cfg.augment
        x, y, w, h = (float(v) for v in box)
        side = context_side(w, h, s.context_amount)
        side *= math.exp(rng.uniform(-aug.template_scale, aug.template_scale))
        shift = rng.uniform(-aug.template_shift, aug.template_shift, 2) * side / s.template_size
        crop, _ = crop_affine(image, (x + w / 2 + shift[0], y + h / 2 + shift[1]), side, side,
                              s.template_size, mean_pad(image))
        return crop

    def _search(self, image: np.ndarray, box, rng, rotate: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The search crop around ``box`` (jittered), the box in crop pixels, and the image -> crop affine."""
        s = self.cfg.sampling
        aug = self.cfg.augment
        x, y, w, h = (float(v) for v in box)
        side = context_side(w, h, s.context_amount) * s.search_size / s.template_size
        side *= math.exp(rng.uniform(-aug.search_scale, aug.search_scale))
        sx = side * math.exp(rng.uniform(-aug.search_aspect, aug.search_aspect))
        sy = side * math.exp(rng.uniform(-aug.search_aspect, aug.search_aspect))
        shift = rng.uniform(-aug.search_shift, aug.search_shift, 2)
        center = (x + w / 2 - shift[0] * sx / s.search_size, y + h / 2 - shift[1] * sy / s.search_size)
        angle = rng.uniform(-aug.rotation_deg, aug.rotation_deg) if rotate else 0.0
        crop, m = crop_affine(image, center, sx, sy, s.search_size, mean_pad(image), angle)
        return crop, map_box(box, m), m

    def _finish(self, template, search, box, rng, hard_boxes=None, negative=False, ignore_box=None) -> dict:
        """Augment the crops and build the anchor targets. ``hard_boxes`` ((k, 4), search-crop
        pixels): look-alikes labelled negative (in a negative pair, the first is the object the
        search is centred on); ``ignore_box``: never labelled negative."""
        aug = self.cfg.augment
        template = photometric(template, rng, aug)
        search = photometric(search, rng, aug)
        if rng.random() < aug.grayscale_prob:
            template, search = to_gray(template), to_gray(search)
        hard_boxes = None if hard_boxes is None or not len(hard_boxes) else np.asarray(hard_boxes, np.float32)
        ref = box if box is not None else (hard_boxes[0] if hard_boxes is not None else None)
        if ref is not None and rng.random() < aug.occluder_prob:
            search = occlude(search, ref, rng, aug)
        if rng.random() < aug.flip_prob:
            template, search, box = flip_pair(template, search, box)
            hard_boxes = _mirror(hard_boxes, search.shape[1])
            ignore_box = _mirror(ignore_box, search.shape[1])
        if negative:
            tg = self.targets(None, rng, hard_negative_box=None if hard_boxes is None else hard_boxes[0],
                              ignore_box=ignore_box)
        else:
            tg = self.targets(box, rng, extra_negative_boxes=hard_boxes)
        return {
            "template": torch.from_numpy(np.ascontiguousarray(template.transpose(2, 0, 1))),
            "search": torch.from_numpy(np.ascontiguousarray(search.transpose(2, 0, 1))),
            "labels": torch.from_numpy(tg.labels),
            "deltas": torch.from_numpy(tg.deltas),
            "weights": torch.from_numpy(tg.weights),
        }

    def _positive(self, zt: Track, zf: int, xt: Track, xf: int, rng, still: bool) -> dict | None:
        template = self._template(read_image(zt.frames[zf]), zt.boxes[zf], rng)
        search, box, m = self._search(read_image(xt.frames[xf]), xt.boxes[xf], rng, rotate=still)
        lookalikes = None if xt.others is None else _in_crop(xt.others[xf], m, search.shape[0])
        return self._positive_crops(template, search, box, zt, rng, lookalikes)

    def _positive_crops(self, template: np.ndarray, search: np.ndarray, box: np.ndarray, zt: Track, rng,
                        lookalikes: np.ndarray | None = None) -> dict | None:
        """A positive pair; ``lookalikes`` ((k, 4) crop pixels): annotated other objects in the
        search crop, labelled negative beside any pasted look-alike."""
        size = self.cfg.sampling.search_size
        if min(box[2], box[3]) < MIN_SEARCH_BOX or max(box[2], box[3]) > MAX_SEARCH_BOX_FRACTION * size:
            return None
        hard = [] if lookalikes is None else list(lookalikes)
        if rng.random() < self.cfg.sampling.distractor_paste:
            search, pasted = self._paste_distractor(search, box, zt, rng)
            if pasted is not None:
                hard.append(pasted)
        return self._finish(template, search, box, rng, hard_boxes=np.array(hard, np.float32).reshape(-1, 4))

    def _paste_positive(self, track: Track, f: int, rng) -> dict | None:
        """``paste_positive``: ``track``'s object at frame ``f`` pasted on another track's image."""
        idx = self.index
        b = idx.any_track(rng)
        background_path = idx.tracks[b].frames[idx.frame(rng, b)]
        if background_path == track.frames[f]:
            return None
        background = read_image(background_path)
        bh, bw = background.shape[:2]
        side = rng.uniform(*PASTE_SIDE) * min(bh, bw)
        log_aspect = math.log(self.cfg.sampling.paste_max_aspect)
        aspect = math.exp(rng.uniform(-log_aspect, log_aspect))
        w1, h1 = side * math.sqrt(aspect), side / math.sqrt(aspect)
        w2, h2 = (v * math.exp(rng.uniform(-PASTE_RESHAPE, PASTE_RESHAPE)) for v in (w1, h1))
        if max(w1, w2) > PASTE_MAX_FRACTION * bw or max(h1, h2) > PASTE_MAX_FRACTION * bh:
            return None
        x1, y1 = rng.uniform(0, bw - w1), rng.uniform(0, bh - h1)
        x2 = float(np.clip(x1 + (w1 - w2) / 2 + rng.uniform(-PASTE_MOVE, PASTE_MOVE) * w1, 0, bw - w2))
        y2 = float(np.clip(y1 + (h1 - h2) / 2 + rng.uniform(-PASTE_MOVE, PASTE_MOVE) * h1, 0, bh - h2))
        ellipse = rng.random() < PASTE_ELLIPSE_PROB
        obj = read_image(track.frames[f])
        first, box1 = _paste_object(background, obj, track.boxes[f], (x1, y1, w1, h1), ellipse)
        second, box2 = _paste_object(background, obj, track.boxes[f], (x2, y2, w2, h2), ellipse)
        template = self._template(first, box1, rng)
        search, box, _ = self._search(second, box2, rng, rotate=False)
        return self._positive_crops(template, search, box, track, rng)

    def _negative(self, zt: Track, zf: int, xt: Track, xf: int, rng) -> dict:
        """A negative pair: the search centred on ``xt``'s object. When ``zt``'s own object is
        annotated on that frame (another object of the same video: the paper's semantic negative),
        its anchors are left unlabelled rather than called negative."""
        template = self._template(read_image(zt.frames[zf]), zt.boxes[zf], rng)
        search, box, m = self._search(read_image(xt.frames[xf]), xt.boxes[xf], rng, rotate=False)
        own = _box_on_frame(zt, xt.frames[xf])
        ignore = None if own is None else map_box(own, m)
        return self._finish(template, search, None, rng, hard_boxes=box[None], negative=True, ignore_box=ignore)

    def _paste_distractor(self, search: np.ndarray, box: np.ndarray, track: Track, rng
                          ) -> tuple[np.ndarray, np.ndarray | None]:
        """Paste a same-category look-alike (or, failing that, any other object) near the target."""
        idx = self.index
        t = idx.by_category[track.category]
        j = idx.same_category(rng, t[0]) if len(t) > 1 else None
        if j is None or idx.tracks[j].name == track.name:
            j = idx.any_track(rng)
            if idx.tracks[j].name == track.name:
                return search, None
        other = idx.tracks[j]
        f = idx.frame(rng, j)
        image = read_image(other.frames[f])
        ox, oy, ow, oh = (float(v) for v in other.boxes[f])
        # same on-screen size as the target (a look-alike), random aspect within the object's own
        scale = math.sqrt(box[2] * box[3] / (ow * oh)) * math.exp(rng.uniform(-0.2, 0.2))
        pw, ph = max(int(ow * scale), 4), max(int(oh * scale), 4)
        size = search.shape[0]
        if pw >= size or ph >= size:
            return search, None
        patch = _resize_region(image, (ox, oy, ow, oh), pw, ph)
        for _ in range(MAX_DRAWS):
            px, py = rng.uniform(0, size - pw), rng.uniform(0, size - ph)
            cand = np.array([px, py, pw, ph], np.float32)
            if float(iou_xywh(cand, box)[0]) < PASTE_MIN_GAP:
                search = search.copy()
                search[int(py):int(py) + ph, int(px):int(px) + pw] = patch
                return search, cand
        return search, None


def _mirror(boxes: np.ndarray | None, width: int) -> np.ndarray | None:
    """Boxes ((4,) or (k, 4)) mirrored horizontally in a crop of ``width``."""
    if boxes is None:
        return None
    out = np.array(boxes, np.float32)
    out[..., 0] = width - out[..., 0] - out[..., 2]
    return out


def _in_crop(boxes: np.ndarray, m_edge: np.ndarray, size: int) -> np.ndarray:
    """``boxes`` ((k, 4), image pixels) mapped into a search crop of side ``size``; those with no
    part inside it dropped."""
    mapped = np.array([map_box(b, m_edge) for b in np.asarray(boxes).reshape(-1, 4)], np.float32).reshape(-1, 4)
    inside = ((mapped[:, 0] < size) & (mapped[:, 1] < size)
              & (mapped[:, 0] + mapped[:, 2] > 0) & (mapped[:, 1] + mapped[:, 3] > 0))
    return mapped[inside]


def _box_on_frame(track: Track, frame: str) -> np.ndarray | None:
    """``track``'s box on the image ``frame`` (a frame of another track of the same video), if annotated."""
    if track.others is None:
        return None
    try:
        box = track.boxes[track.frames.index(frame)]
    except ValueError:
        return None
    return box if np.all(np.isfinite(box)) else None


def _paste_object(background: np.ndarray, obj: np.ndarray, obj_box, box, ellipse: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``background`` with ``obj``'s ``obj_box`` region resized into ``box`` (a rectangle or
    its inscribed ellipse); returns it and the pasted box (whole pixels)."""
    x, y = int(round(box[0])), int(round(box[1]))
    w, h = max(int(round(box[2])), 2), max(int(round(box[3])), 2)
    h_img, w_img = background.shape[:2]
    w, h = min(w, w_img - x), min(h, h_img - y)
    pasted = paste_patch(background, _resize_region(obj, obj_box, w, h), x, y, ellipse)
    return pasted, np.array([x, y, w, h], np.float32)


def paste_patch(background: np.ndarray, patch: np.ndarray, x: int, y: int, ellipse: bool) -> np.ndarray:
    """A copy of ``background`` with ``patch`` at column ``x``, row ``y``: the whole rectangle, or
    only its inscribed ellipse."""
    h, w = patch.shape[:2]
    out = background.copy()
    region = out[y:y + h, x:x + w]
    if ellipse:
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (w, h), 0), 1, -1)
        region[mask > 0] = patch[mask > 0]
    else:
        region[:] = patch
    return out


def _resize_region(image: np.ndarray, box, width: int, height: int) -> np.ndarray:
    x, y, w, h = box
    crop, _ = crop_affine(image, (x + w / 2, y + h / 2), w, h, max(width, height), mean_pad(image))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)

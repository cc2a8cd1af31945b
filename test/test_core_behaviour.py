"""The claims of the distractor-aware and long-term trackers, pinned on hand-built inputs.

The network is the real one (a trained checkpoint, loaded as the product loads it); what is built by
hand is what reaches the logic under test: proposal features with known cosines for Eq. 3 and Eq. 4,
and, for the long-term state machine, the RPN output of each frame (its score script), so that the
frame on which each state starts is known exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dasiamrpn_core import COMPACT_CHECKPOINT, LITE_CHECKPOINT, describe, load_tracker
from dasiamrpn_core.checkpoint import load_checkpoint
from dasiamrpn_core.config import TrackerConfig
from dasiamrpn_core.tracker import DaSiamRPNTracker, LongTermTracker, SearchOutput, bf16_supported, half_dtype

IMAGE = np.random.default_rng(5).integers(0, 255, (240, 320, 3), dtype=np.uint8)
BOX = (140.0, 100.0, 40.0, 40.0)


def _unit(*coords: float, dim: int = 8) -> torch.Tensor:
    v = torch.zeros(dim, dtype=torch.float64)
    v[:len(coords)] = torch.tensor(coords, dtype=torch.float64)
    return v / v.norm()


def _output(offsets, scores, size=(40.0, 40.0), features=None) -> SearchOutput:
    """A search output with one proposal per (dx, dy) crop-pixel offset, all of ``size``."""
    n = len(offsets)
    boxes = np.array([[o[0] for o in offsets], [o[1] for o in offsets], [size[0]] * n, [size[1]] * n],
                     np.float32)
    score = np.asarray(scores, np.float32)
    return SearchOutput(boxes, score, np.ones(n, np.float32), score.copy(), 1.0, np.asarray(size, np.float64),
                        features if features is not None else torch.zeros(1, 1, 1, 1))


@pytest.fixture()
def aware(model_path):
    tracker = load_tracker(model_path, device="cpu", mode="dasiamrpn")
    assert isinstance(tracker, DaSiamRPNTracker)
    tracker.init(IMAGE, BOX)
    return tracker


# -- Eq. 3: f(z, p) - α̂ Σ α_i f(d_i, p) / Σ α_i ----------------------------------------------------

def test_eq3_subtracts_alpha_hat_times_the_distractor_similarity(aware):
    aware.template_unit = _unit(1)
    # two distractors learned with α = 0.6 (along e1) and 0.2 (along e2): memory (0.6 e1 + 0.2 e2) / 0.8
    aware.distractor_sum = 0.6 * _unit(0, 1) + 0.2 * _unit(0, 0, 1)
    aware.distractor_weight = 0.8
    alpha_hat = aware.config.distractor.alpha_hat
    feats = torch.stack([_unit(1), _unit(0.8, 0.6), _unit(0, 0, 1), _unit(0, 0, 0, 1)])
    similarity, ranked = aware._eq3(feats)
    np.testing.assert_allclose(similarity, [1.0, 0.8, 0.0, 0.0], atol=1e-12)
    distractor = np.array([0.0, 0.6 * 0.6 / 0.8, 0.2 / 0.8, 0.0])
    np.testing.assert_allclose(ranked, similarity - alpha_hat * distractor, atol=1e-12)
    assert alpha_hat == 0.5 and ranked[1] == pytest.approx(0.8 - 0.5 * 0.45)


def test_eq3_without_a_learned_distractor_is_the_template_similarity(aware):
    aware.template_unit = _unit(1)
    assert aware.distractor_sum is None
    similarity, ranked = aware._eq3(torch.stack([_unit(1), _unit(1, 1)]))
    np.testing.assert_allclose(ranked, similarity)
    np.testing.assert_allclose(similarity, [1.0, 2 ** -0.5])


# -- Eq. 4: the distractor term learned with rate β -----------------------------------------------

def test_eq4_learns_distractors_above_h_outside_the_target_with_rate_beta(aware):
    d = aware.config.distractor
    beta, h = d.learning_rate, d.distractor_threshold
    assert (beta, h) == (0.2, 0.5)
    e = [_unit(*([0] * i + [1])) for i in range(4)]
    feats = torch.stack(e)
    # proposal 0 is the chosen one; 1 scores above h far away: a distractor; 2 scores exactly h: not one
    # (strictly above); 3 overlaps the chosen box (IoU > 0.1): a shape variant of the target, not one
    offsets = [(0, 0), (80, 0), (-80, 0), (5, 0)]
    keep = np.arange(4)
    aware._learn_distractors(_output(offsets, [0.9, 0.7, h, 0.95]), keep, 0, feats)
    torch.testing.assert_close(aware.distractor_sum, 0.7 * e[1])
    assert aware.distractor_weight == pytest.approx(0.7)
    # frame 2: two distractors, α = 0.8 and 0.6
    aware._learn_distractors(_output(offsets, [0.9, 0.8, 0.6, 0.95]), keep, 0, feats)
    frame_sum, frame_weight = 0.8 * e[1] + 0.6 * e[2], 1.4
    torch.testing.assert_close(aware.distractor_sum, (1 - beta) * 0.7 * e[1] + beta * frame_sum)
    assert aware.distractor_weight == pytest.approx((1 - beta) * 0.7 + beta * frame_weight)
    # frame 3: none passes (all at or below h): the memory is kept as it is, not decayed
    before = aware.distractor_sum.clone(), aware.distractor_weight
    aware._learn_distractors(_output(offsets, [0.9, 0.5, 0.2, 0.95]), keep, 0, feats)
    torch.testing.assert_close(aware.distractor_sum, before[0])
    assert aware.distractor_weight == before[1]
    # frame 4: the distractor again: decays the old memory by (1 - β) once more
    aware._learn_distractors(_output(offsets, [0.9, 0.9, 0.1, 0.95]), keep, 0, feats)
    expected = (1 - beta) * ((1 - beta) * 0.7 * e[1] + beta * frame_sum) + beta * 0.9 * e[1]
    torch.testing.assert_close(aware.distractor_sum, expected)


# -- the re-ranking picks the target over a higher-scoring look-alike ------------------------------

def _patch_map(c: int, k: int, stride: int, patterns: dict[int, torch.Tensor], side: int = 48) -> torch.Tensor:
    """A (1, c, side, side) search feature map holding, around each proposal at crop offset dx (px),
    the per-channel constant ``pattern`` over more than the template's k x k cells."""
    x_f = torch.zeros(1, c, side, side)
    centre = side / 2.0
    for dx, pattern in patterns.items():
        cx = int(round(centre + dx / stride))
        half = k // 2 + 2
        x_f[0, :, int(centre) - half:int(centre) + half, cx - half:cx + half] = pattern[:, None, None]
    return x_f


@pytest.mark.parametrize("rerank_weight, alpha_hat, chosen", [(0.25, 0.5, "target"), (0.0, 0.5, "twin"),
                                                              (0.25, 0.0, "twin")])
def test_rerank_prefers_the_target_to_a_look_alike_of_the_distractor(model_path, rerank_weight, alpha_hat,
                                                                     chosen):
    # nothing learned here; f compares whole template-sized windows (the hand-built features below)
    tracker = load_tracker(model_path, device="cpu", mode="dasiamrpn", rerank_weight=rerank_weight,
                           alpha_hat=alpha_hat, distractor_threshold=1.0, similarity_cells=0)
    tracker.init(IMAGE, BOX)
    c, k = tracker.template_features.shape[1], tracker.template_features.shape[-1]
    stride = tracker.params.anchors.total_stride
    a, b = torch.zeros(c), torch.zeros(c)
    a[0], b[1] = 1.0, 1.0
    tracker.template_features = a[None, :, None, None].expand(1, c, k, k).clone()
    tracker.template_unit = F.normalize(tracker.template_features.flatten(1), dim=1)[0]
    # the learned distractor memory (sum / weight) is the unit pattern of b
    unit_b = F.normalize(b[:, None, None].expand(c, k, k).flatten(), dim=0)
    tracker.distractor_sum, tracker.distractor_weight = 0.5 * unit_b, 0.5
    twin = 0.9 * a + 0.19 ** 0.5 * b
    x_f = _patch_map(c, k, stride, {-10 * stride: a, 10 * stride: twin})
    # the twin scores higher in the RPN (0.9 > 0.85); its template similarity is 0.9, its distractor one
    # 0.436: re-ranked 0.85 + 0.25 * 1 = 1.1 for the target against 0.9 + 0.25 * (0.9 - 0.5 * 0.436) = 1.07;
    # without α̂ (or with the distractor term's sign flipped) the twin wins with 1.125 (1.18)
    out = _output([(-10 * stride, 0), (10 * stride, 0)], [0.85, 0.9], features=x_f)
    best = tracker._select(out)
    assert best == {"target": 0, "twin": 1}[chosen]


# -- the long-term state machine at its edges ------------------------------------------------------

class ScriptedLongTerm(LongTermTracker):
    """The real long-term tracker whose search step returns the next score of a script: one proposal
    ``STEP`` crop pixels right of the crop centre, with features equal to the template's."""

    STEP = 8.0

    def script(self, scores: list[float]) -> None:
        self.scores = list(scores)
        self.searches: list[tuple[tuple[float, float], int, float]] = []
        c = self.template_features.shape[1]
        self.similarity_cells = 0   # f compares whole template-sized windows of the scripted features
        self.template_features = torch.ones_like(self.template_features)
        self.template_unit = F.normalize(self.template_features.flatten(1), dim=1)[0]
        self.features = torch.ones(1, c, 24, 24)

    def _search(self, image, center, instance_size, window_influence):
        self.searches.append((tuple(float(v) for v in center), instance_size, window_influence))
        score = self.scores.pop(0)
        _, scale_z = self._search_scale()
        out = _output([(self.STEP, 0.0)], [score], size=tuple(self.size * scale_z), features=self.features)
        out.scale_z = scale_z
        return out


def _scripted(model_path, scores, **overrides) -> tuple[ScriptedLongTerm, list]:
    loaded = load_checkpoint(model_path)
    config = TrackerConfig(mode="longterm", siamrpn=loaded.params).with_overrides(**overrides)
    tracker = ScriptedLongTerm(loaded.net, config, device="cpu")
    tracker.init(IMAGE, BOX)
    tracker.script(scores)
    return tracker, [tracker.track(IMAGE) for _ in scores]


def test_failure_starts_on_the_frame_after_failure_patience_low_frames(model_path):
    lt = TrackerConfig().longterm
    assert (lt.failure_threshold, lt.failure_patience) == (0.5, 3)
    _, results = _scripted(model_path, [0.9, 0.9, 0.4, 0.4, 0.4, 0.4, 0.3])
    assert [r.state for r in results] == ["tracking"] * 5 + ["searching"] * 2
    # a score exactly at the threshold is not low; a high frame resets the count of low ones
    _, results = _scripted(model_path, [0.5] * 6 + [0.4, 0.4, 0.4, 0.9, 0.4, 0.4, 0.4, 0.9])
    assert {r.state for r in results} == {"tracking"}


def test_lost_starts_after_lost_after_frames_of_search(model_path):
    tracker, results = _scripted(model_path, [0.9] + [0.1] * 4 + [0.1] * 7, lost_after_frames=5)
    states = [r.state for r in results]
    failed = states.index("searching")
    assert failed == 4
    assert states[failed:failed + 5] == ["searching"] * 5 and states[failed + 5:] == ["lost"] * 3


def test_search_recovers_only_at_the_recovery_threshold_and_freezes_the_box():
    """(The stride-8 compact net: its search crops grow 271 -> 335 -> ... -> 431 px.)"""
    model_path = COMPACT_CHECKPOINT
    lt = TrackerConfig().longterm
    assert lt.search_step == 64 and lt.max_instance_size == 431
    # failure on frame 4; then 0.6 (above the failure threshold, below the recovery one) does not
    # recover; a score at the recovery threshold does (0.75: exact in float32, as the scores are)
    scores = [0.9, 0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.74, 0.6, 0.75, 0.9]
    tracker, results = _scripted(model_path, scores, recovery_threshold=0.75)
    states = [r.state for r in results]
    assert states == ["tracking"] * 4 + ["searching"] * 5 + ["tracking"] * 2
    # while searching the box stays where it was when the failure was declared
    frozen = results[3].box
    assert all(r.box == frozen for r in results[4:9])
    assert results[9].box != frozen                       # recovery moves it again
    # the search crop grows by search_step per frame up to max_instance_size, without the cosine window
    sizes = [s[1] for s in tracker.searches]
    windows = [s[2] for s in tracker.searches]
    local = tracker.params.instance_size
    assert sizes[:5] == [local] * 5 and sizes[5:10] == [local + 64, local + 128, 431, 431, 431]
    assert windows[:5] == [tracker.params.window_influence] * 5 and windows[5:10] == [0.0] * 5
    assert sizes[10] == local and windows[10] == tracker.params.window_influence   # local tracking again


def test_recovery_needs_the_template_similarity_too(model_path):
    tracker, _ = _scripted(model_path, [0.9, 0.1, 0.1, 0.1, 0.1])
    # a proposal that scores high but looks nothing like the template (cosine 0) does not recover
    tracker.features = -torch.ones_like(tracker.features)
    tracker.scores = [0.95, 0.95]
    assert [tracker.track(IMAGE).state for _ in range(2)] == ["searching", "searching"]
    tracker.features = torch.ones_like(tracker.features)
    tracker.scores = [0.95]
    assert tracker.track(IMAGE).state == "tracking"


# -- a look-alike beside the target: the distractor-aware mode holds on where SiamRPN drifts -------

def test_dasiamrpn_holds_a_shadowed_target_beside_its_twin_where_siamrpn_drifts():
    """The built-in "lookalike" sequence with the compact model: the target darkens beside its bright
    twin (frames 20-44). SiamRPN drifts off it; DaSiamRPN, having learned the twin as a distractor,
    stays on it. With the re-ranking weighted 0 (distractors still learned) it drifts like SiamRPN.
    (The default Lite0 model drifts in both modes here: its ImageNet features see the two as one
    object; model card.)"""
    from dasiamrpn_core.demo_sequence import SHADOW_FRAMES, make_sequence
    from dasiamrpn_core.geometry import iou_xywh
    seq = make_sequence("lookalike")

    def ious(mode: str, **overrides) -> np.ndarray:
        tracker = load_tracker(COMPACT_CHECKPOINT, device="cpu", mode=mode, **overrides)
        tracker.init(seq.frames[0], tuple(seq.boxes[0]))
        boxes = np.array([tracker.track(f).box for f in seq.frames[1:]])
        return np.concatenate([[1.0], iou_xywh(boxes, seq.boxes[1:])])

    plain, aware, unranked = ious("siamrpn"), ious("dasiamrpn"), ious("dasiamrpn", rerank_weight=0.0)
    late = slice(SHADOW_FRAMES[0] + 12, SHADOW_FRAMES[1])      # the end of the shadow
    assert (aware[late] >= 0.45).all() and (plain[late] < 0.3).all(), (aware[late], plain[late])
    np.testing.assert_array_equal(unranked, plain)
    assert aware.mean() > plain.mean() + 0.08


def test_a_replaced_config_is_what_the_next_frame_uses(model_path):
    """The ROS node applies live parameters by replacing ``tracker.config``: every section, the SiamRPN
    one included, takes effect on the next frame (no copy of the parameters is cached apart)."""
    tracker, _ = _scripted(model_path, [0.9, 0.9])
    tracker.scores = [0.9, 0.9]
    tracker.config = tracker.config.with_overrides(window_influence=0.123, failure_threshold=0.95)
    result = tracker.track(IMAGE)
    assert tracker.searches[-1][2] == 0.123 and tracker.params.window_influence == 0.123
    assert result.state == "tracking" and tracker.low_frames == 1      # 0.9 < the new failure threshold


def test_search_crops_always_give_an_odd_response_map():
    """The anchor grid is centred on the middle cell: an even map would misplace every anchor by half
    a stride (8 px at stride 16), so such a crop is an error, and the long-term search never grows
    into one (the lite net's crops stop at 415, not 431)."""
    from dasiamrpn_core.anchors import AnchorConfig
    lite, alexnet = AnchorConfig(total_stride=16, scales=(4.0,)), AnchorConfig()
    assert lite.score_size(255) == 9 and lite.score_size(287) == 11 and alexnet.score_size(271) == 19
    with pytest.raises(ValueError, match="even 10x10 response map at stride 16; .* e.g. 255 or 287"):
        lite.score_size(271)
    assert (lite.largest_search_size(431), alexnet.largest_search_size(431)) == (415, 431)
    assert lite.largest_search_size(100) == 127


def test_lite_longterm_search_grows_through_odd_maps_only():
    from dasiamrpn_core import LITE_CHECKPOINT
    tracker, results = _scripted(LITE_CHECKPOINT, [0.9, 0.1, 0.1, 0.1, 0.1] + [0.1] * 5)
    # the default file's local crop (319) grows by search_step 64 up to 415, the largest crop up to
    # max_instance_size 431 with an odd map at stride 16 ((415 - 127) / 16 + 1 = 19 cells)
    assert [s[1] for s in tracker.searches][4:] == [319, 383, 415, 415, 415, 415]
    assert [r.state for r in results][4:] == ["searching"] * 6


# -- input checks at their edges ----------------------------------------------------------------

def test_device_box_and_image_checks_at_their_edges(model_path):
    from dasiamrpn_core.tracker import resolve_device, validate_box, validate_image
    with pytest.raises(ValueError, match="'cuda:0' requested but CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match="unknown device 'CUDA:0'"):
        resolve_device("CUDA:0")
    assert validate_box((10, 10, 20, 0.5), (100, 100)) == (10.0, 10.0, 20.0, 0.5)   # thin is fine
    with pytest.raises(ValueError, match="outside"):
        validate_box((100, 10, 20, 20), (100, 100))                                  # starts at the edge
    with pytest.raises(ValueError, match="outside"):
        validate_box((10, 100, 20, 20), (100, 100))
    with pytest.raises(ValueError, match="empty"):
        validate_image(np.zeros((5, 0, 3), np.uint8))
    cpu_half = load_tracker(model_path, device="cpu", half=True)
    assert cpu_half.dtype == (torch.bfloat16 if bf16_supported() else torch.float32)
    cpu_half.init(IMAGE, BOX)
    assert np.isfinite(cpu_half.track(IMAGE).box).all()


def test_half_picks_the_16_bit_type_the_device_computes_natively(monkeypatch):
    """float16 on CUDA; bfloat16 on a CPU with native bfloat16; elsewhere half is ignored (float32),
    since emulated bfloat16 would be slower than float32."""
    from dasiamrpn_core import tracker as tracker_module
    assert half_dtype(torch.device("cuda")) == torch.float16
    monkeypatch.setattr(tracker_module, "bf16_supported", lambda: True)
    assert half_dtype(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setattr(tracker_module, "bf16_supported", lambda: False)
    assert half_dtype(torch.device("cpu")) == torch.float32
    assert describe(load_tracker(None, device="cpu", half=True))["precision"] == "float32"


@pytest.mark.parametrize("model_path, largest", [(COMPACT_CHECKPOINT, 431), (LITE_CHECKPOINT, 415)],
                         ids=["compact", "lite"])
def test_search_stays_put_while_the_largest_crop_covers_the_image(model_path, largest):
    """On a small image the largest search crop already covers it all: the search keeps the frozen
    centre instead of sweeping (the largest crop with an odd response map: 431 px at stride 8, 415 at
    stride 16)."""
    loaded = load_checkpoint(model_path)
    tracker = ScriptedLongTerm(loaded.net, TrackerConfig(mode="longterm", siamrpn=loaded.params), device="cpu")
    small = IMAGE[:100, :120].copy()
    tracker.init(small, (50.0, 30.0, 40.0, 40.0))
    tracker.script([0.9] + [0.1] * 9)
    results = [tracker.track(small) for _ in range(10)]
    frozen = np.array(results[3].box[:2]) + np.array(results[3].box[2:]) / 2
    assert [s[1] for s in tracker.searches][-3:] == [largest] * 3
    assert all(np.allclose(s[0], frozen) for s in tracker.searches[4:]), tracker.searches


def test_recovery_compares_the_similarity_with_its_running_average(model_path):
    """A proposal whose template cosine is 0.3 while tracking ran at 1.0 is below half the average:
    no recovery, although its score is high (recovery also needs the similarity)."""
    tracker, _ = _scripted(model_path, [0.9, 0.1, 0.1, 0.1, 0.1])
    c = tracker.features.shape[1]
    x = -0.5215     # half the channels at 1, half at x: cosine (1 + x) / sqrt(2 (1 + x^2)) = 0.30
    pattern = torch.tensor([1.0, x] * (c // 2))
    tracker.features = pattern[None, :, None, None].expand(1, c, 24, 24).clone()
    tracker.scores = [0.95, 0.95]
    assert [tracker.track(IMAGE).state for _ in range(2)] == ["searching", "searching"]


# -- the dense template similarity (similarity_weight, similarity_cells) ---------------------------

def _naive_similarity(search: torch.Tensor, template: torch.Tensor, cells: int) -> np.ndarray:
    """Cosine of the (central ``cells`` of the) template with each window, one window at a time."""
    k = template.shape[-1]
    o = (k - cells) // 2 if cells else 0
    c = cells or k
    t = template[0, :, o:o + c, o:o + c].flatten()
    side = search.shape[-1] - k + 1
    return np.array([float(F.cosine_similarity(search[0, :, i + o:i + o + c, j + o:j + o + c].flatten(), t, dim=0))
                     for i in range(side) for j in range(side)])


@pytest.mark.parametrize("cells", [0, 4, 6])
def test_template_similarity_is_the_cosine_of_each_window_with_the_template(cells):
    """One value per response-map cell (window i covers search cells i..i+k-1, as the head's
    correlation), the central ``cells`` of the template against the central part of each window."""
    from dasiamrpn_core.tracker import template_similarity
    gen = torch.Generator().manual_seed(3)
    search = torch.randn(1, 16, 16, 16, generator=gen)
    template = torch.randn(1, 16, 8, 8, generator=gen)
    got = template_similarity(search, template, cells)
    assert got.shape == (81,)
    np.testing.assert_allclose(got, _naive_similarity(search, template, cells), atol=1e-5)


def test_the_central_similarity_finds_the_target_whatever_its_surroundings():
    """A template whose central 4x4 cells are copied from the search window at cell (2, 6) and whose
    surroundings are unrelated: the central similarity is 1 there and lower elsewhere, the full
    template's similarity is not."""
    from dasiamrpn_core.tracker import template_similarity
    gen = torch.Generator().manual_seed(4)
    search = torch.randn(1, 16, 16, 16, generator=gen)
    template = torch.randn(1, 16, 8, 8, generator=gen)
    template[:, :, 2:6, 2:6] = search[:, :, 2 + 2:2 + 6, 6 + 2:6 + 6]
    central, full = template_similarity(search, template, 4), template_similarity(search, template)
    assert int(np.argmax(central)) == 2 * 9 + 6 and central.max() == pytest.approx(1.0, abs=1e-5)
    assert np.sort(central)[-2] < 0.6 and full.max() < 0.6


@pytest.mark.parametrize("cells", [5, 9, -2])
def test_similarity_cells_must_be_a_centred_crop_of_the_template(cells):
    from dasiamrpn_core.tracker import template_similarity
    with pytest.raises(ValueError, match=f"similarity_cells {cells} must be at most the template's 8"):
        template_similarity(torch.zeros(1, 4, 16, 16), torch.ones(1, 4, 8, 8), cells)


@pytest.mark.parametrize("checkpoint", ["lite", "compact"])
def test_similarity_weight_adds_the_weighted_similarity_to_every_anchor_score(demo_seq, checkpoint):
    """The selection score of every anchor (5 per cell) gains weight x the similarity of its cell,
    on both nets (stride 16 with 8x8 template features, stride 8 with 6x6: the similarity map and
    the response map have the same size); weight 0 leaves the original's score untouched."""
    from dasiamrpn_core.tracker import template_similarity
    path = LITE_CHECKPOINT if checkpoint == "lite" else COMPACT_CHECKPOINT
    cells = 4 if checkpoint == "lite" else 2
    outputs = {}
    for weight in (0.0, 0.7):
        tracker = load_tracker(path, device="cpu", mode="siamrpn", similarity_weight=weight, similarity_cells=cells)
        tracker.init(demo_seq.frames[0], tuple(demo_seq.boxes[0]))
        outputs[weight] = tracker._search(demo_seq.frames[1], tracker.center, tracker.instance_size,
                                          tracker.params.window_influence)
    plain, weighted = outputs[0.0], outputs[0.7]
    similarity = template_similarity(weighted.features, tracker.template_features, cells)
    anchors = tracker.params.anchors.anchor_num
    assert similarity.size * anchors == plain.pscore.size
    np.testing.assert_allclose(weighted.pscore - plain.pscore, 0.7 * np.tile(similarity, anchors), atol=1e-6)
    assert np.ptp(similarity) > 0.3


def test_bundled_default_stores_its_held_out_similarity_parameters():
    """The default file carries the similarity parameters chosen for it on held-out data (model card);
    the official presets and the compact file keep the original's score (weight 0)."""
    default, compact = load_checkpoint(LITE_CHECKPOINT).params, load_checkpoint(COMPACT_CHECKPOINT).params
    assert (default.similarity_weight, default.similarity_cells, default.instance_size) == (1.5, 4, 319)
    assert compact.similarity_weight == 0.0
    assert load_tracker(device="cpu").params.similarity_weight == 1.5


def test_eq3_and_the_long_term_tests_use_the_same_central_cells_as_the_dense_term(demo_seq):
    """One f(z, p): the template term of Eq. 3 and the proposals' ROI features keep the central
    ``similarity_cells`` of the template-sized window, as the dense term does; a proposal centred
    where the template was cut, on the template's own frame, is the template (cosine ~1)."""
    from dasiamrpn_core.tracker import central_cells
    tracker = load_tracker(LITE_CHECKPOINT, device="cpu", mode="longterm", similarity_cells=4)
    tracker.init(demo_seq.frames[0], tuple(demo_seq.boxes[0]))
    c = tracker.template_features.shape[1]
    expected = F.normalize(central_cells(tracker.template_features.float(), 4).flatten(1), dim=1)[0]
    torch.testing.assert_close(tracker.template_unit, expected)
    assert tracker.template_unit.numel() == c * 4 * 4
    out = tracker._search(demo_seq.frames[0], tracker.center, tracker.instance_size, tracker.params.window_influence)
    centre = int(np.argmin(np.abs(out.boxes[0]) + np.abs(out.boxes[1])))
    feats = tracker._proposal_features(out, np.array([centre]))
    assert feats.shape == (1, c * 4 * 4)
    assert float(feats[0] @ tracker.template_unit) > 0.8
    whole = load_tracker(LITE_CHECKPOINT, device="cpu", mode="longterm", similarity_cells=0)
    whole.init(demo_seq.frames[0], tuple(demo_seq.boxes[0]))
    assert whole.template_unit.numel() == c * 8 * 8

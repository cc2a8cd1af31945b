"""The node's ROS parameters: one table (name, default, description, range, when a change applies),
the frozen settings built from them, and validation of runtime changes.

Defaults of the tracker thresholds come from the core's config dataclasses (one source of truth);
``config/tracker.yaml`` lists the same values (a test keeps them equal).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any
from collections.abc import Iterable, Mapping

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from dasiamrpn_core.config import MODES, DistractorParams, LongTermParams
from dasiamrpn_core.runtime import BACKENDS

from .depth_input import DEPTH_MAX_LEAD_S

DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"
MODEL_VALUE = -1.0   # a threshold parameter at a negative value: the model file's own value
MODEL_VALUED = ("similarity_failure_ratio",)   # thresholds that a checkpoint may store (its tracker section)
BACKEND_CHOICES = ("auto",) + BACKENDS
RELIABILITIES = ("best_effort", "reliable")
FRAME_POLICIES = ("latest", "every")


class Applies(Enum):
    LIVE = "live"        # takes effect on the next frame
    RELOAD = "reload"    # the model is reloaded at the next ~/init_box call
    RESTART = "restart"  # fixed at start-up (subscriptions/timers); restart the node to change


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    applies: Applies
    choices: tuple[str, ...] = ()
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    pattern: str = ""            # a regular expression the whole string value must match
    pattern_text: str = ""       # ... said in words in the error

    def descriptor(self) -> ParameterDescriptor:
        desc = ParameterDescriptor(name=self.name, description=self.description)
        constraints = [f"applies: {self.applies.value}"]
        if self.choices:
            constraints.append(f"one of {', '.join(self.choices)}")
        if self.pattern_text:
            constraints.append(self.pattern_text)
        if self.float_range is not None:
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(self.float_range[0]), to_value=float(self.float_range[1]), step=0.0)]
        if self.int_range is not None:
            desc.integer_range = [IntegerRange(
                from_value=int(self.int_range[0]), to_value=int(self.int_range[1]), step=1)]
        desc.additional_constraints = "; ".join(constraints)
        return desc

    def check(self, value: Any) -> str | None:
        """None if ``value`` is acceptable, else the reason (ranges are also checked by rclpy)."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            kind = {int: "an integer", float: "a float", bool: "a boolean", str: "a string"}[expected]
            return f"{self.name} must be {kind}, got {type(value).__name__} {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"{self.name} must be {self.pattern_text}, got {value!r}"
        if self.float_range is not None:
            lo, hi = self.float_range
            if not math.isfinite(value) or not lo <= value <= hi:
                return f"{self.name} must be within [{lo}, {hi}], got {value!r}"
        if self.int_range is not None:
            lo, hi = self.int_range
            if not lo <= value <= hi:
                return f"{self.name} must be within [{lo}, {hi}], got {value!r}"
        return None


_LT, _DI = LongTermParams(), DistractorParams()
UNIT = (0.0, 1.0)

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", "", "Model file: a project checkpoint or an official DaSiamRPN *.model. "
              "Empty: the bundled default model.", Applies.RELOAD),
    ParamSpec("device", "auto", "Inference device; auto = CUDA when available, else CPU; cuda:N picks a GPU.",
              Applies.RELOAD, pattern=DEVICE_PATTERN, pattern_text="auto, cpu, cuda or cuda:N"),
    ParamSpec("half", False, "16-bit inference: float16 on CUDA (Jetson: about 2x), bfloat16 on CPUs with "
              "AVX512-BF16/AMX with backend torch or openvino (about 2x); else ignored (logged).",
              Applies.RELOAD),
    ParamSpec("threads", 0, "CPU threads of the network (torch intra-op threads, or the runtime's); "
              "0 = torch's default (the number of cores).", Applies.RELOAD, int_range=(0, 256)),
    ParamSpec("backend", "auto", "Inference backend: torch, onnxruntime or openvino (CPU), or auto = the "
              "fastest installed for the device (logged at start).", Applies.RELOAD, choices=BACKEND_CHOICES),
    ParamSpec("mode", "dasiamrpn", "siamrpn (vanilla), dasiamrpn (distractor-aware) or longterm "
              "(distractor-aware with the local-to-global search; reports searching/lost).",
              Applies.RELOAD, choices=MODES),
    ParamSpec("use_compressed", False, "Subscribe to image/compressed (sensor_msgs/CompressedImage) "
              "instead of image.", Applies.RESTART),
    ParamSpec("image_reliability", "best_effort", "QoS reliability of the image subscription.",
              Applies.RESTART, choices=RELIABILITIES),
    ParamSpec("image_queue_depth", 1, "QoS keep-last depth of the image subscription (1 keeps only "
              "the newest frame).", Applies.RESTART, int_range=(1, 100)),
    ParamSpec("frame_policy", "latest", "latest: track the newest frame, drop the older ones (live "
              "cameras); every: track every frame in order, up to frame_buffer_size/_max_mb waiting "
              "(overflow counted as dropped): a bag replayed at any speed gives the same boxes.",
              Applies.LIVE, choices=FRAME_POLICIES),
    ParamSpec("frame_buffer_size", 30, "Frames kept for ~/init_box with a stamp (a box drawn on a "
              "delayed frame).", Applies.LIVE, int_range=(1, 600)),
    ParamSpec("frame_buffer_max_mb", 200.0, "Memory bound of the frame buffer in MiB (encoded message "
              "bytes); the oldest frames go first, the newest is always kept. 30 frames of 1080p rgb8 "
              "are 187 MiB.", Applies.LIVE, float_range=(1.0, 65536.0)),
    ParamSpec("image_timeout", 1.0, "Seconds without an image while tracking before /diagnostics "
              "warns (the camera stopped or the link dropped).", Applies.LIVE, float_range=(0.01, 3600.0)),
    ParamSpec("label", "target", "class_id of the tracked target in ~/detections.", Applies.LIVE),
    ParamSpec("init_class_id", "", "~/init_detections: only detections of this class_id start tracking "
              "(empty: any class).", Applies.LIVE),
    ParamSpec("init_min_score", 0.5, "~/init_detections: the lowest detection score that starts tracking.",
              Applies.LIVE, float_range=UNIT),
    ParamSpec("reinit_on_lost", False, "longterm: once the state is lost (after lost_after_frames of "
              "search), the next matching ~/init_detections re-initialises (a new target id).", Applies.LIVE),
    ParamSpec("max_targets", 1, "Targets tracked at once, in one batched network call per frame. 1: a "
              "new ~/init_box replaces the target; more: it adds one (its id in the answer) until the "
              "limit, then is refused; ~/remove_target ends one, ~/stop all. Lowering it ends none.",
              Applies.LIVE, int_range=(1, 64)),
    ParamSpec("mutual_awareness", True, "max_targets > 1, dasiamrpn/longterm: every other target is a known "
              "distractor of each target (Eq. 3), and a target does not take over another's box unless "
              "its score clearly wins (docs/multi_target.md).", Applies.RESTART),
    ParamSpec("publish_debug_image", True, "Publish ~/debug_image (computed only while subscribed).",
              Applies.LIVE),
    ParamSpec("use_depth", False, "Also subscribe to a depth image registered to the colour image (depth: "
              "16UC1 mm or 32FC1 m, at the colour image's size) and its depth/camera_info, and publish "
              "~/detections_3d and ~/position. false: no depth subscription.", Applies.RESTART),
    ParamSpec("depth_max_age", 0.05, "use_depth: the paired depth frame is the one of the closest stamp no "
              "older than this many seconds before the colour frame (and at most "
              f"{DEPTH_MAX_LEAD_S * 1000:g} ms after it); none: no 3D output for that frame, counted as depth_stale.", Applies.LIVE, float_range=(0.001, 1.0)),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", Applies.RESTART,
              float_range=(0.1, 60.0)),
    ParamSpec("failure_threshold", _LT.failure_threshold, "longterm: a score below this is a low "
              "frame; more than failure_patience in a row start the search (state searching).",
              Applies.LIVE, float_range=UNIT),
    ParamSpec("failure_patience", _LT.failure_patience, "longterm: low frames in a row that keep "
              "tracking locally before the search starts (0: search on the first).", Applies.LIVE,
              int_range=(0, 1000)),
    ParamSpec("recovery_threshold", _LT.recovery_threshold, "longterm: a score above this while "
              "searching resumes tracking; must be >= failure_threshold.", Applies.LIVE,
              float_range=UNIT),
    ParamSpec("lost_after_frames", _LT.lost_after_frames, "longterm: frames of unsuccessful search "
              "before the state becomes lost.", Applies.LIVE, int_range=(1, 100000)),
    ParamSpec("similarity_failure_ratio", MODEL_VALUE, "longterm: a frame whose template similarity "
              "falls below this fraction of its running average is also a low frame (0: off); negative "
              "(default -1): the model file's own value (the default model: 0.7; other files: 0).",
              Applies.LIVE, float_range=(-1.0, 1.0)),
    ParamSpec("distractor_threshold", _DI.distractor_threshold, "dasiamrpn/longterm: a proposal "
              "scoring above this is treated as a distractor.", Applies.LIVE, float_range=UNIT),
)
SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMS}
THRESHOLD_NAMES = ("failure_threshold", "failure_patience", "recovery_threshold", "lost_after_frames",
                   "similarity_failure_ratio", "distractor_threshold")


@dataclass(frozen=True)
class ModelSettings:
    checkpoint: str | None   # None: the bundled model
    device: str
    mode: str
    backend: str = "torch"
    half: bool = False
    threads: int = 0


@dataclass(frozen=True)
class Thresholds:
    failure_threshold: float
    failure_patience: int
    recovery_threshold: float
    lost_after_frames: int
    similarity_failure_ratio: float
    distractor_threshold: float

    def overrides(self, stored: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword overrides for ``load_tracker`` / ``TrackerConfig.with_overrides``.

        A parameter at a negative value (``MODEL_VALUE``) means the model file's own value: left out
        when ``stored`` is None (``load_tracker`` applies the file's), else taken from ``stored`` (the
        loaded file's tracker section, ``tracker.checkpoint.tracker``) or the code default, so setting
        it back to -1 at run time restores the file's value.
        """
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in MODEL_VALUED and value < 0:
                if stored is None:
                    continue
                value = stored.get(f.name, getattr(_LT, f.name))
            out[f.name] = value
        return out


@dataclass(frozen=True)
class NodeSettings:
    model: ModelSettings
    thresholds: Thresholds
    use_compressed: bool
    image_reliability: str
    image_queue_depth: int
    frame_policy: str
    frame_buffer_size: int
    frame_buffer_max_mb: float
    image_timeout: float
    label: str
    init_class_id: str
    init_min_score: float
    reinit_on_lost: bool
    max_targets: int
    mutual_awareness: bool
    publish_debug_image: bool
    diagnostics_period: float
    use_depth: bool
    depth_max_age: float

    @staticmethod
    def from_values(values: Mapping[str, Any]) -> NodeSettings:
        """Build and validate; raises ValueError naming every problem."""
        unknown = set(values) - set(SPECS)
        problems = [f"unknown parameter {name!r}" for name in sorted(unknown)]
        problems += [msg for name, spec in SPECS.items() if (msg := spec.check(values.get(name))) is not None]
        if not problems and values["recovery_threshold"] < values["failure_threshold"]:
            problems.append(f"recovery_threshold ({values['recovery_threshold']}) must be >= "
                            f"failure_threshold ({values['failure_threshold']})")
        if problems:
            raise ValueError("; ".join(problems))
        v = {name: (float(x) if isinstance(SPECS[name].default, float) else x) for name, x in values.items()}
        return NodeSettings(
            model=ModelSettings(v["checkpoint"] or None, v["device"], v["mode"], v["backend"], v["half"],
                                v["threads"]),
            thresholds=Thresholds(**{name: v[name] for name in THRESHOLD_NAMES}),
            use_compressed=v["use_compressed"], image_reliability=v["image_reliability"],
            image_queue_depth=v["image_queue_depth"], frame_policy=v["frame_policy"],
            frame_buffer_size=v["frame_buffer_size"],
            frame_buffer_max_mb=v["frame_buffer_max_mb"], image_timeout=v["image_timeout"], label=v["label"],
            init_class_id=v["init_class_id"], init_min_score=v["init_min_score"], reinit_on_lost=v["reinit_on_lost"],
            max_targets=v["max_targets"], mutual_awareness=v["mutual_awareness"],
            publish_debug_image=v["publish_debug_image"], diagnostics_period=v["diagnostics_period"],
            use_depth=v["use_depth"], depth_max_age=v["depth_max_age"])


def defaults() -> dict[str, Any]:
    return {p.name: p.default for p in PARAMS}


@dataclass(frozen=True)
class ChangeCheck:
    ok: bool
    reason: str
    settings: NodeSettings | None


def check_changes(current: Mapping[str, Any], changes: Iterable[tuple[str, Any]]) -> ChangeCheck:
    """Validate a runtime change set against the current values.

    Rejected: unknown names, wrong types or ranges, recovery < failure threshold, and any change to a
    start-up-only parameter. Accepted changes of model parameters say that they reload the model at
    the next ~/init_box.
    """
    merged = dict(current)
    restart, reload = [], []
    for name, value in changes:
        spec = SPECS.get(name)
        if spec is None:
            return ChangeCheck(False, f"unknown parameter {name!r}", None)
        if spec.applies is Applies.RESTART and value != current.get(name):
            restart.append(name)
        if spec.applies is Applies.RELOAD and value != current.get(name):
            reload.append(name)
        merged[name] = value
    if restart:
        return ChangeCheck(False, f"{', '.join(restart)} is fixed at start-up: restart the node with the "
                                  f"new value (e.g. --ros-args -p {restart[0]}:=...)", None)
    try:
        settings = NodeSettings.from_values(merged)
    except ValueError as exc:
        return ChangeCheck(False, str(exc), None)
    reason = (f"{', '.join(reload)} changed: the model is reloaded at the next ~/init_box call"
              if reload else "")
    return ChangeCheck(True, reason, settings)

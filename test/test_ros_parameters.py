"""The node's parameter table: config/tracker.yaml agrees with it and with the core's defaults, and
runtime changes are validated (bad values rejected with the reason, reload/restart said)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from dasiamrpn_core.config import DistractorParams, LongTermParams, TrackerConfig  # noqa: E402
from dasiamrpn_ros.parameters import (MODEL_VALUE, MODEL_VALUED, PARAMS, SPECS, THRESHOLD_NAMES, Applies, NodeSettings,  # noqa: E402
                                      check_changes, defaults)

REPO = Path(__file__).resolve().parents[1]
YAML = REPO / "config" / "tracker.yaml"


def yaml_parameters() -> dict:
    data = yaml.safe_load(YAML.read_text())
    assert list(data) == ["/**"], "the file applies to any node name (a renamed or namespaced tracker too)"
    return data["/**"]["ros__parameters"]


def test_yaml_lists_every_parameter_with_its_default():
    values = yaml_parameters()
    assert set(values) == set(SPECS)
    for name, value in values.items():
        default = SPECS[name].default
        assert type(value) is type(default) and value == default, f"{name}: yaml {value!r} != default {default!r}"


def test_threshold_defaults_come_from_the_core_config():
    core = {**vars(LongTermParams()), **vars(DistractorParams())}
    for name in THRESHOLD_NAMES:
        # a value a model file may store defaults to "the file's own" (MODEL_VALUE), else to the core's
        assert SPECS[name].default == (MODEL_VALUE if name in MODEL_VALUED else core[name])
    assert MODEL_VALUED == ("similarity_failure_ratio",) and MODEL_VALUE < 0
    # the node's overrides are accepted by the core config as they are
    TrackerConfig().with_overrides(**NodeSettings.from_values(defaults()).thresholds.overrides())


def test_every_parameter_has_a_description_and_consistent_constraints():
    for spec in PARAMS:
        desc = spec.descriptor()
        assert desc.description and f"applies: {spec.applies.value}" in desc.additional_constraints
        assert spec.check(spec.default) is None, spec.name
        if spec.float_range:
            assert desc.floating_point_range[0].from_value == spec.float_range[0]
        if spec.int_range:
            assert desc.integer_range[0].to_value == spec.int_range[1]


def test_defaults_build_settings():
    s = NodeSettings.from_values(defaults())
    assert s.model.checkpoint is None and s.model.mode == "dasiamrpn" and s.model.device == "auto"
    assert s.image_reliability == "best_effort" and s.image_queue_depth == 1


@pytest.mark.parametrize("changes, words", [
    ({"failure_threshold": 1.5}, "failure_threshold must be within [0.0, 1.0]"),
    ({"failure_threshold": float("nan")}, "failure_threshold must be within"),
    ({"recovery_threshold": 0.1}, "recovery_threshold (0.1) must be >= failure_threshold (0.5)"),
    ({"lost_after_frames": 0}, "lost_after_frames must be within [1, 100000]"),
    ({"failure_patience": -1}, "failure_patience must be within [0, 1000]"),
    ({"failure_patience": 2.5}, "failure_patience must be an integer"),
    ({"distractor_threshold": "high"}, "distractor_threshold must be a float"),
    ({"mode": "fast"}, "mode must be one of siamrpn, dasiamrpn, longterm"),
    ({"device": "tpu"}, "device must be auto, cpu, cuda or cuda:N"),
    ({"frame_buffer_size": 0}, "frame_buffer_size must be within [1, 600]"),
    ({"image_reliability": "reliable"}, "image_reliability is fixed at start-up: restart the node"),
    ({"use_compressed": True}, "use_compressed is fixed at start-up"),
    ({"use_depth": True}, "use_depth is fixed at start-up"),
    ({"depth_max_age": 0.0}, "depth_max_age must be within [0.001, 1.0]"),
    ({"depth_max_age": 2.0}, "depth_max_age must be within [0.001, 1.0]"),
    ({"no_such_parameter": 1}, "unknown parameter 'no_such_parameter'"),
])
def test_invalid_runtime_changes_are_rejected_with_the_reason(changes, words):
    check = check_changes(defaults(), changes.items())
    assert not check.ok and words in check.reason, check.reason


def test_valid_changes():
    live = check_changes(defaults(), [("failure_threshold", 0.2), ("recovery_threshold", 0.9),
                                      ("failure_patience", 0), ("frame_buffer_size", 5),
                                      ("publish_debug_image", False)])
    assert live.ok and live.reason == "" and live.settings.thresholds.failure_threshold == 0.2
    assert live.settings.thresholds.overrides()["failure_patience"] == 0   # reaches the tracker config
    reload = check_changes(defaults(), [("mode", "longterm"), ("checkpoint", "/x.pth")])
    assert reload.ok and "reloaded at the next ~/init_box" in reload.reason
    assert reload.settings.model.checkpoint == "/x.pth"
    same = check_changes(defaults(), [("use_compressed", False)])  # setting a restart-only value to itself
    assert same.ok
    # both thresholds at once may cross each other's old values
    crossed = check_changes({**defaults(), "failure_threshold": 0.1, "recovery_threshold": 0.2},
                            [("failure_threshold", 0.5), ("recovery_threshold", 0.6)])
    assert crossed.ok


def test_applies_classes_are_as_documented():
    restart = {p.name for p in PARAMS if p.applies is Applies.RESTART}
    reload = {p.name for p in PARAMS if p.applies is Applies.RELOAD}
    assert reload == {"checkpoint", "device", "backend", "mode", "half", "threads"}
    assert restart == {"use_compressed", "image_reliability", "image_queue_depth", "diagnostics_period", "use_depth",
                       "mutual_awareness"}


def test_docs_parameter_table_matches_the_node():
    """Every parameter is in docs/ros.md's table with its default and when it applies, and the
    table lists no parameter the node does not have."""
    import re
    table = (REPO / "docs" / "ros.md").read_text()
    rows = {name: (default, applies) for name, default, applies
            in re.findall(r"^\| `(\w+)` \| `([^`]*)` \| (live|reload|restart) \|", table, re.M)}

    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return '""' if value == "" else str(value)
    assert set(rows) == {p.name for p in PARAMS}
    for p in PARAMS:
        assert rows[p.name] == (text(p.default), p.applies.value), p.name


# -- each piece of the parameter handling, exactly ------------------------------------------------

def test_descriptors_carry_name_ranges_and_constraints_exactly():
    threshold = SPECS["failure_threshold"].descriptor()
    assert threshold.name == "failure_threshold" and threshold.description == SPECS["failure_threshold"].description
    (fr,) = threshold.floating_point_range
    assert (fr.from_value, fr.to_value, fr.step) == (0.0, 1.0, 0.0) and not threshold.integer_range
    assert threshold.additional_constraints == "applies: live"
    patience = SPECS["failure_patience"].descriptor()
    (ir,) = patience.integer_range
    assert (ir.from_value, ir.to_value, ir.step) == (0, 1000, 1) and not patience.floating_point_range
    assert SPECS["mode"].descriptor().additional_constraints == "applies: reload; one of siamrpn, dasiamrpn, longterm"
    assert SPECS["device"].descriptor().additional_constraints == "applies: reload; auto, cpu, cuda or cuda:N"
    assert SPECS["use_compressed"].descriptor().additional_constraints == "applies: restart"


@pytest.mark.parametrize("name, value, message", [
    ("failure_threshold", True, "failure_threshold must be a float, got bool True"),
    ("failure_patience", "3", "failure_patience must be an integer, got str '3'"),
    ("half", 1, "half must be a boolean, got int 1"),
    ("label", 3, "label must be a string, got int 3"),
    ("failure_threshold", -0.001, "failure_threshold must be within [0.0, 1.0], got -0.001"),
    ("failure_threshold", float("inf"), "failure_threshold must be within [0.0, 1.0], got inf"),
    ("frame_buffer_size", 601, "frame_buffer_size must be within [1, 600], got 601"),
    ("backend", "tensorrt", "backend must be one of auto, torch, onnxruntime, openvino, got 'tensorrt'"),
    ("device", "cuda:", "device must be auto, cpu, cuda or cuda:N, got 'cuda:'"),
])
def test_check_names_the_problem_exactly(name, value, message):
    assert SPECS[name].check(value) == message


@pytest.mark.parametrize("name, value", [
    ("failure_threshold", 0.0), ("failure_threshold", 1.0), ("failure_threshold", 1),   # an int for a float
    ("frame_buffer_size", 1), ("frame_buffer_size", 600), ("failure_patience", 0), ("device", "cuda:1"),
])
def test_check_accepts_the_range_ends_and_ints_for_floats(name, value):
    assert SPECS[name].check(value) is None


def test_every_value_reaches_its_field_in_the_settings():
    values = {**defaults(), "checkpoint": "/m.pth", "device": "cuda:1", "mode": "longterm", "backend": "openvino",
              "half": True, "threads": 3, "use_compressed": True, "image_reliability": "reliable",
              "image_queue_depth": 4, "frame_policy": "every", "frame_buffer_size": 7, "frame_buffer_max_mb": 9,
              "image_timeout": 2, "label": "cup", "init_class_id": "person", "init_min_score": 0.3,
              "reinit_on_lost": True, "publish_debug_image": False, "diagnostics_period": 0.5,
              "failure_threshold": 0.25, "failure_patience": 5, "recovery_threshold": 0.75, "lost_after_frames": 9,
              "similarity_failure_ratio": 0.4, "distractor_threshold": 0.6}
    s = NodeSettings.from_values(values)
    assert s.model == type(s.model)("/m.pth", "cuda:1", "longterm", "openvino", True, 3)
    assert (s.use_compressed, s.image_reliability, s.image_queue_depth, s.frame_policy, s.frame_buffer_size) == \
        (True, "reliable", 4, "every", 7)
    assert (s.label, s.init_class_id, s.init_min_score, s.reinit_on_lost, s.publish_debug_image) == \
        ("cup", "person", 0.3, True, False)
    assert s.thresholds.overrides() == {"failure_threshold": 0.25, "failure_patience": 5, "recovery_threshold": 0.75,
                                        "lost_after_frames": 9, "similarity_failure_ratio": 0.4,
                                        "distractor_threshold": 0.6}
    # a negative similarity_failure_ratio is the model file's own value: left to load_tracker, or taken
    # from the loaded file's tracker section (the code default where the file has none)
    model_valued = NodeSettings.from_values({**values, "similarity_failure_ratio": -1.0}).thresholds
    assert "similarity_failure_ratio" not in model_valued.overrides()
    assert model_valued.overrides({"similarity_failure_ratio": 0.7})["similarity_failure_ratio"] == 0.7
    assert model_valued.overrides({})["similarity_failure_ratio"] == 0.0
    # integers given for float parameters become floats
    assert type(s.frame_buffer_max_mb) is float and s.frame_buffer_max_mb == 9.0
    assert type(s.image_timeout) is float and s.diagnostics_period == 0.5
    assert NodeSettings.from_values({**defaults(), "checkpoint": ""}).model.checkpoint is None


def test_all_problems_are_named_together_and_equal_thresholds_are_valid():
    with pytest.raises(ValueError) as info:
        NodeSettings.from_values({**defaults(), "no_such": 1, "mode": "x", "threads": -1})
    assert str(info.value) == ("unknown parameter 'no_such'; threads must be within [0, 256], got -1; "
                               "mode must be one of siamrpn, dasiamrpn, longterm, got 'x'")
    equal = NodeSettings.from_values({**defaults(), "failure_threshold": 0.7, "recovery_threshold": 0.7})
    assert equal.thresholds.recovery_threshold == equal.thresholds.failure_threshold == 0.7


def test_change_answers_are_exact():
    unknown = check_changes(defaults(), [("nope", 1)])
    assert unknown.ok is False and unknown.reason == "unknown parameter 'nope'" and unknown.settings is None
    restart = check_changes(defaults(), [("use_compressed", True), ("image_queue_depth", 3)])
    assert restart.ok is False and restart.settings is None
    assert restart.reason == ("use_compressed, image_queue_depth is fixed at start-up: restart the node with the "
                              "new value (e.g. --ros-args -p use_compressed:=...)")
    bad = check_changes(defaults(), [("failure_threshold", 2.0)])
    assert bad.ok is False and bad.settings is None
    reload = check_changes(defaults(), [("mode", "siamrpn"), ("threads", 2), ("device", "auto")])
    assert reload.ok is True and reload.reason == ("mode, threads changed: the model is reloaded at the next "
                                                   "~/init_box call")
    unchanged = check_changes(defaults(), [("mode", "dasiamrpn")])
    assert unchanged.ok is True and unchanged.reason == "" and unchanged.settings == NodeSettings.from_values(defaults())

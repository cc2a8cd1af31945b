"""The node's parameter table: config/tracker.yaml agrees with it and with the core's defaults, and
runtime changes are validated (bad values rejected with the reason, reload/restart said)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from dasiamrpn_core.config import DistractorParams, LongTermParams, TrackerConfig  # noqa: E402
from dasiamrpn_ros.parameters import (PARAMS, SPECS, THRESHOLD_NAMES, Applies, NodeSettings,  # noqa: E402
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
        assert SPECS[name].default == core[name]
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
    assert restart == {"use_compressed", "image_reliability", "image_queue_depth", "diagnostics_period"}


def test_readme_parameter_table_matches_the_node():
    """Every parameter is in the README's table with its default and when it applies, and the
    table lists no parameter the node does not have."""
    import re
    readme = (REPO / "README.md").read_text()
    rows = {name: (default, applies) for name, default, applies
            in re.findall(r"^\| `(\w+)` \| `([^`]*)` \| (live|reload|restart) \|", readme, re.M)}

    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return '""' if value == "" else str(value)
    assert set(rows) == {p.name for p in PARAMS}
    for p in PARAMS:
        assert rows[p.name] == (text(p.default), p.applies.value), p.name

"""The rules of ``launch/tracker.launch.py``'s arguments, importable without ``launch`` (the standalone
venv has none, so the tests check these here and the launch file only wires them).

* One boolean rule for every boolean argument: ``true``/``1`` and ``false``/``0`` in any case (what
  launch's ``IfCondition`` accepts for ``start_camera``); anything else stops the launch with the
  argument named. ``use_compressed``, ``use_depth`` and ``use_sim_time`` may also be empty: the
  parameters file's value (or the node's default) applies.
* The depth camera info topic defaults to the ``camera_info`` beside the depth image topic
  (``/camera/depth/image_raw`` -> ``/camera/depth/camera_info``), the ROS camera convention.
* A tracker that exits with a non-zero code (it failed to start: a bad parameter or checkpoint)
  ends the launch with a non-zero exit code; one that exits with 0 ends the launch normally.
"""
from __future__ import annotations

import posixpath
from collections.abc import Mapping

TRUE_WORDS, FALSE_WORDS = ("true", "1"), ("false", "0")
# arguments that override the parameters file when not empty, and which of them are booleans
OVERRIDABLE = ("checkpoint", "device", "mode", "use_compressed", "image_reliability", "use_depth", "use_sim_time")
BOOLEAN = ("use_compressed", "use_depth", "use_sim_time", "start_camera", "web")
CAMERA_INFO = "camera_info"
CAMERA_HINT = ("start_camera:=true needs the v4l2_camera package: sudo apt install ros-$ROS_DISTRO-v4l2-camera "
               "(or leave start_camera out and remap image:= to your camera's topic)")


class LaunchArgumentError(ValueError):
    """A launch argument with a value the launch file refuses; the message names it."""


def parse_bool(name: str, text: str, allow_empty: bool = False) -> bool | None:
    """``text`` of boolean argument ``name`` -> True/False (None: empty, when allowed)."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if word == "" and allow_empty:
        return None
    allowed = ", ".join(TRUE_WORDS + FALSE_WORDS) + (" or empty (the parameters file's value)" if allow_empty else "")
    raise LaunchArgumentError(f"launch argument {name}:={text!r} is not a boolean: use {allowed}")


def parameter_overrides(values: Mapping[str, str]) -> dict[str, str | bool]:
    """The node parameters the arguments set (empty ones are left to the parameters file)."""
    overrides: dict[str, str | bool] = {}
    for name in OVERRIDABLE:
        text = values.get(name, "")
        value = parse_bool(name, text, allow_empty=True) if name in BOOLEAN else (text or None)
        if value is not None:
            overrides[name] = value
    return overrides


def depth_info_topic(depth: str, depth_info: str = "") -> str:
    """``depth_info`` if set, else the camera_info topic beside the depth image topic."""
    return depth_info or posixpath.join(posixpath.dirname(depth), CAMERA_INFO)


def remappings(image: str, depth: str, depth_info: str = "") -> list[tuple[str, str]]:
    """The tracker's input remappings (the depth ones are unused unless use_depth is on)."""
    return [("image", image), ("image/compressed", f"{image}/compressed"), ("depth", depth),
            ("depth/camera_info", depth_info_topic(depth, depth_info))]


def exit_problem(node: str, returncode: int | None) -> str | None:
    """Why the launch must fail after the tracker exited with ``returncode`` (None: it need not)."""
    if returncode in (0, None):
        return None
    return (f"{node} exited with code {returncode} (it failed to start or crashed; its log above says why): "
            f"ending the launch with an error")


def web_parameters(port: str, tracker: str, use_compressed: str, image_reliability: str = "") -> dict[str, int | str | bool]:
    """The web page node's parameters (``web:=true``): its port, the tracker's fully qualified name
    and the tracker's image transport and reliability (empty: the web node's default); a port that
    is not 1..65535 stops the launch, named."""
    if not port.strip().isdigit() or not 0 < int(port) < 65536:
        raise LaunchArgumentError(f"launch argument web_port:={port!r} is not a TCP port (1..65535)")
    values: dict[str, int | str | bool] = {
        "port": int(port), "tracker": tracker,
        "use_compressed": bool(parse_bool("use_compressed", use_compressed, allow_empty=True))}
    if image_reliability:
        values["image_reliability"] = image_reliability
    return values

"""The launch file agrees with the package: its package, executables, node name and parameters file
exist and match setup.py, setup.cfg, package.xml and the node. `launch`/`launch_ros` are not
installable in the standalone venv, so the file is read with `ast` here; where they are importable
(a full ROS 2 install with the package built), the launch description is also loaded for real."""
from __future__ import annotations

import ast
import importlib.util
import re
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "tracker.launch.py"


def launch_constants() -> dict:
    tree = ast.parse(LAUNCH_FILE.read_text())
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def declared_arguments() -> set[str]:
    tree = ast.parse(LAUNCH_FILE.read_text())
    return {call.args[0].value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "DeclareLaunchArgument"}


def console_scripts_in_setup() -> dict[str, str]:
    text = (REPO / "setup.py").read_text()
    return dict(re.findall(r'"([\w-]+)\s*=\s*([\w.]+:\w+)"', text))


def test_package_and_executables_match_setup_and_package_xml():
    c = launch_constants()
    assert c["PACKAGE"] == ET.parse(REPO / "package.xml").getroot().findtext("name")
    scripts = console_scripts_in_setup()
    assert scripts[c["TRACKER_EXECUTABLE"]] == "dasiamrpn_ros.tracker_node:main"
    assert scripts["dasiamrpn-tracker-node"] == "dasiamrpn_ros.tracker_node:main"
    assert scripts["dasiamrpn-replay"] == scripts["replay_node"] == "dasiamrpn_ros.replay_node:main"
    # ros2 run looks for executables in lib/<package>; ament needs the resource marker
    assert f"script_dir=$base/lib/{c['PACKAGE']}" in (REPO / "setup.cfg").read_text()
    assert (REPO / "resource" / c["PACKAGE"]).exists()


def test_console_scripts_are_installed_and_import():
    entry_points = {ep.name: ep for ep in metadata.entry_points(group="console_scripts")}
    for name in ("dasiamrpn-tracker-node", "tracker_node", "dasiamrpn-replay", "replay_node"):
        if name not in entry_points:
            pytest.skip(f"{name} is not installed (pip install -e . first)")
        assert callable(entry_points[name].load())


def test_parameters_file_is_installed_and_matches_the_node():
    c = launch_constants()
    params = REPO.joinpath(*c["PARAMS_FILE"])
    assert params.exists()
    setup = (REPO / "setup.py").read_text()
    assert 'glob("config/*.yaml")' in setup and 'glob("launch/*.launch.py")' in setup
    data = yaml.safe_load(params.read_text())
    assert list(data) == [c["TRACKER_NODE_NAME"]]
    pytest.importorskip("rclpy", reason="needs the ROS 2 Python packages")
    from dasiamrpn_ros.parameters import SPECS
    from dasiamrpn_ros.tracker_node import NODE_NAME
    assert c["TRACKER_NODE_NAME"] == NODE_NAME
    assert set(c["OVERRIDABLE"]) <= set(SPECS)


def test_launch_arguments():
    assert {"image", "params_file", "checkpoint", "device", "mode", "start_camera", "video_device"} <= \
        declared_arguments()
    c = launch_constants()
    assert (c["CAMERA_PACKAGE"], c["CAMERA_EXECUTABLE"]) == ("v4l2_camera", "v4l2_camera_node")


def test_launch_description_loads_where_launch_is_installed():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not importable (standalone venv): checked statically above")
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    try:
        get_package_share_directory(launch_constants()["PACKAGE"])
    except PackageNotFoundError:
        pytest.skip("dasiamrpn_ros is not installed in the ament index (colcon build it first)")
    description = get_launch_description_from_python_launch_file(str(LAUNCH_FILE))
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == declared_arguments()

"""The launch file agrees with the package: its package, executables, node name and parameters file
exist and match setup.py, setup.cfg, package.xml and the node. `launch`/`launch_ros` are not
installable in the standalone venv, so the file is read with `ast` here; where they are importable
(a full ROS 2 install with the package built), the launch description is also loaded for real."""
from __future__ import annotations

import ast
import sys
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
    for name in ("dasiamrpn-tracker-node", "tracker_node", "dasiamrpn-tracker-lifecycle-node", "tracker_lifecycle_node",
                 "dasiamrpn-replay", "replay_node"):
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
    assert list(data) == ["/**"]   # any node name: a renamed tracker gets the file too
    import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
    from dasiamrpn_ros.parameters import SPECS
    from dasiamrpn_ros.tracker_node import NODE_NAME
    assert c["TRACKER_NODE_NAME"] == NODE_NAME
    assert set(c["OVERRIDABLE"]) <= set(SPECS)


def test_launch_arguments():
    assert {"image", "params_file", "checkpoint", "device", "mode", "start_camera", "video_device", "namespace",
            "node_name", "use_sim_time", "use_compressed", "image_reliability"} <= declared_arguments()
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


def test_shipped_fastdds_profile_keeps_the_robot_reachable():
    """The robot's profile only enlarges shared memory: UDPv4 stays on every interface (no
    whitelist), so RViz/Foxglove on another machine see the topics; the loopback one is the tests'."""
    ns = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    for name, loopback_only in (("fastdds_large_images.xml", False), ("fastdds_large_images_loopback.xml", True)):
        root = ET.parse(REPO / "config" / name).getroot()
        transports = {t.findtext("f:transport_id", namespaces=ns): t
                      for t in root.iterfind(".//f:transport_descriptor", ns)}
        used = [t.text for t in root.iterfind(".//f:userTransports/f:transport_id", ns)]
        assert set(used) == set(transports), name
        kinds = {t.findtext("f:type", namespaces=ns): t for t in transports.values()}
        assert int(kinds["SHM"].findtext("f:segment_size", namespaces=ns)) >= 16 * 2**20, name
        whitelist = [a.text for a in kinds["UDPv4"].iterfind(".//f:interfaceWhiteList/f:address", ns)]
        assert whitelist == (["127.0.0.1"] if loopback_only else []), name


# rosdep keys checked in ros/rosdistro (rosdep/python.yaml and the jazzy/humble distribution files)
ROSDEP_KEYS = {"rclpy", "rcl_interfaces", "builtin_interfaces", "sensor_msgs", "std_msgs", "std_srvs",
               "geometry_msgs", "diagnostic_msgs", "vision_msgs", "rosgraph_msgs", "visualization_msgs", "cv_bridge", "ament_index_python", "launch",
               "launch_ros", "python3-numpy", "python3-opencv", "python3-yaml", "python3-tqdm", "python3-torch",
               "python3-pytest", "python3-matplotlib"}
# optional inference backends (pip only, no rosdep key; backend=auto uses them when installed)
OPTIONAL = {"onnxruntime", "openvino", "onnx",
            "rosbags"}   # pip only: bag replay and dasiamrpn-track-bag (requirements-node.txt)
PYTHON_KEYS = {"numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "tqdm": "python3-tqdm",
               "torch": "python3-torch"}


def _imported_modules(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_package_xml_declares_what_the_node_imports_and_nothing_else():
    """Every ROS package and Python library the node, its core and its launch file import is an
    exec_depend, every exec_depend is imported, and every key is a real rosdep key."""
    root = ET.parse(REPO / "package.xml").getroot()
    exec_deps = {e.text for e in root.iter("exec_depend")}
    assert exec_deps | {e.text for e in root.iter("test_depend")} <= ROSDEP_KEYS
    runtime = [p for p in (REPO / "dasiamrpn_ros").glob("*.py") if p.name != "testing.py"]
    runtime += [p for p in sorted((REPO / "dasiamrpn_core").glob("*.py")) if not p.name.startswith("demo")]
    runtime += [LAUNCH_FILE]   # (the demo, evaluation and training are not the node: requirements.txt)
    imported = _imported_modules(runtime)
    stdlib = set(sys.stdlib_module_names)
    own = {"dasiamrpn_core", "dasiamrpn_ros", "__future__"}
    needed = {PYTHON_KEYS.get(m, m) for m in imported - stdlib - own - OPTIONAL}
    assert needed == exec_deps, f"imported but not declared: {needed - exec_deps}; declared, not imported: " \
                                f"{exec_deps - needed}"

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
    from dasiamrpn_ros.launch_arguments import BOOLEAN, OVERRIDABLE
    assert set(OVERRIDABLE) - {"use_sim_time"} <= set(SPECS)   # (use_sim_time is rclpy's own parameter)
    assert {name for name in OVERRIDABLE if name in SPECS and isinstance(SPECS[name].default, bool)} <= set(BOOLEAN)


def argument_defaults() -> dict[str, str]:
    tree = ast.parse(LAUNCH_FILE.read_text())
    defaults = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "DeclareLaunchArgument":
            default = next((k.value for k in call.keywords if k.arg == "default_value"), None)
            defaults[call.args[0].value] = default.value if isinstance(default, ast.Constant) else None
    return defaults


def test_launch_arguments():
    assert {"image", "params_file", "checkpoint", "device", "mode", "start_camera", "video_device", "namespace",
            "node_name", "use_sim_time", "use_compressed", "image_reliability", "use_depth", "depth",
            "depth_info"} <= declared_arguments()
    c = launch_constants()
    assert (c["CAMERA_PACKAGE"], c["CAMERA_EXECUTABLE"]) == ("v4l2_camera", "v4l2_camera_node")


def test_every_override_defaults_to_the_parameters_file():
    """An argument left out never overrides the parameters file: use_sim_time too (it defaulted to
    "false" and so overrode a file that sets use_sim_time: true)."""
    from dasiamrpn_ros.launch_arguments import OVERRIDABLE
    defaults = argument_defaults()
    assert {name: defaults[name] for name in OVERRIDABLE} == dict.fromkeys(OVERRIDABLE, "")
    assert defaults["depth_info"] == ""   # the camera_info beside the depth topic


def test_the_launch_file_uses_the_shared_rules():
    """The overrides, remappings, booleans (start_camera too) and the exit rule come from
    dasiamrpn_ros.launch_arguments (tested below); the tracker has an on_exit handler and no
    argument is read as a boolean any other way (no IfCondition, no == "true")."""
    text = LAUNCH_FILE.read_text()
    tree = ast.parse(text)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "dasiamrpn_ros.launch_arguments"
                for a in n.names}
    assert {"parameter_overrides", "parse_bool", "remappings", "exit_problem", "OVERRIDABLE", "CAMERA_HINT"} <= imported
    nodes = [call for call in ast.walk(tree) if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node"]
    tracker = [n for n in nodes if any(k.arg == "executable" and getattr(k.value, "id", "") == "TRACKER_EXECUTABLE"
                                       for k in n.keywords)]
    assert len(tracker) == 1 and any(k.arg == "on_exit" for k in tracker[0].keywords)
    assert "IfCondition" not in text and '== "true"' not in text and ".lower()" not in text
    assert 'parse_bool("start_camera"' in text


@pytest.mark.parametrize("text, value", [("true", True), ("TRUE", True), ("1", True), ("True", True),
                                         ("false", False), ("0", False), ("False", False), (" true ", True)])
def test_one_boolean_rule(text, value):
    from dasiamrpn_ros.launch_arguments import parse_bool
    assert parse_bool("use_compressed", text) is value


@pytest.mark.parametrize("text", ["yes", "2", "ture", "on", ""])
def test_boolean_garbage_is_refused_by_name(text):
    from dasiamrpn_ros.launch_arguments import LaunchArgumentError, parse_bool
    with pytest.raises(LaunchArgumentError, match=r"launch argument start_camera:=.* is not a boolean: use true, 1"):
        parse_bool("start_camera", text)


def test_parameter_overrides():
    from dasiamrpn_ros.launch_arguments import LaunchArgumentError, parameter_overrides
    assert parameter_overrides({"checkpoint": "", "use_compressed": "", "use_sim_time": ""}) == {}
    assert parameter_overrides({"use_compressed": "1", "use_depth": "TRUE", "use_sim_time": "0", "mode": "longterm",
                                "device": ""}) == {"use_compressed": True, "use_depth": True, "use_sim_time": False,
                                                   "mode": "longterm"}
    with pytest.raises(LaunchArgumentError, match="use_depth:='yes'"):
        parameter_overrides({"use_depth": "yes"})


def test_depth_remappings():
    from dasiamrpn_ros.launch_arguments import depth_info_topic, remappings
    assert depth_info_topic("/camera/camera/aligned_depth_to_color/image_raw") == \
        "/camera/camera/aligned_depth_to_color/camera_info"
    assert depth_info_topic("/cam/depth/image_raw", "/cam/depth/info") == "/cam/depth/info"
    assert dict(remappings("/c/image_raw", "/d/image_raw")) == {
        "image": "/c/image_raw", "image/compressed": "/c/image_raw/compressed", "depth": "/d/image_raw",
        "depth/camera_info": "/d/camera_info"}


def test_a_failed_tracker_fails_the_launch():
    from dasiamrpn_ros.launch_arguments import exit_problem
    assert exit_problem("/left/tracker", 0) is None and exit_problem("/left/tracker", None) is None
    assert "/left/tracker exited with code 1" in exit_problem("/left/tracker", 1)
    assert exit_problem("/t", -15) is not None


def test_the_readme_installs_what_its_launch_line_needs():
    """The quick start's start_camera:=true line comes with the v4l2_camera install; docs/ros.md says
    the camera is optional."""
    readme = (REPO / "README.md").read_text()
    if "start_camera:=true" in readme:
        assert "ros-jazzy-v4l2-camera" in readme
    assert "v4l2-camera" in (REPO / "docs" / "ros.md").read_text()


def test_the_start_up_line_names_the_fully_qualified_service(tmp_path):
    """A namespaced node says where its init_box is: /left/tracker/init_box, not tracker/init_box."""
    from dasiamrpn_ros.testing import DomainLease, NodeProcess
    with DomainLease() as lease:
        node = NodeProcess.tracker(lease.domain_id, tmp_path / "node.log",
                                   {"device": "cpu", "backend": "torch", "threads": 1, "mode": "siamrpn"},
                                   params_file=REPO / "config" / "tracker.yaml",
                                   remap={"__ns": "/left", "__node": "tracker"})
        try:
            assert node.wait_for_output("to start", 60), node.output()
            assert "waiting for images on /left/image; call /left/tracker/init_box to start" in node.output()
        finally:
            assert node.stop() == 0, node.output()


def test_a_failing_node_fails_the_launch_where_launch_is_installed(tmp_path):
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not importable (standalone venv): the exit rule is checked above")
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        get_package_share_directory(launch_constants()["PACKAGE"])
    except PackageNotFoundError:
        pytest.skip("dasiamrpn_ros is not installed in the ament index (colcon build it first)")
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    service = LaunchService()
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)), launch_arguments={"mode": "bogus"}.items())]))
    assert service.run() == 1


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
               "python3-pytest", "python3-matplotlib", "python3-aiohttp"}
# optional inference backends (pip only, no rosdep key; backend=auto uses them when installed)
OPTIONAL = {"onnxruntime", "openvino", "onnx",
            "rosbags"}   # pip only: bag replay and dasiamrpn-track-bag (requirements-node.txt)
# the project's own interface package (ros_interfaces/): a package of the workspace, which rosdep
# resolves from --from-paths src, not a rosdep key
WORKSPACE_PACKAGES = {p.parent.name for p in (REPO / "ros_interfaces").glob("*/package.xml")} - {"vision_msgs"}
PYTHON_KEYS = {"aiohttp": "python3-aiohttp", "numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "tqdm": "python3-tqdm",
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
    assert WORKSPACE_PACKAGES == {"dasiamrpn_interfaces"}
    assert exec_deps | {e.text for e in root.iter("test_depend")} <= ROSDEP_KEYS | WORKSPACE_PACKAGES
    runtime = [p for p in (REPO / "dasiamrpn_ros").glob("*.py") if p.name != "testing.py"]
    runtime += [p for p in sorted((REPO / "dasiamrpn_core").glob("*.py")) if not p.name.startswith("demo")]
    runtime += [LAUNCH_FILE]   # (the demo, evaluation and training are not the node: requirements.txt)
    imported = _imported_modules(runtime)
    stdlib = set(sys.stdlib_module_names)
    own = {"dasiamrpn_core", "dasiamrpn_ros", "__future__"}
    needed = {PYTHON_KEYS.get(m, m) for m in imported - stdlib - own - OPTIONAL}
    assert needed == exec_deps, f"imported but not declared: {needed - exec_deps}; declared, not imported: " \
                                f"{exec_deps - needed}"


def test_the_launch_starts_the_web_page_with_the_trackers_name_and_port():
    """web:=true (the default) also starts dasiamrpn-web for this tracker (its fully qualified name,
    its image remapping, web_port); a bad port stops the launch, named."""
    from dasiamrpn_ros.launch_arguments import LaunchArgumentError, web_parameters
    defaults = argument_defaults()
    assert (defaults["web"], defaults["web_port"]) == ("true", "8080")
    text = LAUNCH_FILE.read_text()
    assert 'parse_bool("web"' in text and "web_parameters(" in text and 'WEB_EXECUTABLE = "web"' in text
    setup = (REPO / "setup.py").read_text()
    assert '"web = dasiamrpn_ros.web_node:main"' in setup
    assert web_parameters("8081", "/left/tracker", "") == {"port": 8081, "tracker": "/left/tracker",
                                                          "use_compressed": False}
    assert web_parameters("80", "/t", "true")["use_compressed"] is True
    for bad in ("0", "70000", "http", ""):
        with pytest.raises(LaunchArgumentError, match=r"web_port:=.* is not a TCP port"):
            web_parameters(bad, "/t", "")
    assert web_parameters("80", "/t", "", "reliable")["image_reliability"] == "reliable"

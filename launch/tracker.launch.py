"""Launch the DaSiamRPN tracker node, optionally with a v4l2_camera driver.

    ros2 launch dasiamrpn_ros tracker.launch.py image:=/camera/image_raw
    ros2 launch dasiamrpn_ros tracker.launch.py start_camera:=true video_device:=/dev/video0 mode:=longterm

    ros2 launch dasiamrpn_ros tracker.launch.py namespace:=left node_name:=tracker image:=/left/image_raw

    ros2 launch dasiamrpn_ros tracker.launch.py use_depth:=true image:=/camera/camera/color/image_raw \\
        depth:=/camera/camera/aligned_depth_to_color/image_raw

Arguments: image (the topic remapped to the node's `image` input; `<image>/compressed` for
use_compressed), params_file (default: the installed config/tracker.yaml, which applies to any node
name), namespace, node_name, use_sim_time, checkpoint, device, mode, use_compressed, image_reliability,
use_depth (empty: keep the parameters file's value), depth (the registered depth image topic),
depth_info (its CameraInfo; empty: the camera_info beside the depth topic), start_camera (needs the
v4l2_camera package), video_device, web (default true: also dasiamrpn-web, the page to pick targets,
on 127.0.0.1:web_port; reach it through an SSH tunnel), web_port (8080). Booleans: true/1 or false/0 (any case); anything else stops the
launch naming the argument (dasiamrpn_ros/launch_arguments.py). A tracker that fails at start-up
(exit code 1) ends the launch with exit code 1.
"""
import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from dasiamrpn_ros.launch_arguments import (CAMERA_HINT, OVERRIDABLE, exit_problem, parameter_overrides, parse_bool,
                                            remappings, web_parameters)

PACKAGE = "dasiamrpn_ros"
TRACKER_EXECUTABLE = "tracker_node"
TRACKER_NODE_NAME = "dasiamrpn_tracker"
WEB_EXECUTABLE = "web"
CAMERA_PACKAGE = "v4l2_camera"
CAMERA_EXECUTABLE = "v4l2_camera_node"
PARAMS_FILE = ("config", "tracker.yaml")


def _value(context, name: str) -> str:
    return LaunchConfiguration(name).perform(context)


def _on_tracker_exit(node: str):
    """The tracker's on_exit: a failed tracker fails the launch (launch turns the exception into
    exit code 1 and shuts everything down); a tracker that ended cleanly ends the launch."""
    def handle(event, _context):
        problem = exit_problem(node, event.returncode)
        if problem is not None:
            raise RuntimeError(problem)
        return [Shutdown(reason=f"{node} exited")]
    return handle


def _tracker_node(context):
    values = {name: _value(context, name) for name in OVERRIDABLE}
    parameters = [_value(context, "params_file"), parameter_overrides(values)]
    name, namespace = _value(context, "node_name"), _value(context, "namespace")
    return [Node(package=PACKAGE, executable=TRACKER_EXECUTABLE, output="screen", name=name, namespace=namespace,
                 parameters=parameters, on_exit=_on_tracker_exit(_tracker_name(context)),
                 remappings=remappings(_value(context, "image"), _value(context, "depth"),
                                       _value(context, "depth_info")))]


def _tracker_name(context) -> str:
    namespace, name = _value(context, "namespace"), _value(context, "node_name")
    return "/".join(("", namespace.strip("/"), name)).replace("//", "/")


def _web_node(context):
    if not parse_bool("web", _value(context, "web")):
        return []
    image = _value(context, "image")
    return [Node(package=PACKAGE, executable=WEB_EXECUTABLE, name=f"{_value(context, 'node_name')}_web",
                 namespace=_value(context, "namespace"), output="screen",
                 parameters=[web_parameters(_value(context, "web_port"), _tracker_name(context),
                                            _value(context, "use_compressed"), _value(context, "image_reliability"))],
                 remappings=[("image", image), ("image/compressed", f"{image}/compressed")])]


def _camera_node(context):
    if not parse_bool("start_camera", _value(context, "start_camera")):
        return []
    try:
        get_package_share_directory(CAMERA_PACKAGE)
    except PackageNotFoundError as exc:
        raise RuntimeError(CAMERA_HINT) from exc
    return [Node(package=CAMERA_PACKAGE, executable=CAMERA_EXECUTABLE, name="camera", output="screen",
                 parameters=[{"video_device": _value(context, "video_device")}],
                 remappings=[("image_raw", _value(context, "image"))])]


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory(PACKAGE), *PARAMS_FILE)
    arguments = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="sensor_msgs/Image topic to track on"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML parameters file of the tracker node"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="model file (empty: the parameters file's, by default the bundled model)"),
        DeclareLaunchArgument("device", default_value="", description="auto | cpu | cuda (empty: parameters file)"),
        DeclareLaunchArgument("mode", default_value="",
                              description="siamrpn | dasiamrpn | longterm (empty: parameters file)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the tracker node"),
        DeclareLaunchArgument("node_name", default_value=TRACKER_NODE_NAME, description="name of the tracker node"),
        DeclareLaunchArgument("use_sim_time", default_value="",
                              description="true: stamps and timers follow /clock (rosbag replay) (empty: parameters "
                                          "file, else false)"),
        DeclareLaunchArgument("use_compressed", default_value="",
                              description="true: subscribe to <image>/compressed (empty: parameters file)"),
        DeclareLaunchArgument("image_reliability", default_value="",
                              description="best_effort | reliable (empty: parameters file)"),
        DeclareLaunchArgument("use_depth", default_value="",
                              description="true: also the depth topic in, ~/detections_3d and ~/position out "
                                          "(empty: parameters file)"),
        DeclareLaunchArgument("depth", default_value="/camera/depth/image_raw",
                              description="depth image registered to the image topic (16UC1 mm or 32FC1 m)"),
        DeclareLaunchArgument("depth_info", default_value="",
                              description="CameraInfo of the depth image (empty: camera_info beside the depth topic)"),
        DeclareLaunchArgument("start_camera", default_value="false",
                              description="also start v4l2_camera publishing the image topic "
                                          "(needs ros-$ROS_DISTRO-v4l2-camera)"),
        DeclareLaunchArgument("video_device", default_value="/dev/video0",
                              description="camera device for v4l2_camera"),
        DeclareLaunchArgument("web", default_value="true",
                              description="also start dasiamrpn-web, the page to pick targets (127.0.0.1:web_port)"),
        DeclareLaunchArgument("web_port", default_value="8080", description="TCP port of the page"),
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_camera_node),
                                          OpaqueFunction(function=_tracker_node),
                                          OpaqueFunction(function=_web_node)])

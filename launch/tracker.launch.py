"""Launch the DaSiamRPN tracker node, optionally with a v4l2_camera driver.

    ros2 launch dasiamrpn_ros tracker.launch.py image:=/camera/image_raw
    ros2 launch dasiamrpn_ros tracker.launch.py start_camera:=true video_device:=/dev/video0 mode:=longterm

    ros2 launch dasiamrpn_ros tracker.launch.py namespace:=left node_name:=tracker image:=/left/image_raw

Arguments: image (the topic remapped to the node's `image` input; `<image>/compressed` for
use_compressed), params_file (default: the installed config/tracker.yaml, which applies to any node
name), namespace, node_name, use_sim_time, checkpoint, device, mode, use_compressed, image_reliability
(empty: keep the parameters file's value), start_camera, video_device.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "dasiamrpn_ros"
TRACKER_EXECUTABLE = "tracker_node"
TRACKER_NODE_NAME = "dasiamrpn_tracker"
CAMERA_PACKAGE = "v4l2_camera"
CAMERA_EXECUTABLE = "v4l2_camera_node"
PARAMS_FILE = ("config", "tracker.yaml")
# launch arguments that override the parameters file when not empty, and how their text is typed
OVERRIDABLE = ("checkpoint", "device", "mode", "use_compressed", "image_reliability")
BOOLEAN = ("use_compressed",)


def _tracker_node(context):
    image = LaunchConfiguration("image").perform(context)
    overrides = {name: LaunchConfiguration(name).perform(context) for name in OVERRIDABLE}
    overrides = {name: (value.lower() == "true" if name in BOOLEAN else value)
                 for name, value in overrides.items() if value}
    overrides["use_sim_time"] = LaunchConfiguration("use_sim_time").perform(context).lower() == "true"
    parameters = [LaunchConfiguration("params_file").perform(context), overrides]
    return [Node(package=PACKAGE, executable=TRACKER_EXECUTABLE, output="screen",
                 name=LaunchConfiguration("node_name").perform(context),
                 namespace=LaunchConfiguration("namespace").perform(context),
                 parameters=parameters,
                 remappings=[("image", image), ("image/compressed", f"{image}/compressed")])]


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
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true: stamps and timers follow /clock (rosbag replay)"),
        DeclareLaunchArgument("use_compressed", default_value="",
                              description="true: subscribe to <image>/compressed (empty: parameters file)"),
        DeclareLaunchArgument("image_reliability", default_value="",
                              description="best_effort | reliable (empty: parameters file)"),
        DeclareLaunchArgument("start_camera", default_value="false",
                              description="also start v4l2_camera publishing the image topic"),
        DeclareLaunchArgument("video_device", default_value="/dev/video0",
                              description="camera device for v4l2_camera"),
    ]
    camera = Node(
        package=CAMERA_PACKAGE, executable=CAMERA_EXECUTABLE, name="camera", output="screen",
        parameters=[{"video_device": LaunchConfiguration("video_device")}],
        remappings=[("image_raw", LaunchConfiguration("image"))],
        condition=IfCondition(LaunchConfiguration("start_camera")))
    return LaunchDescription(arguments + [camera, OpaqueFunction(function=_tracker_node)])

"""ament_python package `dasiamrpn_ros` (also installable with pip into a plain venv).

rclpy and the ROS message packages are deliberately *not* install_requires: in a colcon
workspace the system's ROS 2 provides them; in the standalone venv requirements.txt pins the
PyPI ROS 2 Jazzy wheels.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dasiamrpn_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    # the training/ and benchmarks/ folders install as `dasiamrpn_training` and `dasiamrpn_benchmarks` (a
    # top-level `training` would collide with any other project's package of that name in site-packages)
    packages=find_packages(include=["dasiamrpn_core*", "dasiamrpn_ros*"])
    + [f"dasiamrpn_{p}" for p in find_packages(include=["training*", "benchmarks*"])],
    package_dir={"dasiamrpn_training": "training", "dasiamrpn_benchmarks": "benchmarks"},
    package_data={
        "dasiamrpn_core": ["weights/*.pth", "weights/*.md", "weights/*.json"],
        "dasiamrpn_ros": ["web/*.html"],
        "dasiamrpn_training": ["configs/*.yaml"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    python_requires=">=3.10",
    install_requires=["numpy", "torch", "tqdm", "PyYAML", "matplotlib"],
    zip_safe=True,
    maintainer="DaSiamRPN ROS 2 team",
    maintainer_email="dasiamrpn-ros@example.org",
    description="DaSiamRPN visual object tracker: PyTorch core, training, evaluation and a ROS 2 node",
    license="MIT",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            # every program is one of these (test/test_console_scripts.py runs each with --help)
            "dasiamrpn-demo = dasiamrpn_core.demo:main",
            "dasiamrpn-track = dasiamrpn_core.cli.track:main",
            "dasiamrpn-export = dasiamrpn_core.export:main",
            "dasiamrpn-eval = dasiamrpn_core.evaluation.cli:eval_main",
            "dasiamrpn-report = dasiamrpn_core.evaluation.cli:report_main",
            "dasiamrpn-train = dasiamrpn_training.cli:main",
            "dasiamrpn-train-curves = dasiamrpn_training.curves:main",
            "dasiamrpn-prepare = dasiamrpn_training.prepare:main",
            "dasiamrpn-tune = dasiamrpn_training.tune:main",
            "dasiamrpn-split = dasiamrpn_training.split:main",
            "dasiamrpn-tracker-node = dasiamrpn_ros.tracker_node:main",
            "dasiamrpn-tracker-lifecycle-node = dasiamrpn_ros.tracker_node:lifecycle_main",
            "dasiamrpn-replay = dasiamrpn_ros.replay_node:main",
            "dasiamrpn-track-bag = dasiamrpn_ros.track_bag:main",
            "dasiamrpn-client = dasiamrpn_ros.client:main",
            "dasiamrpn-web = dasiamrpn_ros.web_node:main",
            # the benchmarks (benchmarks/, installed as dasiamrpn_benchmarks)
            "dasiamrpn-bench = dasiamrpn_benchmarks.backends:main",
            "dasiamrpn-bench-peers = dasiamrpn_benchmarks.peers:main",
            "dasiamrpn-bench-heldout = dasiamrpn_benchmarks.heldout:main",
            "dasiamrpn-bench-longterm = dasiamrpn_benchmarks.longterm_reappear:main",
            "dasiamrpn-bench-box-shape = dasiamrpn_benchmarks.box_shape:main",
            "dasiamrpn-bench-eval = dasiamrpn_benchmarks.eval_overhead:main",
            "dasiamrpn-bench-train = dasiamrpn_benchmarks.train_throughput:main",
            "dasiamrpn-bench-ros = dasiamrpn_benchmarks.ros_latency:main",
            "dasiamrpn-bench-depth = dasiamrpn_benchmarks.depth_cost:main",
            "dasiamrpn-bench-multi = dasiamrpn_benchmarks.multi_targets:main",
            "dasiamrpn-bench-multi-awareness = dasiamrpn_benchmarks.multi_awareness:main",
            "dasiamrpn-bench-web = dasiamrpn_benchmarks.web_page:main",
            "dasiamrpn-gpu-check = dasiamrpn_benchmarks.gpu_check:main",
            # names used by `ros2 run dasiamrpn_ros <exe>` in a colcon workspace
            "tracker_node = dasiamrpn_ros.tracker_node:main",
            "tracker_lifecycle_node = dasiamrpn_ros.tracker_node:lifecycle_main",
            "replay_node = dasiamrpn_ros.replay_node:main",
            "web = dasiamrpn_ros.web_node:main",
        ],
    },
)

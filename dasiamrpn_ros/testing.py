"""Real-DDS helpers for the tests, the demo and the latency benchmark (no mocks).

* :class:`DomainLease` picks a ROS_DOMAIN_ID no other run on this machine holds (lock files), so
  parallel runs never see each other's nodes.
* :func:`ros_env` is the environment for a ROS subprocess: a *copy* of ``os.environ`` (the PyPI ROS
  wheels re-execute Python once with ``LD_LIBRARY_PATH`` set; a pruned environment breaks rclpy)
  plus localhost-only discovery and the leased domain id.
* :class:`NodeProcess` starts a console script exactly as a user does and stops it with a signal.
* :class:`Probe` is an rclpy node in its own context: it publishes frames, records the tracker's
  outputs and calls its services, with timeouts everywhere.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

DOMAIN_IDS = range(1, 102)           # valid ROS 2 domain ids on Linux with the default port layout
LOCK_DIR = Path(tempfile.gettempdir()) / "dasiamrpn_ros_domains"
LOCALHOST_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
# Fast DDS profile for frames larger than its 512 KiB shared-memory segment, UDP on loopback only
# (see the file; the robot's profile is config/fastdds_large_images.xml)
LARGE_IMAGES_PROFILE = Path(__file__).resolve().parents[1] / "config" / "fastdds_large_images_loopback.xml"
LARGE_IMAGES_ENV = {"FASTRTPS_DEFAULT_PROFILES_FILE": str(LARGE_IMAGES_PROFILE)}
TRACKER_NODE = "dasiamrpn_tracker"


class DomainLease:
    """Hold a ROS_DOMAIN_ID exclusively (an flock on a per-id file) until :meth:`release`."""

    def __init__(self, start: int | None = None):
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        ids = list(DOMAIN_IDS)
        first = (os.getpid() * 7 if start is None else start) % len(ids)
        for offset in range(len(ids)):
            domain = ids[(first + offset) % len(ids)]
            fd = os.open(LOCK_DIR / f"{domain}.lock", os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.domain_id, self._fd = domain, fd
            return
        raise RuntimeError(f"all ROS domain ids {DOMAIN_IDS.start}..{DOMAIN_IDS.stop - 1} are in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DomainLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def ros_env(domain_id: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LOCALHOST_ENV)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def console_script(name: str) -> list[str]:
    """The venv's console script ``name`` (how users start it), or ``python -m`` as a fallback."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    modules = {"dasiamrpn-tracker-node": "dasiamrpn_ros.tracker_node",
               "dasiamrpn-replay": "dasiamrpn_ros.replay_node", "dasiamrpn-client": "dasiamrpn_ros.client"}
    return [sys.executable, "-m", modules[name]]


class NodeProcess:
    """A ROS console script as a subprocess, its output in a log file."""

    def __init__(self, command: Sequence[str], domain_id: int, log_path: Path,
                 extra_env: dict[str, str] | None = None):
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(list(command), env=ros_env(domain_id, extra_env), stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @staticmethod
    def tracker(domain_id: int, log_path: Path, params: dict[str, Any], params_file: Path | None = None,
                remap: dict[str, str] | None = None, extra_env: dict[str, str] | None = None) -> NodeProcess:
        """The tracker node's console script; ``params`` override ``params_file`` (they come after it)."""
        command = console_script("dasiamrpn-tracker-node") + ["--ros-args"]
        if params_file is not None:
            command += ["--params-file", str(params_file)]
        for name, value in params.items():
            command += ["-p", f"{name}:={_param_text(value)}"]
        for source, target in (remap or {}).items():
            command += ["-r", f"{source}:={target}"]
        return NodeProcess(command, domain_id, log_path, extra_env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def rss_bytes(self) -> int:
        """Resident memory of the process (Linux /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS not found")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code (killed after ``timeout``: returns -9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value == "":
        return "''"
    return str(value)


@dataclass(frozen=True)
class Received:
    at: float      # time.time() when the probe received it
    msg: Any


class Probe:
    """A test-side rclpy node (own context and executor thread) talking to the tracker node."""

    def __init__(self, domain_id: int, node_name: str = TRACKER_NODE, image_topic: str = "image",
                 compressed: bool = False, reliable_outputs: bool = True):
        """``reliable_outputs=False`` records box/score/state best effort: a lost sample stays lost
        instead of being repaired by the reliable protocol seconds later (Fast DDS resends after its
        heartbeat period), so arrival times measure the node, not the repair."""
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PolygonStamped
        from rcl_interfaces.srv import SetParameters
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CompressedImage, Image
        from sensor_msgs.srv import SetCameraInfo
        from std_msgs.msg import Float32, String
        from std_srvs.srv import Trigger

        os.environ.update(LOCALHOST_ENV)  # read by the middleware when the context starts
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"probe_{os.getpid()}", context=self.context)
        self._cond = threading.Condition()
        self.records: dict[str, list[Received]] = {"box": [], "score": [], "state": [], "diagnostics": [],
                                                   "debug_image": [], "detections": []}
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                              reliability=ReliabilityPolicy.RELIABLE)
        outputs = reliable if reliable_outputs else QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
        prefix = f"/{node_name}"
        for key, kind, topic in (("box", PolygonStamped, f"{prefix}/box"), ("score", Float32, f"{prefix}/score"),
                                 ("state", String, f"{prefix}/state"),
                                 ("diagnostics", DiagnosticArray, "/diagnostics")):
            self.node.create_subscription(kind, topic, self._recorder(key),
                                          reliable if key == "diagnostics" else outputs)
        try:
            from vision_msgs.msg import Detection2DArray
        except ImportError:  # a node without vision_msgs publishes no detections either
            Detection2DArray = None
        if Detection2DArray is not None:
            self.node.create_subscription(Detection2DArray, f"{prefix}/detections", self._recorder("detections"),
                                          outputs)
        self._debug_sub = None
        self._debug_topic = f"{prefix}/debug_image"
        image_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(CompressedImage if compressed else Image,
                                                    f"{image_topic}/compressed" if compressed else image_topic,
                                                    image_qos)
        self.init_client = self.node.create_client(SetCameraInfo, f"{prefix}/init_box")
        self.stop_client = self.node.create_client(Trigger, f"{prefix}/stop")
        try:
            from dasiamrpn_interfaces.srv import RemoveTarget
            self.remove_client = self.node.create_client(RemoveTarget, f"{prefix}/remove_target")
        except ImportError:   # the node offers no ~/remove_target either
            self.remove_client = None
        self.param_client = self.node.create_client(SetParameters, f"{prefix}/set_parameters")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, name="probe", daemon=True)
        self._thread.start()

    def _recorder(self, key: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self._cond:
                self.records[key].append(Received(time.time(), msg))
                self._cond.notify_all()
        return record

    def add_recorder(self, key: str, kind, topic: str) -> None:
        """Also record ``topic`` (reliable, keep-last 1000) under ``key``."""
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        with self._cond:
            self.records.setdefault(key, [])
        self.node.create_subscription(kind, topic, self._recorder(key), QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.RELIABLE))

    def with_stamp(self, key: str, stamp) -> list[Received]:
        with self._cond:
            return [r for r in self.records[key] if r.msg.header.stamp == stamp]

    def subscribe_debug_image(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        self._debug_sub = self.node.create_subscription(Image, self._debug_topic, self._recorder("debug_image"),
                                                        qos_profile_sensor_data)

    # -- waiting ---------------------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    def wait_ready(self, node: NodeProcess | None = None, timeout: float = 60.0) -> None:
        """Services up and the image subscription matched (the node has finished starting).

        Fails at once, with the node's output, if ``node`` exits meanwhile.
        """
        deadline = time.monotonic() + timeout
        clients = [self.init_client, self.stop_client, self.param_client]
        while clients or self.image_pub.get_subscription_count() < 1:
            if node is not None and not node.alive():
                raise RuntimeError(f"the node exited with code {node.proc.returncode}:\n{node.output()}")
            if time.monotonic() > deadline:
                missing = [c.srv_name for c in clients] or [f"a subscriber on {self.image_pub.topic_name}"]
                raise TimeoutError(f"not ready after {timeout} s: {', '.join(missing)}")
            clients = [c for c in clients if not c.wait_for_service(timeout_sec=0.1)]
            time.sleep(0.05)

    def boxes_with_stamp(self, stamp) -> list[Received]:
        with self._cond:
            return [r for r in self.records["box"] if r.msg.header.stamp == stamp]

    def wait_box(self, stamp, timeout: float) -> Received | None:
        found: list[Received] = []

        def seen() -> bool:
            found[:] = [r for r in self.records["box"] if r.msg.header.stamp == stamp]
            return bool(found)
        return found[0] if self.wait_until(seen, timeout) else None

    def count(self, key: str) -> int:
        with self._cond:
            return len(self.records[key])

    def snapshot(self, key: str) -> list[Received]:
        with self._cond:
            return list(self.records[key])

    # -- calls ---------------------------------------------------------------------------
    def call(self, client, request, timeout: float = 30.0):
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            client.remove_pending_request(future)
            raise TimeoutError(f"no response from {client.srv_name} within {timeout} s")
        return future.result()

    def init_box(self, box: Sequence[int], stamp=None, image_size: tuple[int, int] = (0, 0),
                 timeout: float = 30.0):
        from sensor_msgs.srv import SetCameraInfo
        req = SetCameraInfo.Request()
        x, y, w, h = (int(v) for v in box)
        req.camera_info.roi.x_offset, req.camera_info.roi.y_offset = x, y
        req.camera_info.roi.width, req.camera_info.roi.height = w, h
        req.camera_info.width, req.camera_info.height = image_size
        if stamp is not None:
            req.camera_info.header.stamp = stamp
        return self.call(self.init_client, req, timeout)

    def init_on_new_frame(self, image, box: Sequence[int], frame_id: str = "cam", attempts: int = 50,
                          pause_s: float = 0.1) -> bool:
        """Publish ``image`` (BGR) with a new stamp and init_box on that stamp, until the node has
        buffered the frame and the init succeeds (at most ``attempts`` times); whether it did."""
        from std_msgs.msg import Header

        from .image_conversion import bgr_to_image
        for _ in range(attempts):
            msg = bgr_to_image(image, header=Header(stamp=self.now(), frame_id=frame_id))
            self.publish(msg)
            time.sleep(pause_s)
            if self.init_box(box, stamp=msg.header.stamp).success:
                return True
        return False

    def stop_tracking(self, timeout: float = 30.0):
        from std_srvs.srv import Trigger
        return self.call(self.stop_client, Trigger.Request(), timeout)

    def remove_target(self, target_id: int, timeout: float = 30.0):
        from dasiamrpn_interfaces.srv import RemoveTarget
        return self.call(self.remove_client, RemoveTarget.Request(target_id=int(target_id)), timeout)

    def set_parameters(self, values: dict[str, Any], timeout: float = 30.0):
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        req = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                for k, v in values.items()])
        return self.call(self.param_client, req, timeout).results

    def publish(self, msg) -> None:
        self.image_pub.publish(msg)

    def now(self):
        return self.node.get_clock().now().to_msg()

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self._thread.join()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def make_random_checkpoint(path: Path, arch: str = "SiamRPNvot", seed: int = 0) -> Path:
    """A deterministic randomly initialised project checkpoint (needs nothing from ../shared).

    It does not track anything meaningful; it exercises the node at the real network's cost.
    """
    import torch

    from dasiamrpn_core.checkpoint import save_checkpoint
    from dasiamrpn_core.config import PRESETS
    from dasiamrpn_core.models import ARCHITECTURES, SiamRPN

    torch.manual_seed(seed)
    net = SiamRPN(ARCHITECTURES[arch]).eval()
    return save_checkpoint(path, net, PRESETS["vot"], {"source": f"random init, torch seed {seed}"})


def headless_chromium(window: tuple[int, int] = (900, 900)):
    """Debian's chromium, headless, driven by selenium through its chromedriver (``make setup``
    installs both; AssertionError naming them when they are missing)."""
    import shutil
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "chromium and chromedriver are installed by make setup (apt: chromium " \
                                     "chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={window[0]},{window[1]}",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=options)

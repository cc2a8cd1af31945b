"""``dasiamrpn-web`` (``ros2 run dasiamrpn_ros web``): a page to pick targets on the live camera image.

A small ROS node with a web server (aiohttp: one well-kept asyncio library that serves both the page
and its WebSocket, with no other server to install; Ubuntu packages it as python3-aiohttp). It
subscribes to the tracker's input image and its ``~/detections`` and serves one page that shows:

* the camera image live (JPEG over the WebSocket, at most ``fps`` frames a second, ``jpeg_quality``),
  decoded by the node's own conversion module (every encoding the tracker accepts);
* the tracked boxes drawn on the frame they belong to: while the tracker publishes, a frame is sent
  together with the ``~/detections`` of **its stamp** (paired by stamp, never by arrival; frames the
  tracker skipped are not shown); while it tracks nothing, the frames alone;
* freeze, drag a box on the frozen frame, confirm: ``~/init_box`` with **that frame's stamp** (the
  tracker starts on the frame the box was drawn on and catches up); the answer shows on the page.
  With ``max_targets`` > 1 every box adds a target; clicking a box ends that target
  (``~/remove_target``); a button ends all (``~/stop``);
* a clear message when the tracker node is not running or no image arrives.

Nobody gets in who should not: the server binds 127.0.0.1 by default (reach it from a laptop
through an SSH tunnel: ``ssh -L 8080:localhost:8080 robot``); any other address needs a token
(``token``, or one generated and logged at start) on every request, else 403. The page's actions
are the tracker's services only; a bad request gets the reason and changes nothing.

    dasiamrpn-web --ros-args -r image:=/camera/image_raw -p port:=8080
"""
from __future__ import annotations

import asyncio
import json
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from aiohttp import WSMsgType, web
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from sensor_msgs.srv import SetCameraInfo
from std_srvs.srv import Trigger

from .frame_buffer import Stamp
from .image_conversion import ImageConversionError, compressed_to_bgr, image_to_bgr
from .messages import VISION_MSGS_ERROR, Detection2DArray, detection_box, image_qos
from .parameters import RELIABILITIES
from .ros_main import run_node

NODE_NAME = "dasiamrpn_web"
PAGE = Path(__file__).with_name("web") / "index.html"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PENDING_FRAMES = 60      # frames waiting for their detections (2 s at 30 Hz)
TRACKING_FRESH_S = 1.0   # detections this recent: the tracker is tracking, frames wait for their boxes
STATUS_PERIOD_S = 1.0    # status message to the page (tracker present, image age)
SERVICE_TIMEOUT_S = 10.0
EXECUTOR_THREADS = 4
IMAGE_QUEUE_DEPTH = 5    # keep-last depth of the image subscription
SERVER_START_S = 10.0


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    token: str
    tracker: str        # the tracker node's fully qualified name
    fps: float
    jpeg_quality: int
    use_compressed: bool
    image_reliability: str


PARAMETERS = {   # name: (default, description)
    "host": ("127.0.0.1", "address to bind; anything but loopback requires the token"),
    "port": (8080, "TCP port of the page"),
    "token": ("", "access token for a non-loopback bind ('' = generate one and log it)"),
    "tracker": ("/dasiamrpn_tracker", "the tracker node whose services and detections the page uses"),
    "fps": (15.0, "largest frame rate sent to the page"),
    "jpeg_quality": (70, "JPEG quality of the frames sent (1-100)"),
    "use_compressed": (False, "subscribe to image/compressed instead of image"),
    "image_reliability": ("best_effort", "QoS reliability of the image subscription (best_effort | reliable; use "
                                         "the tracker's: a frame lost by the tracker but shown here cannot start it)"),
}


def check_settings(values: dict[str, Any]) -> WebSettings:
    """The settings, or ValueError naming every bad value."""
    problems = []
    if not 0 < int(values["port"]) < 65536:
        problems.append(f"port must be within 1..65535, got {values['port']}")
    if not 0 < float(values["fps"]) <= 120:
        problems.append(f"fps must be within (0, 120], got {values['fps']}")
    if not 1 <= int(values["jpeg_quality"]) <= 100:
        problems.append(f"jpeg_quality must be within 1..100, got {values['jpeg_quality']}")
    if values["image_reliability"] not in RELIABILITIES:
        problems.append(f"image_reliability must be one of {', '.join(RELIABILITIES)}, got {values['image_reliability']!r}")
    if not str(values["tracker"]).startswith("/"):
        problems.append(f"tracker must be a fully qualified node name (/ns/name), got {values['tracker']!r}")
    if problems:
        raise ValueError("; ".join(problems))
    token = str(values["token"])
    if str(values["host"]) not in LOOPBACK and not token:
        token = secrets.token_urlsafe(16)
    return WebSettings(str(values["host"]), int(values["port"]), token, str(values["tracker"]).rstrip("/"),
                       float(values["fps"]), int(values["jpeg_quality"]), bool(values["use_compressed"]),
                       str(values["image_reliability"]))


def parse_init(message: dict, frames: dict[Stamp, tuple[int, int]]) -> tuple[Stamp, tuple[int, int, int, int],
                                                                            tuple[int, int]]:
    """A page's init request -> (stamp, box, (width, height)), or ValueError naming the problem. The
    stamp must be a frame the page was sent; the box must lie inside that frame."""
    try:
        stamp = Stamp(int(message["stamp"][0]), int(message["stamp"][1]))
        x, y, w, h = (int(round(float(v))) for v in message["box"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"an init needs stamp [sec, nanosec] and box [x, y, w, h]: {exc}") from None
    if stamp not in frames:
        raise ValueError(f"no frame stamped {stamp} was shown (it is too old or was never sent)")
    width, height = frames[stamp]
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"box (x={x}, y={y}, w={w}, h={h}) is not inside the {width}x{height} frame")
    return stamp, (x, y, w, h), (width, height)


class WebNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(name=name, description=description))
        self.settings = check_settings({name: self.get_parameter(name).value for name in PARAMETERS})
        self._bridge = CvBridge()
        self._lock = threading.Lock()
        self._watch_lock = threading.Lock()   # the camera subscription comes and goes with the pages
        self._pending: OrderedDict[Stamp, Any] = OrderedDict()   # frames waiting for their detections
        self._shown: OrderedDict[Stamp, tuple[int, int]] = OrderedDict()   # stamps sent -> (width, height)
        self._last_image = 0.0
        self._last_detections = 0.0
        self._last_sent = 0.0
        self._targets: dict[str, str] = {}   # from /diagnostics: id -> state
        self._pages: set[web.WebSocketResponse] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.serve_error = ""
        group = ReentrantCallbackGroup()
        # the camera is subscribed only while a page is open: nobody watching costs no image traffic
        self._image_sub = None
        self._image_topic = self.resolve_topic_name("image/compressed" if self.settings.use_compressed else "image")
        tracker = self.settings.tracker
        if VISION_MSGS_ERROR is None:
            self.create_subscription(Detection2DArray, f"{tracker}/detections", self._on_detections, 10)
        else:
            self.get_logger().warning(VISION_MSGS_ERROR)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self._init_client = self.create_client(SetCameraInfo, f"{tracker}/init_box", callback_group=group)
        self._stop_client = self.create_client(Trigger, f"{tracker}/stop", callback_group=group)
        try:
            from dasiamrpn_interfaces.srv import RemoveTarget
            self._remove_client = self.create_client(RemoveTarget, f"{tracker}/remove_target", callback_group=group)
        except ImportError:
            self._remove_client = None

    # -- ROS side --------------------------------------------------------------------------
    def _on_image(self, msg) -> None:
        now = time.monotonic()
        with self._lock:
            self._last_image = now
            tracking = now - self._last_detections < TRACKING_FRESH_S
            if tracking:   # the frame waits for its boxes
                self._pending[Stamp.of(msg.header.stamp)] = msg
                while len(self._pending) > PENDING_FRAMES:
                    self._pending.popitem(last=False)
                return
        self._send(msg, [])

    def _on_detections(self, msg) -> None:
        stamp = Stamp.of(msg.header.stamp)
        targets = [{"id": d.id, "box": list(detection_box(d)),
                    "score": float(d.results[0].hypothesis.score) if d.results else 0.0} for d in msg.detections]
        with self._lock:
            self._last_detections = time.monotonic()
            frame = self._pending.pop(stamp, None)
            for older in [s for s in self._pending if (s.sec, s.nanosec) < (stamp.sec, stamp.nanosec)]:
                del self._pending[older]   # the tracker skipped them: never shown without their boxes
        if frame is not None:
            self._send(frame, targets, force=True)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        prefix = f"{self.settings.tracker}: target "
        targets = {s.name[len(prefix):]: s.message for s in msg.status if s.name.startswith(prefix)}
        tracker = next((s for s in msg.status if s.name == f"{self.settings.tracker}: tracker"), None)
        if tracker is not None:
            values = {kv.key: kv.value for kv in tracker.values}
            if not targets and values.get("target_id"):   # a single-target tracker: its one target
                targets = {values["target_id"]: values.get("state", "")}
            with self._lock:
                self._targets = targets

    def _send(self, msg, targets: list[dict], force: bool = False) -> None:
        """One frame (and its boxes) to every page, at most ``fps`` a second (boxed frames always)."""
        now = time.monotonic()
        if not self._pages or self.loop is None or (not force and now - self._last_sent < 1.0 / self.settings.fps):
            return
        try:
            image = (compressed_to_bgr(msg, self._bridge) if isinstance(msg, CompressedImage)
                     else image_to_bgr(msg, self._bridge))
        except ImageConversionError as exc:
            self.get_logger().warning(f"frame not shown: {exc}", throttle_duration_sec=5.0)
            return
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality])
        if not ok:
            return
        self._last_sent = now
        stamp = Stamp.of(msg.header.stamp)
        height, width = image.shape[:2]
        with self._lock:
            self._shown[stamp] = (width, height)
            while len(self._shown) > PENDING_FRAMES:
                self._shown.popitem(last=False)
        meta = {"type": "frame", "stamp": [stamp.sec, stamp.nanosec], "width": width, "height": height,
                "targets": targets, "sent": time.time()}
        asyncio.run_coroutine_threadsafe(self._broadcast(json.dumps(meta), jpeg.tobytes()), self.loop)

    async def _broadcast(self, meta: str, jpeg: bytes) -> None:
        for ws in list(self._pages):
            try:
                await ws.send_str(meta)
                await ws.send_bytes(jpeg)
            except (ConnectionError, RuntimeError):
                self._pages.discard(ws)
                self._watch(len(self._pages))

    def _watch(self, open_pages: int) -> None:
        """Subscribe to the camera while ``open_pages`` > 0, unsubscribe when the last page closed."""
        with self._watch_lock:
            if open_pages and self._image_sub is None:
                kind = CompressedImage if self.settings.use_compressed else Image
                qos = image_qos(self.settings.image_reliability, IMAGE_QUEUE_DEPTH)
                self._image_sub = self.create_subscription(kind, self._image_topic, self._on_image, qos)
            elif not open_pages and self._image_sub is not None:
                self.destroy_subscription(self._image_sub)
                self._image_sub, self._last_image = None, 0.0

    def status(self) -> dict:
        now = time.monotonic()
        with self._lock:
            age = now - self._last_image if self._last_image else None
            targets = dict(self._targets)
        return {"type": "status", "tracker": self._init_client.service_is_ready(), "tracker_name": self.settings.tracker,
                "image_topic": self._image_topic, "image_age_s": age, "targets": targets}

    def _call(self, client, request) -> Any:
        """A blocking service call (from the web thread's executor); the response, or RuntimeError."""
        if client is None:
            raise RuntimeError("the tracker offers no ~/remove_target (dasiamrpn_interfaces missing)")
        if not client.service_is_ready():
            raise RuntimeError(f"the tracker node is not running ({client.srv_name} is not offered)")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(SERVICE_TIMEOUT_S):
            raise RuntimeError(f"no answer from {client.srv_name} within {SERVICE_TIMEOUT_S:g} s")
        return future.result()

    def answer(self, message: dict) -> dict:
        """One page request -> the answer shown on the page (never raises)."""
        kind = message.get("type") if isinstance(message, dict) else None
        try:
            if kind == "init":
                with self._lock:
                    shown = dict(self._shown)
                stamp, box, (width, height) = parse_init(message, shown)
                request = SetCameraInfo.Request()
                request.camera_info.header.stamp.sec, request.camera_info.header.stamp.nanosec = stamp.sec, stamp.nanosec
                request.camera_info.width, request.camera_info.height = width, height
                roi = request.camera_info.roi
                roi.x_offset, roi.y_offset, roi.width, roi.height = box
                response = self._call(self._init_client, request)
                return {"type": "answer", "ok": bool(response.success), "message": response.status_message}
            if kind == "remove":
                from dasiamrpn_interfaces.srv import RemoveTarget
                target_id = int(message["id"])
                if target_id < 0:
                    raise ValueError(f"target id must be >= 0, got {target_id}")
                response = self._call(self._remove_client, RemoveTarget.Request(target_id=target_id))
                return {"type": "answer", "ok": bool(response.success), "message": response.message}
            if kind == "stop":
                response = self._call(self._stop_client, Trigger.Request())
                return {"type": "answer", "ok": bool(response.success), "message": response.message}
            raise ValueError(f"unknown request type {kind!r} (init, remove, stop)")
        except (ValueError, KeyError, TypeError, RuntimeError, ImportError) as exc:
            return {"type": "answer", "ok": False, "message": str(exc)}

    # -- web side --------------------------------------------------------------------------
    def app(self) -> web.Application:
        token = self.settings.token

        @web.middleware
        async def require_token(request: web.Request, handler):
            if token and not secrets.compare_digest(request.query.get("token", ""), token):
                raise web.HTTPForbidden(text="this page needs its token: open the address the web node logged "
                                             "(?token=...)")
            return await handler(request)

        async def page(_request: web.Request) -> web.Response:
            return web.Response(text=PAGE.read_text(), content_type="text/html")

        async def socket(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(heartbeat=10.0)
            await ws.prepare(request)
            self._pages.add(ws)
            self._watch(len(self._pages))
            status = asyncio.create_task(self._status_loop(ws))
            try:
                async for msg in ws:
                    if msg.type != WSMsgType.TEXT:
                        continue
                    try:
                        message = json.loads(msg.data)
                    except json.JSONDecodeError as exc:
                        await ws.send_str(json.dumps({"type": "answer", "ok": False,
                                                      "message": f"malformed request: {exc}"}))
                        continue
                    answer = await asyncio.get_running_loop().run_in_executor(None, self.answer, message)
                    await ws.send_str(json.dumps(answer))
            finally:
                status.cancel()
                self._pages.discard(ws)
                self._watch(len(self._pages))
            return ws

        app = web.Application(middlewares=[require_token])
        app.router.add_get("/", page)
        app.router.add_get("/ws", socket)
        return app

    async def _status_loop(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await ws.send_str(json.dumps(self.status()))
            await asyncio.sleep(STATUS_PERIOD_S)

    def serve(self, started: threading.Event) -> None:
        """Run the web server on this thread's own event loop until the process ends."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self.app())
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, self.settings.host, self.settings.port).start())
        except OSError as exc:   # the port is taken, the address is not this machine's
            self.serve_error = f"cannot serve on {self.settings.host}:{self.settings.port}: {exc}"
            started.set()
            return
        self.loop = loop
        query = f"/?token={self.settings.token}" if self.settings.token else "/"
        self.get_logger().info(f"page at http://{self.settings.host}:{self.settings.port}{query} (images from "
                               f"{self._image_topic} while a page is open, tracker {self.settings.tracker})")
        started.set()
        loop.run_forever()

    def close(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def busy(self) -> list[str]:
        return []


def make_node(_stop: threading.Event) -> WebNode:
    try:
        node = WebNode()
    except ValueError as exc:
        raise StartupError(f"invalid parameters: {exc}") from exc
    started = threading.Event()
    threading.Thread(target=node.serve, args=(started,), name="web", daemon=True).start()
    if not started.wait(SERVER_START_S) or node.serve_error:
        reason = node.serve_error or f"the web server did not start within {SERVER_START_S:g} s"
        node.destroy_node()
        raise StartupError(reason)
    return node


class StartupError(RuntimeError):
    """The web node cannot start (bad parameters, the port is taken); the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-web`` / ``web``."""
    return run_node(argv, make_node, "dasiamrpn-web", __doc__.split("\n\n")[0], StartupError, NODE_NAME,
                    EXECUTOR_THREADS, "Settings are ROS parameters: --ros-args -p port:=8080 -p host:=0.0.0.0 "
                    "-r image:=/camera/image_raw (docs/web.md).")


if __name__ == "__main__":
    sys.exit(main())

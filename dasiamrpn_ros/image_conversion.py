"""sensor_msgs images <-> the tracker's BGR uint8 HxWx3 arrays, through cv_bridge.

The conversion itself goes through ``cv_bridge`` (on a ROS 2 install the system's C++-backed
one; in the standalone venv the PyPI port). The PyPI port has gaps that this module guards
before handing a message to the bridge, so both give the same pixels:

* it ignores ``step`` (a padded row stride decodes shifted garbage): padded rows are repacked;
* it cannot convert 16-bit encodings (``KeyError``): ``mono16`` is scaled to 8 bits here the way
  the C++ cv_bridge does (``value * 255 / 65535``, rounded) and then converted as ``mono8``;
* it trusts the message's sizes: ``step * height`` must equal the data length, and the sizes
  must be positive, otherwise :class:`ImageConversionError` names the problem;
* compressed grey, alpha or 16-bit images come back from its decoder with 1, 4 channels or
  uint16 although ``bgr8`` was asked for: they are normalised here.

The encodings that camera drivers publish and neither bridge handles alike (packed YUV 4:2:2,
NV21, Bayer mosaics) are converted here with OpenCV (``CAMERA_CODES``), after the same checks.
Depth images (``16UC1`` millimetres, ``32FC1`` metres) go through the same checks and row
unpacking, but are never converted: :func:`depth_to_array` returns their raw values.
"""
from __future__ import annotations

import array
from dataclasses import dataclass

import cv2
import numpy as np
from cv_bridge import CvBridge
from sensor_msgs.msg import CompressedImage, Image

from dasiamrpn_core.depth import METRE, MILLIMETRE


class ImageConversionError(ValueError):
    """An image message the node cannot turn into a BGR frame; the message says why.

    ``kind`` names the category (encoding, size, step, data, decode) for per-kind log throttling.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class EncodingLayout:
    channels: int
    bytes_per_channel: int
    rows_num: int = 1      # data rows = height * rows_num / rows_den (NV21: a full-size Y plane
    rows_den: int = 1      # and a half-height interleaved VU plane)
    kind: str = "u"        # numpy kind of a channel: u (unsigned integer) or f (float)

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.bytes_per_channel

    def data_rows(self, height: int) -> int:
        return height * self.rows_num // self.rows_den


# The encodings the node accepts (others are rejected with the list below in the error).
SUPPORTED_ENCODINGS: dict[str, EncodingLayout] = {
    "bgr8": EncodingLayout(3, 1),
    "rgb8": EncodingLayout(3, 1),
    "mono8": EncodingLayout(1, 1),
    "bgra8": EncodingLayout(4, 1),
    "rgba8": EncodingLayout(4, 1),
    "mono16": EncodingLayout(1, 2),
    # camera encodings, converted with OpenCV (CAMERA_CODES); names as in sensor_msgs/image_encodings
    "yuv422": EncodingLayout(2, 1),        # UYVY
    "uyvy": EncodingLayout(2, 1),
    "yuv422_yuy2": EncodingLayout(2, 1),   # YUYV
    "yuyv": EncodingLayout(2, 1),
    "nv21": EncodingLayout(1, 1, 3, 2),    # Y plane, then V/U interleaved at half resolution
    "bayer_rggb8": EncodingLayout(1, 1),
    "bayer_bggr8": EncodingLayout(1, 1),
    "bayer_gbrg8": EncodingLayout(1, 1),
    "bayer_grbg8": EncodingLayout(1, 1),
    "bayer_rggb16": EncodingLayout(1, 2),
    "bayer_bggr16": EncodingLayout(1, 2),
    "bayer_gbrg16": EncodingLayout(1, 2),
    "bayer_grbg16": EncodingLayout(1, 2),
}
# encoding -> OpenCV conversion to BGR (OpenCV 4.14's explicit Bayer names give the top-left 2x2
# pattern as ROS names it)
CAMERA_CODES: dict[str, int] = {
    "yuv422": cv2.COLOR_YUV2BGR_UYVY, "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2, "yuyv": cv2.COLOR_YUV2BGR_YUY2,
    "nv21": cv2.COLOR_YUV2BGR_NV21,
    "bayer_rggb8": cv2.COLOR_BayerRGGB2BGR, "bayer_bggr8": cv2.COLOR_BayerBGGR2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGBRG2BGR, "bayer_grbg8": cv2.COLOR_BayerGRBG2BGR,
    "bayer_rggb16": cv2.COLOR_BayerRGGB2BGR, "bayer_bggr16": cv2.COLOR_BayerBGGR2BGR,
    "bayer_gbrg16": cv2.COLOR_BayerGBRG2BGR, "bayer_grbg16": cv2.COLOR_BayerGRBG2BGR,
}
# depth images (REP 118): 16-bit millimetres or 32-bit float metres; the unit in metres per value
DEPTH_ENCODINGS: dict[str, EncodingLayout] = {"16UC1": EncodingLayout(1, 2), "32FC1": EncodingLayout(1, 4, kind="f")}
DEPTH_UNITS: dict[str, float] = {"16UC1": MILLIMETRE, "32FC1": METRE}
EVEN_WIDTH = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv", "nv21")   # two pixels share their chroma
TARGET_ENCODING = "bgr8"
UINT16_TO_UINT8 = 255.0 / 65535.0  # the C++ cv_bridge's scaling between 16- and 8-bit images


def check_image_layout(msg: Image, supported: dict[str, EncodingLayout] = SUPPORTED_ENCODINGS) -> EncodingLayout:
    """Validate encoding (one of ``supported``) and sizes of ``msg`` without touching the pixels."""
    layout = supported.get(msg.encoding)
    if layout is None:
        raise ImageConversionError(
            "encoding", f"unsupported encoding {msg.encoding!r}; supported: {', '.join(supported)}")
    if msg.width == 0 or msg.height == 0:
        raise ImageConversionError("size", f"zero-sized image ({msg.width}x{msg.height})")
    if msg.encoding in EVEN_WIDTH and (msg.width % 2 or (msg.encoding == "nv21" and msg.height % 2)):
        raise ImageConversionError("size", f"{msg.encoding} needs an even width{' and height' * (msg.encoding == 'nv21')}, "
                                           f"got {msg.width}x{msg.height}")
    row_bytes = msg.width * layout.bytes_per_pixel
    if msg.step < row_bytes:
        raise ImageConversionError(
            "step", f"step {msg.step} is smaller than one row of {msg.width} {msg.encoding} pixels "
            f"({row_bytes} bytes)")
    rows = layout.data_rows(msg.height)
    if msg.step * rows != len(msg.data):
        raise ImageConversionError(
            "data", f"step x rows = {msg.step} x {rows} = {msg.step * rows} bytes, but the "
            f"data holds {len(msg.data)} bytes")
    return layout


def _pixels(msg: Image, layout: EncodingLayout) -> np.ndarray:
    """The image as an (H, W[, C]) array without row padding, in native byte order."""
    dtype = np.dtype(f"{layout.kind}{layout.bytes_per_channel}")
    if layout.bytes_per_channel > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    height = layout.data_rows(msg.height)
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, msg.step)
    rows = rows[:, :msg.width * layout.bytes_per_pixel]
    shape = (height, msg.width) + ((layout.channels,) if layout.channels > 1 else ())
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(shape)
    return pixels.astype(pixels.dtype.newbyteorder("="), copy=False)


def depth_to_array(msg: Image) -> tuple[np.ndarray, float]:
    """A depth image (16UC1 millimetres, 32FC1 metres) as its raw (H, W) values in native byte
    order, and their unit in metres; ImageConversionError naming a refused encoding or bad sizes."""
    layout = check_image_layout(msg, DEPTH_ENCODINGS)
    return _pixels(msg, layout), DEPTH_UNITS[msg.encoding]


def depth_to_image(depth: np.ndarray, header=None) -> Image:
    """A packed depth ``sensor_msgs/Image`` of (H, W) uint16 millimetres (16UC1) or float32 metres
    (32FC1), for the replay camera and the tests."""
    encodings = {np.dtype(np.uint16): "16UC1", np.dtype(np.float32): "32FC1"}
    if depth.ndim != 2 or depth.dtype not in encodings:
        raise ValueError(f"expected (H, W) uint16 millimetres or float32 metres, got {depth.dtype} {depth.shape}")
    msg = _image_message(Image(), depth, encodings[depth.dtype])
    if header is not None:
        msg.header = header
    return msg


def scale_16_to_8(pixels: np.ndarray) -> np.ndarray:
    """16-bit to 8-bit the way the C++ cv_bridge does it (full range, rounded, saturated)."""
    return cv2.convertScaleAbs(pixels, alpha=UINT16_TO_UINT8)


def _image_message(template: Image, pixels: np.ndarray, encoding: str) -> Image:
    msg = Image()
    msg.header = template.header
    msg.height, msg.width = pixels.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    msg.data = array.array("B", np.ascontiguousarray(pixels).tobytes())
    return msg


def _bridge_ready(msg: Image, layout: EncodingLayout) -> Image:
    """A message the PyPI cv_bridge decodes correctly: packed rows, 8 bits per channel."""
    packed = msg.step == msg.width * layout.bytes_per_pixel
    if packed and layout.bytes_per_channel == 1:
        return msg
    pixels = _pixels(msg, layout)
    if layout.bytes_per_channel == 2:
        return _image_message(msg, scale_16_to_8(pixels), "mono8")
    return _image_message(msg, pixels, msg.encoding)


def image_to_bgr(msg: Image, bridge: CvBridge) -> np.ndarray:
    """Decode ``msg`` to a contiguous BGR uint8 (H, W, 3) array or raise ImageConversionError."""
    layout = check_image_layout(msg)
    if msg.encoding in CAMERA_CODES:
        pixels = _pixels(msg, layout)
        if pixels.dtype == np.uint16:
            pixels = scale_16_to_8(pixels)
        return np.ascontiguousarray(cv2.cvtColor(pixels, CAMERA_CODES[msg.encoding]))
    ready = _bridge_ready(msg, layout)
    try:
        bgr = bridge.imgmsg_to_cv2(ready, desired_encoding=TARGET_ENCODING)
    except (KeyError, TypeError, ValueError) as exc:  # CvBridgeError is a TypeError
        raise ImageConversionError("encoding", f"cv_bridge could not convert {msg.encoding!r}: {exc}") from exc
    return _as_bgr(np.asarray(bgr), msg.encoding)


def compressed_to_bgr(msg: CompressedImage, bridge: CvBridge) -> np.ndarray:
    """Decode a JPEG/PNG ``CompressedImage`` to BGR uint8 or raise ImageConversionError."""
    if len(msg.data) == 0:
        raise ImageConversionError("data", "compressed image has no data")
    try:
        decoded = bridge.compressed_imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except (KeyError, TypeError, ValueError, cv2.error) as exc:
        raise ImageConversionError("decode", f"cv_bridge could not decode format {msg.format!r}: {exc}") from exc
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(
            "decode", f"could not decode the {len(msg.data)}-byte compressed image (format {msg.format!r})")
    return _as_bgr(np.asarray(decoded), msg.format)


def _as_bgr(image: np.ndarray, source: str) -> np.ndarray:
    if image.dtype == np.uint16:
        image = scale_16_to_8(image)
    if image.dtype != np.uint8:
        raise ImageConversionError("decode", f"{source!r} decoded to {image.dtype}, expected 8-bit pixels")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageConversionError("decode", f"{source!r} decoded to shape {image.shape}, expected (H, W, 3)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageConversionError("decode", f"{source!r} decoded to an empty image {image.shape}")
    return np.ascontiguousarray(image)


_FROM_BGR = {
    "bgr8": None,
    "rgb8": cv2.COLOR_BGR2RGB,
    "mono8": cv2.COLOR_BGR2GRAY,
    "bgra8": cv2.COLOR_BGR2BGRA,
    "rgba8": cv2.COLOR_BGR2RGBA,
    "mono16": cv2.COLOR_BGR2GRAY,
}


def bgr_to_image(image: np.ndarray, encoding: str = TARGET_ENCODING, header=None) -> Image:
    """A packed ``sensor_msgs/Image`` of a BGR uint8 frame in ``encoding`` (for replay and debug).

    ``mono16`` spreads grey 0..255 over 0..65535 (x257), so :func:`image_to_bgr` inverts it exactly.
    ``data`` is filled as an ``array('B')``: a ``bytes`` value makes rclpy check every element.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if encoding in CAMERA_CODES:
        msg = _image_message(Image(), camera_pixels(image, encoding), encoding)
        msg.height = image.shape[0]
        if header is not None:
            msg.header = header
        return msg
    if encoding not in _FROM_BGR:
        raise ValueError(f"unsupported encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    code = _FROM_BGR[encoding]
    pixels = image if code is None else cv2.cvtColor(image, code)
    if encoding == "mono16":
        pixels = pixels.astype(np.uint16) * np.uint16(257)
    msg = _image_message(Image(), pixels, encoding)
    if header is not None:
        msg.header = header
    return msg


JPEG_QUALITY = 85   # ~/debug_image/compressed


def bgr_to_compressed(image: np.ndarray, header=None) -> CompressedImage:
    """A JPEG ``sensor_msgs/CompressedImage`` of a BGR frame (remote viewing of the debug image)."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ImageConversionError("encode", f"JPEG encoding failed for an image of shape {image.shape}")
    msg = CompressedImage(format="jpeg")
    msg.data = array.array("B", data.tobytes())
    if header is not None:
        msg.header = header
    return msg


_BAYER_OFFSETS = {"rggb": ((0, 0), (1, 1)), "bggr": ((1, 1), (0, 0)), "gbrg": ((1, 0), (0, 1)),
                  "grbg": ((0, 1), (1, 0))}   # (row, col) of the red and of the blue sample in a 2x2 cell


def camera_pixels(image: np.ndarray, encoding: str) -> np.ndarray:
    """A BGR frame as a camera driver would send it in ``encoding`` (for the replay camera and tests):
    packed YUV 4:2:2, NV21 (H*3/2 rows) or a Bayer mosaic (16-bit: x257)."""
    h, w = image.shape[:2]
    if encoding in ("yuv422", "uyvy"):
        return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_UYVY)
    if encoding in ("yuv422_yuy2", "yuyv"):
        return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_YUY2)
    if encoding == "nv21":
        i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)      # Y (h rows), U (h/4 rows), V (h/4 rows)
        y, u, v = i420[:h], i420[h:h + h // 4].reshape(-1), i420[h + h // 4:].reshape(-1)
        vu = np.empty(u.size * 2, np.uint8)
        vu[0::2], vu[1::2] = v, u
        return np.concatenate([y, vu.reshape(h // 2, w)])
    if encoding.startswith("bayer_"):
        pattern = encoding[6:10]
        (rr, rc), (br, bc) = _BAYER_OFFSETS[pattern]
        mosaic = image[:, :, 1].copy()                          # green everywhere, then red and blue
        mosaic[rr::2, rc::2] = image[rr::2, rc::2, 2]
        mosaic[br::2, bc::2] = image[br::2, bc::2, 0]
        return mosaic.astype(np.uint16) * np.uint16(257) if encoding.endswith("16") else mosaic
    raise ValueError(f"not a camera encoding: {encoding!r}")

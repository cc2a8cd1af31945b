"""Every accepted image encoding round-trips through the node's cv_bridge conversion, including the
cases the PyPI cv_bridge gets wrong on its own (row padding, 16 bits, big-endian, compressed grey);
bad messages raise ImageConversionError naming the problem."""
from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

import rclpy  # noqa: F401,E402  (a broken ROS install fails the run; it never skips)
from cv_bridge import CvBridge  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from dasiamrpn_ros.image_conversion import (CAMERA_CODES, SUPPORTED_ENCODINGS, ImageConversionError,  # noqa: E402
                                            bgr_to_image, compressed_to_bgr, image_to_bgr)

SHAPES = [(1, 1), (7, 9), (48, 64)]


@pytest.fixture(scope="module")
def bridge() -> CvBridge:
    return CvBridge()


def random_bgr(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def expected_bgr(image: np.ndarray, encoding: str) -> np.ndarray:
    """What a lossless round trip through ``encoding`` gives (grey encodings lose colour)."""
    if encoding.startswith("mono"):
        return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return image


def pad_rows(msg: Image, pad: int, fill: int = 0xAB) -> Image:
    rows = np.frombuffer(msg.data, np.uint8).reshape(-1, msg.step)    # NV21 has height * 3 / 2 rows
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), fill, np.uint8)], axis=1)
    msg.step += pad
    msg.data = array.array("B", padded.tobytes())
    return msg


LOSSLESS = sorted(set(SUPPORTED_ENCODINGS) - set(CAMERA_CODES))


@pytest.mark.parametrize("encoding", LOSSLESS)
@pytest.mark.parametrize("shape", SHAPES)
def test_round_trip_every_encoding(bridge, encoding, shape):
    image = random_bgr(shape)
    msg = bgr_to_image(image, encoding)
    assert msg.encoding == encoding and msg.step == shape[1] * SUPPORTED_ENCODINGS[encoding].bytes_per_pixel
    out = image_to_bgr(msg, bridge)
    assert out.dtype == np.uint8 and out.shape == (*shape, 3) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, expected_bgr(image, encoding))


@pytest.mark.parametrize("encoding", LOSSLESS)
@pytest.mark.parametrize("pad", [1, 3, 64])
def test_padded_row_stride_decodes_correctly(bridge, encoding, pad):
    image = random_bgr((6, 5), seed=pad)
    msg = pad_rows(bgr_to_image(image, encoding), pad)
    np.testing.assert_array_equal(image_to_bgr(msg, bridge), expected_bgr(image, encoding))


def test_mono16_scales_like_cpp_cv_bridge(bridge):
    values = np.array([[0, 128, 129, 257], [32767, 32768, 65407, 65535]], dtype=np.uint16)
    msg = Image(height=2, width=4, encoding="mono16", is_bigendian=0, step=8)
    msg.data = array.array("B", values.astype("<u2").tobytes())
    out = image_to_bgr(msg, bridge)
    want = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 0], want)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_mono16_big_endian(bridge):
    values = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    little = Image(height=3, width=4, encoding="mono16", is_bigendian=0, step=8)
    little.data = array.array("B", values.astype("<u2").tobytes())
    big = Image(height=3, width=4, encoding="mono16", is_bigendian=1, step=8)
    big.data = array.array("B", values.astype(">u2").tobytes())
    np.testing.assert_array_equal(image_to_bgr(big, bridge), image_to_bgr(little, bridge))


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("channels", [1, 3])
def test_compressed_round_trip(bridge, fmt, channels):
    image = random_bgr((24, 32), seed=channels)
    source = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if channels == 1 else image
    ok, data = cv2.imencode(f".{fmt}", source)
    assert ok
    msg = CompressedImage(format=fmt)
    msg.data = array.array("B", data.tobytes())
    out = compressed_to_bgr(msg, bridge)
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    if fmt == "png":  # lossless: the exact pixels
        np.testing.assert_array_equal(out, expected_bgr(image, "mono8") if channels == 1 else image)
    else:  # lossy: exactly what OpenCV's own decoder gives as BGR
        np.testing.assert_array_equal(out, cv2.imdecode(data, cv2.IMREAD_COLOR))


def test_compressed_16bit_png_decodes_to_8_bits(bridge):
    """cv_bridge's decoder (cv2.imdecode, IMREAD_ANYCOLOR) keeps the high byte of 16-bit PNGs: within
    one grey level of the raw mono16 scaling."""
    grey = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000).astype(np.uint16)
    ok, data = cv2.imencode(".png", grey)
    msg = CompressedImage(format="png")
    msg.data = array.array("B", data.tobytes())
    out = compressed_to_bgr(msg, bridge)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    scaled = np.rint(grey * (255.0 / 65535.0))
    assert np.abs(out[..., 1].astype(float) - scaled).max() <= 1


def raw(width, height, encoding, step, nbytes) -> Image:
    msg = Image(width=width, height=height, encoding=encoding, step=step)
    msg.data = array.array("B", bytes(nbytes))
    return msg


@pytest.mark.parametrize("msg, kind, words", [
    (raw(4, 4, "8UC3", 12, 48), "encoding", "unsupported encoding '8UC3'"),
    (raw(3, 4, "yuyv", 6, 24), "size", "yuyv needs an even width, got 3x4"),
    (raw(4, 3, "nv21", 4, 16), "size", "nv21 needs an even width and height, got 4x3"),
    (raw(4, 4, "nv21", 4, 16), "data", "step x rows = 4 x 6 = 24 bytes, but the data holds 16 bytes"),
    (raw(4, 4, "32FC1", 16, 64), "encoding", "unsupported encoding '32FC1'"),
    (raw(4, 4, "", 12, 48), "encoding", "unsupported encoding ''"),
    (raw(0, 4, "bgr8", 0, 0), "size", "zero-sized"),
    (raw(4, 0, "bgr8", 12, 0), "size", "zero-sized"),
    (raw(4, 4, "bgr8", 12, 47), "data", "12 x 4 = 48 bytes, but the data holds 47"),
    (raw(4, 4, "bgr8", 12, 60), "data", "the data holds 60"),
    (raw(4, 4, "bgr8", 10, 40), "step", "step 10 is smaller than one row"),
    (raw(4, 4, "mono16", 4, 16), "step", "step 4 is smaller"),
], ids=["8UC3", "yuyv-odd", "nv21-odd", "nv21-short", "32FC1", "empty-encoding", "zero-width", "zero-height", "short-data", "long-data",
        "short-step", "short-step-16"])
def test_bad_messages_are_rejected_with_the_reason(bridge, msg, kind, words):
    with pytest.raises(ImageConversionError, match="") as info:
        image_to_bgr(msg, bridge)
    assert info.value.kind == kind
    assert words in str(info.value)


@pytest.mark.parametrize("data, words", [(b"", "no data"), (b"not an image at all", "could not decode")])
def test_bad_compressed_is_rejected(bridge, data, words):
    msg = CompressedImage(format="jpeg")
    msg.data = array.array("B", data)
    with pytest.raises(ImageConversionError) as info:
        compressed_to_bgr(msg, bridge)
    assert words in str(info.value)


def test_bgr_to_image_rejects_bad_input():
    with pytest.raises(ValueError, match="unsupported encoding"):
        bgr_to_image(random_bgr((2, 2)), "32FC1")
    with pytest.raises(ValueError, match="BGR uint8"):
        bgr_to_image(np.zeros((2, 2), np.uint8))


def colour_ramps(h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth, with red and blue running opposite ways: a swapped Bayer pattern or chroma order is
    off by ~100 grey levels, the true one by a few (subsampled chroma, demosaicing)."""
    x = np.linspace(0, 1, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 1, h)[:, None].repeat(w, 1)
    return np.stack([40 + 180 * x, 60 + 120 * y, 220 - 180 * x], axis=2).round().astype(np.uint8)


CAMERA_TOLERANCE = 6.0   # mean absolute error in grey levels over the frame


@pytest.mark.parametrize("encoding", sorted(CAMERA_CODES))
@pytest.mark.parametrize("pad", [0, 16])
def test_camera_encodings_round_trip(bridge, encoding, pad):
    image = colour_ramps()
    msg = bgr_to_image(image, encoding)
    assert msg.encoding == encoding and (msg.height, msg.width) == image.shape[:2]
    if pad:
        msg = pad_rows(msg, pad)
    out = image_to_bgr(msg, bridge)
    assert out.shape == image.shape and out.dtype == np.uint8
    error = np.abs(out.astype(float) - image.astype(float))[2:-2, 2:-2].mean(axis=(0, 1))  # per channel
    assert error.max() < CAMERA_TOLERANCE, f"{encoding}: mean error per channel {error}"

"""Where a tracked box is in 3D: the target's depth in a registered depth image, the box centre
back-projected with the pinhole intrinsics, and the target's metric size. No ROS.

Inputs: a box ``(x, y, w, h)`` in pixels of the colour image, a depth image registered to it (same
size and intrinsics, e.g. RealSense ``aligned_depth_to_color``), the intrinsics ``K`` of that image
and the depth unit (metres per stored value: 0.001 for 16-bit millimetres, 1.0 for 32-bit metres).

Conventions:

* Box corners are pixel *edges* (pixel ``i`` spans ``[i, i + 1)``, as the corners of ``~/box``);
  ``K`` puts pixel *centres* at integers (ROS ``CameraInfo``), so the box centre is at
  ``u = x + w / 2 - 0.5``, ``v = y + h / 2 - 0.5`` in ``K``'s pixels.
* The result is in the depth image's optical frame: x right, y down, z forward, metres; ``z`` is the
  depth along the optical axis (what depth cameras store), not the range along the ray.
* The distortion model is ignored: a depth image registered to a rectified colour image (what
  RGB-D drivers publish) has none. Unrectified images would need undistorting first.

**The target's depth** is the nearest dominant mode of the valid depths in the box's central region,
not their median: a thin target before a far wall covers only part of its box, and the median
then lies on the wall (or between the two). The valid depths (finite, within ``min_depth_m ..
max_depth_m``; 0 and NaN are holes) of the central ``central_fraction`` of the box are put into
logarithmic bins ``bin_ratio`` wide (2 % of the depth: a constant relative width matches depth
noise that grows with distance); a bin is *dominant* when it and its two neighbours hold at least
``mode_min_share`` of the valid depths; from the nearest dominant bin the estimate climbs to the
local peak of that mode and takes the median of the depths in the peak bin and its neighbours.
Fewer valid pixels than ``min_valid_pixels`` or ``min_valid_fraction`` of the region, or no
dominant mode, give no estimate (:class:`NoDepthError` naming why), never a zero.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MILLIMETRE = 1e-3   # metres per unit of a 16-bit depth image (REP 118: 16UC1 in millimetres)
METRE = 1.0         # ... of a 32-bit float depth image (32FC1 in metres)
PIXEL_CENTRE = 0.5  # K's pixel centres are at integers; box corners are pixel edges
MODE_WINDOW = np.ones(3)   # a bin and its two neighbours make one mode's share


class NoDepthError(ValueError):
    """No 3D estimate for this box (too few valid depths, no dominant mode, box outside the image)."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"intrinsics must be finite, got fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"zero or negative focal length (fx={self.fx}, fy={self.fy}): the camera is "
                             f"not calibrated")

    @staticmethod
    def from_k(k: Sequence[float]) -> Intrinsics:
        """From a row-major 3x3 ``K`` (``CameraInfo.k``); ValueError naming a bad one."""
        k = [float(v) for v in k]
        if len(k) != 9:
            raise ValueError(f"K must have 9 values (row-major 3x3), got {len(k)}")
        return Intrinsics(fx=k[0], fy=k[4], cx=k[2], cy=k[5])

    def back_project(self, u: float, v: float, z: float) -> tuple[float, float, float]:
        """The point at depth ``z`` on the ray through pixel ``(u, v)`` (K's pixel convention)."""
        return ((u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z)


@dataclass(frozen=True)
class DepthParams:
    central_fraction: float = 0.5    # width and height of the sampled region as a fraction of the box's
    min_depth_m: float = 0.05        # valid depths lie strictly between these (60 m also rejects the
    max_depth_m: float = 60.0        # 65535 mm saturation value of 16-bit drivers)
    min_valid_pixels: int = 12       # fewer valid depths in the region: no estimate
    min_valid_fraction: float = 0.05 # ... or fewer than this share of the region's sampled pixels
    bin_ratio: float = 0.02          # log-depth histogram bins are this fraction of the depth wide
    mode_min_share: float = 0.1      # a mode with this share of the valid depths (over 3 bins) is dominant
    max_samples: int = 4096          # the region is sampled on a regular grid of at most this many pixels

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.central_fraction <= 1:
            problems.append(f"central_fraction must be in (0, 1], got {self.central_fraction}")
        if not 0 < self.min_depth_m < self.max_depth_m:
            problems.append(f"need 0 < min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        if self.min_valid_pixels < 1 or not 0 <= self.min_valid_fraction <= 1:
            problems.append(f"min_valid_pixels must be >= 1 and min_valid_fraction in [0, 1], got "
                            f"{self.min_valid_pixels}, {self.min_valid_fraction}")
        if not 0 < self.bin_ratio < 1 or not 0 < self.mode_min_share <= 1:
            problems.append(f"bin_ratio must be in (0, 1) and mode_min_share in (0, 1], got {self.bin_ratio}, "
                            f"{self.mode_min_share}")
        if self.max_samples < self.min_valid_pixels:
            problems.append(f"max_samples ({self.max_samples}) must be >= min_valid_pixels ({self.min_valid_pixels})")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class TargetDepth:
    depth: float        # metres along the optical axis: the median of the chosen mode
    spread: float       # metres: 10th to 90th percentile of the chosen mode's depths
    valid: int          # valid depths in the sampled region
    sampled: int        # sampled pixels of the region
    mode_share: float   # share of the valid depths in the chosen mode (peak bin and neighbours)


@dataclass(frozen=True)
class Estimate3D:
    position: tuple[float, float, float]   # metres, optical frame (x right, y down, z forward)
    size: tuple[float, float, float]       # width, height (box x depth / focal length), thickness (spread)
    depth: TargetDepth


def central_region(box: Sequence[float], shape: tuple[int, int], fraction: float) -> tuple[slice, slice]:
    """Rows and columns of the pixels the central ``fraction`` of ``box`` touches, clipped to the
    image; NoDepthError if nothing of it is inside the image."""
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise NoDepthError(f"not a box: (x={x}, y={y}, w={w}, h={h})")
    cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * fraction / 2, h * fraction / 2
    height, width = shape
    c0, c1 = max(0, math.floor(cx - half_w)), min(width, math.ceil(cx + half_w))
    r0, r1 = max(0, math.floor(cy - half_h)), min(height, math.ceil(cy + half_h))
    if c0 >= c1 or r0 >= r1:
        raise NoDepthError(f"the box (x={x:.1f}, y={y:.1f}, w={w:.1f}, h={h:.1f}) has no central pixel inside the "
                           f"{width}x{height} depth image")
    return slice(r0, r1), slice(c0, c1)


def target_depth(region: np.ndarray, depth_scale: float, params: DepthParams = DepthParams()) -> TargetDepth:
    """The nearest dominant depth mode of ``region`` (raw depth values x ``depth_scale`` = metres)."""
    rows, cols = region.shape[:2]
    step = max(1, math.ceil(math.sqrt(rows * cols / params.max_samples)))
    sampled = region[::step, ::step]
    z = sampled.astype(np.float32).ravel() * np.float32(depth_scale)
    with np.errstate(invalid="ignore"):   # NaN holes compare false: invalid
        z = z[(z > params.min_depth_m) & (z < params.max_depth_m)]
    needed = max(params.min_valid_pixels, math.ceil(params.min_valid_fraction * sampled.size))
    if z.size < needed:
        raise NoDepthError(f"{z.size} valid depth pixels of {sampled.size} sampled in the box's centre "
                           f"(need {needed}; 0 and NaN are holes, valid is {params.min_depth_m:g} .. "
                           f"{params.max_depth_m:g} m)")
    bins = (np.log(z / params.min_depth_m) / math.log1p(params.bin_ratio)).astype(np.int64)
    counts = np.bincount(bins)
    window = np.convolve(counts, MODE_WINDOW, mode="same")
    dominant = np.flatnonzero(window >= params.mode_min_share * z.size)
    if dominant.size == 0:   # depths spread thinly over a wide range
        raise NoDepthError(f"no depth mode holds {params.mode_min_share:.0%} of the {z.size} valid depths in the "
                           f"box's centre (a scattered surface)")
    peak = int(dominant[0])
    while peak + 1 < window.size and window[peak + 1] > window[peak]:
        peak += 1
    mode = z[np.abs(bins - peak) <= 1]
    lo, mid, hi = np.percentile(mode, (10, 50, 90))
    return TargetDepth(depth=float(mid), spread=float(hi - lo), valid=int(z.size), sampled=int(sampled.size),
                       mode_share=float(mode.size / z.size))


def estimate_3d(box: Sequence[float], depth: np.ndarray, intrinsics: Intrinsics, depth_scale: float,
                params: DepthParams = DepthParams()) -> Estimate3D:
    """The 3D position and size of the target in ``box`` (see the module's docstring); NoDepthError
    naming why there is none. ``depth``: (H, W) raw depth values (uint16, float32, ...)."""
    if depth.ndim != 2:
        raise ValueError(f"expected an (H, W) depth image, got shape {depth.shape}")
    rows, cols = central_region(box, depth.shape, params.central_fraction)
    found = target_depth(depth[rows, cols], depth_scale, params)
    x, y, w, h = (float(v) for v in box)
    z = found.depth
    position = intrinsics.back_project(x + w / 2 - PIXEL_CENTRE, y + h / 2 - PIXEL_CENTRE, z)
    size = (w * z / intrinsics.fx, h * z / intrinsics.fy, found.spread)
    return Estimate3D(position=position, size=size, depth=found)

"""A synthetic RGB-D scene with known geometry: textured fronto-parallel plates before a far wall,
seen by a pinhole camera with known ``K``, with depth noise and holes. The truth for the 3D tests
(core and node), the 3D cost benchmark and a replay without a camera (``write_rgbd_sequence``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .depth import MILLIMETRE, Intrinsics

VGA = (640, 480)
VGA_INTRINSICS = Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5)   # a Kinect/RealSense-like VGA camera
QVGA = (320, 240)   # the same camera binned 2x2 (frames that fit Fast DDS's default shared memory)
QVGA_INTRINSICS = Intrinsics(fx=262.5, fy=262.5, cx=159.5, cy=119.5)
UINT16_MAX = 65535
TEXTURE_CELL_PX = 8   # checker cell of a plate's texture


@dataclass(frozen=True)
class Plate:
    """A fronto-parallel textured rectangle: its centre (metres, optical frame) and size."""

    centre: tuple[float, float, float]
    width: float
    height: float
    colour: tuple[int, int, int] = (40, 160, 230)   # BGR of the checker's light cells

    def box(self, k: Intrinsics) -> tuple[int, int, int, int]:
        """The (x, y, w, h) box (pixel edges) of the pixels whose centres see this plate."""
        u0, u1 = self._pixels(k.cx, k.fx, self.centre[0], self.width)
        v0, v1 = self._pixels(k.cy, k.fy, self.centre[1], self.height)
        return u0, v0, u1 - u0, v1 - v0

    def _pixels(self, c: float, f: float, centre: float, extent: float) -> tuple[int, int]:
        z = self.centre[2]
        return (math.ceil(c + (centre - extent / 2) * f / z), math.ceil(c + (centre + extent / 2) * f / z))


@dataclass(frozen=True)
class RGBDScene:
    plates: tuple[Plate, ...]
    wall_m: float = 4.0
    intrinsics: Intrinsics = VGA_INTRINSICS
    size: tuple[int, int] = VGA   # (W, H)
    noise: float = 0.003          # depth noise: Gaussian, this fraction of the depth (sigma)
    holes: float = 0.25           # fraction of pixels with no depth (0 / NaN), at random
    hole_blob: tuple[int, int, int, int] | None = None   # an (x, y, w, h) rectangle with no depth at all
    seed: int = 0                 # depth noise and holes (a sequence draws new ones per frame)
    texture_seed: int = 0         # the wall's texture (the colour image stays the same)

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """(BGR uint8 (H, W, 3), depth float32 metres (H, W) with NaN holes)."""
        width, height = self.size
        rng = np.random.default_rng(self.seed)
        wall = cv2.resize(np.random.default_rng(self.texture_seed).integers(60, 200, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8),
                          (width, height), interpolation=cv2.INTER_LINEAR)
        image = wall.copy()
        depth = np.full((height, width), self.wall_m, np.float32)
        # far plates first, so nearer ones cover them
        for plate in sorted(self.plates, key=lambda p: -p.centre[2]):
            x, y, w, h = plate.box(self.intrinsics)
            x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
            if x0 >= x1 or y0 >= y1:
                continue
            rows, cols = np.mgrid[y0:y1, x0:x1]
            light = ((rows - y) // TEXTURE_CELL_PX + (cols - x) // TEXTURE_CELL_PX) % 2 == 0
            image[y0:y1, x0:x1] = np.where(light[..., None], np.array(plate.colour, np.uint8),
                                           np.array([c // 4 for c in plate.colour], np.uint8))
            depth[y0:y1, x0:x1] = plate.centre[2]
        depth *= 1 + self.noise * rng.standard_normal(depth.shape).astype(np.float32)
        depth[rng.random(depth.shape) < self.holes] = np.nan
        if self.hole_blob is not None:
            x, y, w, h = self.hole_blob
            depth[y:y + h, x:x + w] = np.nan
        return image, depth


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """float32 metres with NaN holes -> uint16 millimetres with 0 holes (16UC1)."""
    mm = np.nan_to_num(depth_m / MILLIMETRE, nan=0.0)
    return np.clip(np.rint(mm), 0, UINT16_MAX).astype(np.uint16)


def person_scene(**overrides) -> RGBDScene:
    """The standard test scene: a 0.3 x 0.5 m plate 1.5 m away, off-centre, before a wall at 4 m."""
    return RGBDScene(plates=(Plate((0.2, -0.1, 1.5), 0.3, 0.5),), **overrides)


def pole_scene(**overrides) -> RGBDScene:
    """A thin target: a 4 cm wide, 1 m tall pole 2 m away before a wall at 4 m (its box is tracked
    wider than the pole: most of the box is wall)."""
    return RGBDScene(plates=(Plate((-0.3, 0.0, 2.0), 0.04, 1.0),), **overrides)


def write_rgbd_sequence(folder: Path, scene: RGBDScene, frames: int) -> Path:
    """A replayable RGB-D sequence: ``img/NNNNNN.jpg`` colour, ``depth/NNNNNN.png`` 16-bit
    millimetres (new noise and holes per frame), ``camera_info.yaml`` (ROS calibration format) and
    ``groundtruth.txt`` (the first plate's box per frame)."""
    folder = Path(folder)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        image, depth = replace(scene, seed=scene.seed + i).render()
        cv2.imwrite(str(folder / "img" / f"{i:06d}.jpg"), image)
        cv2.imwrite(str(folder / "depth" / f"{i:06d}.png"), depth_to_millimetres(depth))
    box = scene.plates[0].box(scene.intrinsics)
    (folder / "groundtruth.txt").write_text("".join(f"{box[0]},{box[1]},{box[2]},{box[3]}\n" for _ in range(frames)))
    k = scene.intrinsics
    width, height = scene.size
    (folder / "camera_info.yaml").write_text(
        f"image_width: {width}\nimage_height: {height}\ncamera_name: synthetic_rgbd\n"
        f"camera_matrix: {{rows: 3, cols: 3, data: [{k.fx}, 0.0, {k.cx}, 0.0, {k.fy}, {k.cy}, 0.0, 0.0, 1.0]}}\n"
        f"distortion_model: plumb_bob\n"
        f"distortion_coefficients: {{rows: 1, cols: 5, data: [0.0, 0.0, 0.0, 0.0, 0.0]}}\n"
        f"rectification_matrix: {{rows: 3, cols: 3, data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]}}\n"
        f"projection_matrix: {{rows: 3, cols: 4, data: [{k.fx}, 0.0, {k.cx}, 0.0, 0.0, {k.fy}, {k.cy}, 0.0, "
        f"0.0, 0.0, 1.0, 0.0]}}\n")
    return folder

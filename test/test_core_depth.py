"""The 3D step (dasiamrpn_core/depth.py) on synthetic RGB-D scenes with known geometry: a target
1.5 m away and a thin pole 2 m away before a wall at 4 m, seen by a VGA camera with known K, with
depth noise and holes, in both depth encodings (16-bit millimetres and 32-bit metres)."""
from __future__ import annotations

import numpy as np
import pytest

from dasiamrpn_core.demo_rgbd import VGA_INTRINSICS, Plate, RGBDScene, depth_to_millimetres, person_scene, pole_scene
from dasiamrpn_core.depth import (METRE, MILLIMETRE, DepthParams, Intrinsics, NoDepthError, estimate_3d,
                                  target_depth)

POSITION_TOL_M, POSITION_TOL_REL = 0.01, 0.01   # the acceptance: 1 cm plus 1 % of the distance
SIZE_TOL_REL = 0.05


def encoded(depth_m: np.ndarray, encoding: str) -> tuple[np.ndarray, float]:
    """The depth image as a driver stores it, and its unit in metres."""
    if encoding == "16UC1":
        return depth_to_millimetres(depth_m), MILLIMETRE
    return depth_m.astype(np.float32), METRE


def assert_position(estimate, truth) -> None:
    error = np.linalg.norm(np.subtract(estimate.position, truth))
    limit = POSITION_TOL_M + POSITION_TOL_REL * np.linalg.norm(truth)
    assert error <= limit, f"position {estimate.position} is {error * 100:.1f} cm from {truth} (limit {limit * 100:.1f})"


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_target_before_a_wall_with_holes(encoding):
    scene = person_scene(holes=0.3)
    plate = scene.plates[0]
    _, depth_m = scene.render()
    depth, unit = encoded(depth_m, encoding)
    estimate = estimate_3d(plate.box(scene.intrinsics), depth, scene.intrinsics, unit)
    assert_position(estimate, plate.centre)
    width, height, _ = estimate.size
    assert abs(width - plate.width) <= SIZE_TOL_REL * plate.width, estimate.size
    assert abs(height - plate.height) <= SIZE_TOL_REL * plate.height, estimate.size


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_thin_target_whose_box_is_mostly_wall(encoding):
    """The pole covers a fifth of its box's central region: the plain median lies on the wall, the
    nearest dominant mode on the pole."""
    scene = pole_scene(holes=0.2)
    plate = scene.plates[0]
    x, y, w, h = plate.box(scene.intrinsics)
    box = (x - 2 * w, y, 5 * w, h)   # the tracker's box: the pole and wall on either side
    _, depth_m = scene.render()
    depth, unit = encoded(depth_m, encoding)
    rows, cols = slice(y + h // 4, y + 3 * h // 4), slice(x - w // 2, x + w + w // 2)
    assert np.nanmedian(depth_m[rows, cols]) > 3.5   # the scene is discriminative: the median is the wall
    estimate = estimate_3d(box, depth, scene.intrinsics, unit)
    assert_position(estimate, plate.centre)
    assert abs(estimate.size[1] - plate.height) <= SIZE_TOL_REL * plate.height


def test_exact_scene_pins_the_pixel_convention():
    """Without noise or holes, the box centre back-projects to the plate's centre within the
    half-pixel discretisation of its edges, and a one-pixel box to that pixel's centre."""
    scene = person_scene(holes=0.0, noise=0.0)
    plate = scene.plates[0]
    estimate = estimate_3d(plate.box(scene.intrinsics), scene.render()[1], scene.intrinsics, METRE)
    assert estimate.depth.depth == pytest.approx(1.5, abs=1e-6) and estimate.depth.spread < 1e-6
    half_pixel = 0.5 * 1.5 / VGA_INTRINSICS.fx + 1e-9
    assert abs(estimate.position[0] - 0.2) <= half_pixel and abs(estimate.position[1] + 0.1) <= half_pixel
    # the box of exactly pixel (100, 50) is on the ray through that pixel's centre, K's (100, 50)
    single = estimate_3d((100, 50, 1, 1), np.full((480, 640), 2.0, np.float32), VGA_INTRINSICS, METRE,
                         DepthParams(min_valid_pixels=1))
    assert single.position == pytest.approx(((100 - 319.5) * 2 / 525, (50 - 239.5) * 2 / 525, 2.0))


def test_a_near_occluder_smaller_than_a_mode_is_ignored_and_a_larger_one_wins():
    base = person_scene(holes=0.0)
    target = base.plates[0]
    box = target.box(base.intrinsics)
    on_ray = (0.2 * 0.8 / 1.5, -0.1 * 0.8 / 1.5, 0.8)   # in front of the target's centre
    small = Plate(on_ray, 0.02, 0.02)     # a few pixels: under mode_min_share of the centre
    _, depth = RGBDScene(plates=(target, small), holes=0.0).render()
    assert estimate_3d(box, depth, base.intrinsics, METRE).position[2] == pytest.approx(1.5, rel=0.01)
    large = Plate(on_ray, 0.12, 0.12)     # the nearest dominant mode: what is in front
    _, depth = RGBDScene(plates=(target, large), holes=0.0).render()
    assert estimate_3d(box, depth, base.intrinsics, METRE).position[2] == pytest.approx(0.8, rel=0.01)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_an_all_hole_box_gives_no_estimate_not_a_zero(encoding):
    scene = person_scene(holes=0.0)
    box = scene.plates[0].box(scene.intrinsics)
    _, depth_m = RGBDScene(**{**scene.__dict__, "hole_blob": box}).render()
    depth, unit = encoded(depth_m, encoding)
    with pytest.raises(NoDepthError, match="0 valid depth pixels"):
        estimate_3d(box, depth, scene.intrinsics, unit)


def test_too_few_valid_depths_give_no_estimate():
    scene = person_scene(holes=0.97, seed=3)   # about 3 % valid: under min_valid_fraction (5 %)
    box = scene.plates[0].box(scene.intrinsics)
    with pytest.raises(NoDepthError, match="valid depth pixels of"):
        estimate_3d(box, scene.render()[1], scene.intrinsics, METRE)
    # the same holes with a lower bar: an estimate, at the target
    lenient = DepthParams(min_valid_fraction=0.01)
    assert estimate_3d(box, scene.render()[1], scene.intrinsics, METRE, lenient).position[2] == \
        pytest.approx(1.5, rel=0.02)


def test_out_of_range_values_are_holes():
    region = np.array([[0, 65535, 20, 30000]] * 10, np.uint16)   # 0 and 65535 mm: holes; 20 mm: too near
    found = target_depth(region, MILLIMETRE, DepthParams(min_valid_pixels=5, min_valid_fraction=0.0))
    assert found.depth == pytest.approx(30.0) and found.valid == 10
    with pytest.raises(NoDepthError):
        target_depth(np.full((10, 10), np.inf, np.float32), METRE)


def test_scattered_depths_have_no_dominant_mode():
    depths = np.geomspace(0.5, 50, 400, dtype=np.float32).reshape(20, 20)   # no two in a 2 % bin trio
    with pytest.raises(NoDepthError, match="no depth mode"):
        target_depth(depths, METRE)


def test_box_outside_the_image_or_degenerate():
    depth = np.ones((480, 640), np.float32)
    with pytest.raises(NoDepthError, match="no central pixel inside"):
        estimate_3d((700, 10, 20, 20), depth, VGA_INTRINSICS, METRE)
    with pytest.raises(NoDepthError, match="not a box"):
        estimate_3d((10, 10, 0, 20), depth, VGA_INTRINSICS, METRE)
    partly = estimate_3d((620, 10, 40, 20), depth, VGA_INTRINSICS, METRE)   # columns 630..649: half outside ...
    assert partly.position[2] == pytest.approx(1.0)                          # ... half inside


def test_large_boxes_are_subsampled():
    scene = person_scene()
    _, depth = scene.render()
    estimate = estimate_3d((0, 0, 640, 480), depth, scene.intrinsics, METRE)
    assert estimate.depth.sampled <= DepthParams().max_samples
    assert estimate.position[2] == pytest.approx(1.5, rel=0.01)   # the nearest dominant mode: the target


@pytest.mark.parametrize("k, words", [
    ([0, 0, 319.5, 0, 525, 239.5, 0, 0, 1], "zero or negative focal length"),
    ([525, 0, 319.5, 0, float("nan"), 239.5, 0, 0, 1], "must be finite"),
    ([525, 0, 319.5], "K must have 9 values"),
])
def test_bad_intrinsics_are_refused_by_name(k, words):
    with pytest.raises(ValueError, match=words):
        Intrinsics.from_k(k)


def test_depth_params_are_validated():
    with pytest.raises(ValueError, match="central_fraction"):
        DepthParams(central_fraction=0.0)
    with pytest.raises(ValueError, match="min_depth_m < max_depth_m"):
        DepthParams(min_depth_m=5.0, max_depth_m=1.0)

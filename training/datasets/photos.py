"""Still photographs shipped inside registry packages (no download): the bundled model's data.

Sources (licences in ``dasiamrpn_core/weights/MODEL_CARD.md``): scikit-image's ``skimage/data``
photographs and the ``lfw_subset`` faces, scikit-learn's ``china.jpg``/``flower.jpg``,
matplotlib's sample photographs and, when installed (``apt-get install opencv-doc``), the
OpenCV example photographs under ``/usr/share/doc/opencv-doc/examples/data``.

Photos carry no boxes, so each photo gets ``proposals_per_image`` textured random boxes
(deterministic per photo). Proposals of one photo share a category (``photo:<name>``): the
same-category negatives are then look-alike patches of the same photo; other photos give the
different-category negatives. The ``lfw_subset`` faces are tiled into one mosaic whose cells are
the objects (category ``face``), so faces are each other's distractors.
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..config import DatasetSpec
from .images import read_image, register_generated
from .records import DatasetError, Track

OPENCV_DOC_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
                  "moon.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg",
                  "text.png")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")
# drawings, charts, calibration targets and logos in opencv-doc: not photographs
OPENCV_DOC_EXCLUDE = ("chessboard", "gradient", "digits", "notes", "ml.png", "mask.png", "logo", "alphabet",
                      "detect_blob", "ellipses", "imageText", "pic", "templ", "tmpl", "text_", "sudoku",
                      "left0", "left1", "right0", "right1", "data01", "box.png", "aloeGT", "HappyFish",
                      "Blender_Suzanne", "licenseplate", "ela_", "starry_night", "pca_test", "box_in_scene")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
LFW_FACES = 100          # lfw_subset.npy: 100 faces then 100 non-faces, 25x25 grey
LFW_CELL = 100           # mosaic cell side (faces upscaled 4x)
LFW_GRID = 10
PROPOSAL_MIN_SIDE = 0.12  # proposal side range, fraction of min(image width, height)
PROPOSAL_MAX_SIDE = 0.45
PROPOSAL_MAX_ASPECT = 2.5
PROPOSAL_MIN_TEXTURE = 0.6  # mean gradient in the box / mean gradient of the image
PROPOSAL_TRIES = 40


def package_dir(module: str, *sub: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*sub)


def registry_photos() -> list[tuple[str, str, str]]:
    """(name, path, origin) of every available registry-shipped photograph, sorted by name."""
    found: list[tuple[str, str, str]] = []
    for module, sub, names in (("skimage", ("data",), SKIMAGE_PHOTOS),
                               ("sklearn", ("datasets", "images"), SKLEARN_PHOTOS),
                               ("matplotlib", ("mpl-data", "sample_data"), MATPLOTLIB_PHOTOS)):
        base = package_dir(module, *sub)
        if base is None:
            continue
        for name in names:
            if (base / name).is_file():
                found.append((f"{module}/{Path(name).stem}", str(base / name), module))
    if OPENCV_DOC_DIR.is_dir():
        for path in sorted(OPENCV_DOC_DIR.iterdir()):
            if path.suffix.lower() in PHOTO_SUFFIXES and not any(x.lower() in path.name.lower()
                                                                  for x in OPENCV_DOC_EXCLUDE):
                found.append((f"opencv-doc/{path.stem}", str(path), "opencv-doc"))
    return sorted(found)


def _lfw_path() -> Path | None:
    base = package_dir("skimage", "data")
    path = base / "lfw_subset.npy" if base else None
    return path if path is not None and path.is_file() else None


def _lfw_mosaic(path: Path, first: int) -> np.ndarray:
    faces = np.load(path)[first:first + LFW_GRID * LFW_GRID]
    mosaic = np.zeros((LFW_GRID * LFW_CELL, LFW_GRID * LFW_CELL), np.uint8)
    for i, face in enumerate(faces):
        r, c = divmod(i, LFW_GRID)
        cell = cv2.resize((face * 255).clip(0, 255).astype(np.uint8), (LFW_CELL, LFW_CELL),
                          interpolation=cv2.INTER_CUBIC)
        mosaic[r * LFW_CELL:(r + 1) * LFW_CELL, c * LFW_CELL:(c + 1) * LFW_CELL] = cell
    return cv2.cvtColor(mosaic, cv2.COLOR_GRAY2BGR)


def stable_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "little")


def textured_proposals(image: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` random boxes (x, y, w, h) inside the image whose mean gradient magnitude is at
    least PROPOSAL_MIN_TEXTURE times the image's (avoids flat sky/wall patches)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    integral = cv2.integral(grad)
    mean_grad = float(grad.mean()) + 1e-6
    h, w = gray.shape
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(count):
        best = None
        for _ in range(PROPOSAL_TRIES):
            side = min(h, w) * rng.uniform(PROPOSAL_MIN_SIDE, PROPOSAL_MAX_SIDE)
            aspect = np.exp(rng.uniform(-np.log(PROPOSAL_MAX_ASPECT), np.log(PROPOSAL_MAX_ASPECT)))
            bw, bh = min(side * np.sqrt(aspect), w - 1), min(side / np.sqrt(aspect), h - 1)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            x0, y0, x1, y1 = int(x), int(y), int(x + bw), int(y + bh)
            texture = (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / max(
                (x1 - x0) * (y1 - y0), 1) / mean_grad
            if best is None or texture > best[0]:
                best = (texture, (x, y, bw, bh))
            if texture >= PROPOSAL_MIN_TEXTURE:
                break
        boxes.append(best[1])
    return np.asarray(boxes, dtype=np.float32)


def photo_tracks(spec: DatasetSpec, seed: int) -> list[Track]:
    """Tracks (one still frame each) for the registry photographs selected by ``spec``."""
    photos = registry_photos()
    lfw = _lfw_path()
    tracks: list[Track] = []
    for name, path, _origin in photos:
        if (spec.include and name not in spec.include) or name in spec.exclude:
            continue
        try:
            image = read_image(path)
        except DatasetError:
            continue
        boxes = textured_proposals(image, spec.proposals_per_image, stable_seed(seed, name))
        for i, box in enumerate(boxes):
            tracks.append(Track(spec.label, f"{name}#{i}", f"photo:{name}", (path,), box[None], still=True))
    for label, first, category in (("skimage/lfw_faces", 0, "face"),
                                   ("skimage/lfw_nonfaces", LFW_FACES, "lfw_nonface")):
        if lfw is None or (spec.include and label not in spec.include) or label in spec.exclude:
            continue
        key = f"generated:{label}"
        register_generated(key, lambda p=lfw, f=first: _lfw_mosaic(p, f))
        pad = LFW_CELL * 0.12
        for i in range(LFW_GRID * LFW_GRID):
            r, c = divmod(i, LFW_GRID)
            box = np.array([[c * LFW_CELL + pad, r * LFW_CELL + pad, LFW_CELL - 2 * pad, LFW_CELL - 2 * pad]],
                           np.float32)
            tracks.append(Track(spec.label, f"{label}#{i}", category, (key,), box, still=True))
    if spec.max_items:
        tracks = tracks[:spec.max_items * spec.proposals_per_image]
    if not tracks:
        raise DatasetError(
            f"{spec.label}: no registry photographs found (scikit-image/scikit-learn/matplotlib missing, or "
            f"include/exclude removed all)")
    return tracks

"""``dasiamrpn-prepare``: crop every annotated target once into fixed-size context crops (pysot's
``crop511`` step), so training reads small crops instead of full frames.

Each crop is centred on the target and scaled so that the template context window (side
``sqrt((w+p)(h+p))``, ``p = context * (w + h)``) maps to ``template_size`` pixels, like tracking;
a ``crop_size`` crop (default 511) then also holds every search region the sampler draws. The
output directory gets ``index.json`` (read by the ``prepared`` dataset kind) and one JPEG per
(track, frame). Unreadable images are counted and skipped with a warning.

Usage: ``dasiamrpn-prepare --config CFG --output DIR [--crop-size 511] [--workers N]``
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from multiprocessing import get_context
from pathlib import Path

import cv2
from tqdm import tqdm

from dasiamrpn_core.cli.common import add_set_argument

from .config import ConfigError, load_config
from .crops import context_side, crop_affine, mean_pad
from .datasets import load_all
from .datasets.images import read_image
from .datasets.records import DatasetError, Track

LOG = logging.getLogger("dasiamrpn_training.prepare")
INDEX = "index.json"
INDEX_VERSION = 1
JPEG_QUALITY = 92


def crop_track(args) -> tuple[dict | None, int, str]:
    """Worker: write the crops of one track. Returns (index entry or None, skipped frames, first problem)."""
    track, out_dir, crop_size, template_size, context, every = args
    entry_frames, entry_boxes = [], []
    skipped, problem = 0, ""
    valid = track.valid_indices(1.0)[::max(every, 1)]
    tdir = Path(out_dir) / "crops" / _safe(track.source) / _safe(track.name)
    for f in valid:
        x, y, w, h = (float(v) for v in track.boxes[f])
        try:
            image = read_image(track.frames[f])
        except DatasetError as exc:
            skipped += 1
            problem = problem or str(exc)
            continue
        side = context_side(w, h, context) * crop_size / template_size
        crop, m = crop_affine(image, (x + w / 2, y + h / 2), side, side, crop_size, mean_pad(image))
        scale = crop_size / side
        box = [crop_size / 2 - w * scale / 2, crop_size / 2 - h * scale / 2, w * scale, h * scale]
        tdir.mkdir(parents=True, exist_ok=True)
        name = tdir / f"{int(f):06d}.jpg"
        cv2.imwrite(str(name), crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        entry_frames.append(str(name.relative_to(out_dir)))
        entry_boxes.append([round(v, 3) for v in box])
    if not entry_frames:
        return None, skipped, problem
    return ({"source": track.source, "name": track.name, "category": track.category, "still": track.still,
             "frames": entry_frames, "boxes": entry_boxes}, skipped, problem)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def prepare(tracks: list[Track], out_dir: Path, crop_size: int, template_size: int, context: float,
            workers: int, every: int = 1) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(t, str(out_dir), crop_size, template_size, context, every) for t in tracks]
    entries, skipped, problems = [], 0, []
    ctx = get_context("fork") if sys.platform.startswith("linux") else get_context()
    with ctx.Pool(max(workers, 1)) as pool, tqdm(total=len(jobs), desc="crops", unit="track") as bar:
        for entry, n_skip, problem in pool.imap_unordered(crop_track, jobs, chunksize=4):
            if entry is not None:
                entries.append(entry)
            if n_skip:
                skipped += n_skip
                if len(problems) < 5:
                    problems.append(problem)
            bar.update(1)
    if skipped:
        LOG.warning("skipped %d unreadable frame(s), e.g. %s", skipped, problems)
    if not entries:
        raise DatasetError(f"nothing to write: no readable annotated frame among {len(tracks)} tracks")
    entries.sort(key=lambda e: (e["source"], e["name"]))
    index = {"version": INDEX_VERSION, "crop_size": crop_size, "template_size": template_size,
             "context_amount": context, "skipped_frames": skipped, "tracks": entries}
    tmp = out_dir / f".{INDEX}.tmp"
    tmp.write_text(json.dumps(index))
    tmp.replace(out_dir / INDEX)
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dasiamrpn-prepare", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="training YAML whose `datasets` are cropped")
    ap.add_argument("--output", required=True, help="directory for crops/ and index.json")
    ap.add_argument("--crop-size", type=int, default=511)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--every", type=int, default=1, help="keep every N-th annotated frame of a video")
    add_set_argument(ap, "config keys", "optim.lr=0.005 max_steps=2000")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.set)
        if args.crop_size < cfg.sampling.search_size:
            raise ConfigError(f"--crop-size {args.crop_size} is smaller than the search size "
                              f"{cfg.sampling.search_size}")
        tracks = load_all(cfg.datasets, seed=cfg.seed, cache_dir=Path(args.output) / "cache",
                          min_box=cfg.sampling.min_box_pixels)
        index = prepare(tracks, Path(args.output), args.crop_size, cfg.sampling.template_size,
                        cfg.sampling.context_amount, args.workers, args.every)
    except (ConfigError, DatasetError) as exc:
        print(f"dasiamrpn-prepare: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"tracks": len(index["tracks"]), "frames": sum(len(t["frames"]) for t in index["tracks"]),
                      "skipped_frames": index["skipped_frames"], "index": str(Path(args.output) / INDEX)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Crops written by ``dasiamrpn-prepare``: ``<root>/index.json`` + ``<root>/crops/...``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import DatasetSpec
from .records import DatasetError, SkipCounter, Track
from .records import selected

INDEX_VERSION = 1


def check_prepared_geometry(root: str | Path, template_size: int, context_amount: float) -> None:
    """The crops under ``root`` were made with this template size and context (``dasiamrpn-prepare``
    records both in its index): a DatasetError naming both values otherwise."""
    index = json.loads((Path(root) / "index.json").read_text())
    made = (int(index["template_size"]), float(index["context_amount"]))
    if made != (int(template_size), float(context_amount)):
        raise DatasetError(f"{root}: crops prepared with template_size {made[0]}, context_amount {made[1]}; the "
                           f"config trains with {template_size}, {context_amount} (run dasiamrpn-prepare again)")


def prepared_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    root = Path(spec.root)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise DatasetError(f"{spec.label}: {index_path} not found (run dasiamrpn-prepare first)")
    index = json.loads(index_path.read_text())
    if index.get("version") != INDEX_VERSION:
        raise DatasetError(f"{spec.label}: {index_path} has version {index.get('version')}, "
                           f"expected {INDEX_VERSION}")
    tracks = []
    for e in index["tracks"]:
        if not selected(e["name"], spec.include, spec.exclude):
            continue
        tracks.append(Track(spec.label, e["name"], e["category"], tuple(str(root / f) for f in e["frames"]),
                            np.asarray(e["boxes"], np.float32).reshape(-1, 4), still=bool(e["still"]),
                            crops=True))
    return tracks

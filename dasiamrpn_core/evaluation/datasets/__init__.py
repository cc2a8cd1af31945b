"""Dataset readers: ``load_dataset(name, root)`` -> list of :class:`~..sequence.Sequence`."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

from ..errors import DatasetError
from ..sequence import Sequence
from . import got10k, lasot, mot, otb, simple, uav, vot
from .common import select

Loader = Callable[..., list[Sequence]]

DATASETS: dict[str, Loader] = {
    "otb": otb.load,
    "vot": vot.load_short_term,
    "vot-lt": vot.load_long_term,
    "got10k": got10k.load,
    "lasot": lasot.load,
    "uav": uav.load,
    "simple": simple.load,
    "mot": mot.load,
}


def load_dataset(name: str, root: str | Path, *, split: str | None = None, index: str | Path | None = None,
                 sequences: list[str] | None = None) -> list[Sequence]:
    """Read a benchmark from ``root``; ``sequences`` keeps only those names (in that order)."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root not found: {root}")
    loaded = DATASETS[name](root, split=split, index=Path(index) if index is not None else None)
    return select(loaded, sequences, root)


__all__ = ["DATASETS", "load_dataset"]

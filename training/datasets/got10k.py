"""GOT-10k, read by the evaluation toolkit's reader (``<root>/<split>/GOT-10k_Train_NNNNNN/{%08d.jpg,
groundtruth.txt, absence.label, meta_info.ini}`` + ``list.txt``); the category is ``object_class``
of ``meta_info.ini``, whose ``resolution`` bounds the boxes."""
from __future__ import annotations

from pathlib import Path

from dasiamrpn_core.evaluation.datasets import got10k

from ..config import DatasetSpec
from .records import SkipCounter, Track, read_sequences, track_from_sequence


def _resolution(metadata: dict) -> tuple[int, int] | None:
    try:
        w, h = (int(float(v)) for v in metadata["resolution"].strip("()[] ").split(","))
    except (KeyError, ValueError):
        return None
    return w, h


def got10k_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    folders = got10k.sequence_folders(Path(spec.root), spec.split)
    return [track_from_sequence(seq, spec.label, seq.metadata.get("object_class", "unknown"), min_box, skips,
                                _resolution(seq.metadata))
            for seq in read_sequences(folders, lambda f: [got10k.read_sequence(f)], spec, skips)]

"""The project's sequence layout (``../shared/data/sequences``, OTB-style ``<root>/<name>/{img/,
groundtruth.txt}`` with 0-based boxes), read by the evaluation toolkit's ``simple`` reader; the
category is the sequence folder's name (both targets of a two-target folder share it), ``meta.json``'s ``width``/``height`` bound the boxes. With a ``split_file``
(``../shared/data/train/sot``), only the videos of the spec's split."""
from __future__ import annotations

from pathlib import Path

from dasiamrpn_core.evaluation.datasets import simple

from ..config import DatasetSpec
from .records import SkipCounter, Track, image_size, read_sequences, track_from_sequence


def sequence_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    tracks = []
    for seq in read_sequences(simple.sequence_folders(Path(spec.root)), simple.read_sequences, spec, skips):
        tracks.append(track_from_sequence(seq, spec.label, seq.frames[0].parent.parent.name, min_box, skips,
                                          image_size(seq.metadata)))
    return tracks

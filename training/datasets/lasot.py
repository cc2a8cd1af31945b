"""LaSOT, read by the evaluation toolkit's reader (``<root>/<class>/<class>-<n>/{img/, groundtruth.txt
(1-based), full_occlusion.txt, out_of_view.txt}``, or the sequence folders directly in the root).
Occluded and out-of-view frames are missing; the category is the class. ``split: train`` keeps
the sequences of ``<root>/training_set.txt`` when that file exists, else every sequence is used
(with a warning: evaluating on LaSOT's test set after training on it would be contaminated);
``split: all`` takes every sequence, another split name is an error naming the known ones."""
from __future__ import annotations

import logging
from pathlib import Path

from dasiamrpn_core.evaluation.datasets import lasot

from ..config import DatasetSpec
from .records import SkipCounter, Track, read_sequences, track_from_sequence

LOG = logging.getLogger("dasiamrpn_training.datasets")
ALL = "all"


def lasot_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    root = Path(spec.root)
    split = None if spec.split == ALL else spec.split
    if split in lasot.SPLIT_FILES and not (root / lasot.SPLIT_FILES[split]).is_file():
        LOG.warning("%s: no %s in %s: every sequence is used, the test set's included", spec.label,
                    lasot.SPLIT_FILES[split], root)
        split = None
    return [track_from_sequence(seq, spec.label, seq.metadata["class"], min_box, skips)
            for seq in read_sequences(lasot.sequence_folders(root, split), lambda f: [lasot.read_sequence(f)],
                                      spec, skips)]

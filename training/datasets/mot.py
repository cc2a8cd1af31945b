"""MOTChallenge videos (``../shared/data/train/mot``), read by the evaluation toolkit's ``mot`` reader:
one track per object id, its frames from its first annotated one; ``others`` keeps, per frame, the
boxes of the video's other objects (same-class look-alikes: the hard negatives of a positive pair).
The category is the video (with the class): a ``negative_same_category`` pair of a MOT track is then
the paper's semantic negative, a search centred on another object of the same video."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dasiamrpn_core.evaluation.datasets import mot

from ..config import DatasetSpec
from .records import SkipCounter, Track, image_size, read_sequences, track_from_sequence


def mot_tracks(spec: DatasetSpec, skips: SkipCounter, min_box: float) -> list[Track]:
    tracks = []
    for seq in read_sequences(mot.video_folders(Path(spec.root)), mot.read_sequences, spec, skips):
        meta = seq.metadata
        others = tuple(np.asarray(o, np.float32) for o in meta["others"])
        tracks.append(track_from_sequence(seq, spec.label, f"{meta['video']}:{meta['class']}", min_box, skips,
                                          image_size(meta), others=others))
    return tracks

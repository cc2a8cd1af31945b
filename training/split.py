"""The fixed split of the real training videos (``$DASIAMRPN_SHARED/data/train``) by video.

A seeded rule, stratified by source benchmark (the folder name's prefix before the first ``_``:
``otb``, ``uav123``, ``davis2016``, ``siwr`` ...): in every benchmark group of each subset (``sot``,
``mot``), ``round(HELDOUT_FRACTION * n)`` videos are held out, at least one in a group of
``MIN_GROUP_FOR_HELDOUT`` or more, none in a smaller one (a lone video trains); which ones is a
permutation of the sorted names by ``numpy.random.default_rng(seed)``. The result is a committed JSON
file (``training/splits/real_v1.json``) that the configs name (``split_file``); it never changes
after a run has been looked at (a new split is a new file).

    dasiamrpn-split --write training/splits/real_v1.json      # $DASIAMRPN_SHARED/data/train
    dasiamrpn-split --check training/splits/real_v1.json      # the rule still gives this file
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from dasiamrpn_core.evaluation.datasets import mot, simple
from dasiamrpn_core.evaluation.errors import DatasetError
from dasiamrpn_core.files import require_shared

SPLIT_SEED = 2026
HELDOUT_FRACTION = 0.2
MIN_GROUP_FOR_HELDOUT = 3
SUBSETS = {"sot": simple.sequence_folders, "mot": mot.video_folders}
TRAIN, HELDOUT = "train", "heldout"


def benchmark_of(name: str) -> str:
    return name.split("_", 1)[0]


def heldout_count(n: int) -> int:
    if n < MIN_GROUP_FOR_HELDOUT:
        return 0
    return max(1, int(round(HELDOUT_FRACTION * n)))


def split_names(names: list[str], seed: int = SPLIT_SEED) -> dict[str, str]:
    """``name -> "train" | "heldout"`` by the stratified rule (independent of the input order)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(set(names)):
        groups[benchmark_of(name)].append(name)
    out = {}
    for bench in sorted(groups):
        members = groups[bench]
        rng = np.random.default_rng([seed, *bench.encode()])
        held = {members[i] for i in rng.permutation(len(members))[:heldout_count(len(members))]}
        out.update({m: HELDOUT if m in held else TRAIN for m in members})
    return out


def make_split(root: Path, seed: int = SPLIT_SEED) -> dict:
    """The split of every subset under ``root`` (``sot/``, ``mot/``)."""
    split = {"rule": f"per subset and benchmark prefix: round({HELDOUT_FRACTION} * n) held out "
                     f"(>= 1 when n >= {MIN_GROUP_FOR_HELDOUT}, 0 below), numpy default_rng([seed, prefix bytes])",
             "seed": seed}
    for subset, folders in SUBSETS.items():
        names = [p.name for p in folders(root / subset)]
        if not names:
            raise DatasetError(f"no videos in {root / subset}")
        split[subset] = split_names(names, seed)
    return split


def load_split(path: str | Path, subset: str) -> dict[str, str]:
    """``name -> split`` of one subset of a split file (errors name the file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"split file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"split file {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if subset not in data:
        raise DatasetError(f"split file {path} has no subset {subset!r} (it has {sorted(k for k in data if k in SUBSETS)})")
    return data[subset]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="dasiamrpn-split", description=__doc__.split("\n")[0])
    action = ap.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="write the split file here")
    action.add_argument("--check", type=Path, help="exit 1 when the rule no longer gives this file")
    ap.add_argument("--root", type=Path, help="real training videos (default: $DASIAMRPN_SHARED/data/train)")
    ap.add_argument("--seed", type=int, default=SPLIT_SEED)
    args = ap.parse_args(argv)
    try:
        root = args.root or require_shared("data", "train")
        split = make_split(root, args.seed)
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        same = json.loads(args.check.read_text()) == split
        print(f"{args.check}: {'matches' if same else 'DIFFERS FROM'} the rule on {root}")
        return 0 if same else 1
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(split, indent=1, sort_keys=True) + "\n")
    for subset in SUBSETS:
        held = sorted(k for k, v in split[subset].items() if v == HELDOUT)
        print(f"{subset}: {len(held)} of {len(split[subset])} held out: {', '.join(held)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

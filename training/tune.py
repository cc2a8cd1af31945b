"""Tune the tracking hyper-parameters stored in a checkpoint on held-out, non-evaluation data.

``dasiamrpn-tune --checkpoint CKPT --config CFG --output OUT.pth [--grid name=v1,v2 ...] [--search product]
[--set KEY=VALUE ...]``

The sequences are the config's validation set (for the bundled model: vtest.avi tracklets from
the held-out end of the video and synthetic sequences made from held-out photographs), never
the evaluation sequences. A coordinate search over the grid (each parameter in turn, keeping the
best value), or with ``--search product`` every combination of its values, maximises the mean
success AUC; the result is written as a new project checkpoint whose metadata records the search.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import sys
import time
from pathlib import Path

import torch

from dasiamrpn_core.checkpoint import load_checkpoint, save_checkpoint
from dasiamrpn_core.cli.common import add_set_argument
from dasiamrpn_core.config import SiamRPNParams, TrackerConfig
from dasiamrpn_core.models import ARCHITECTURES, build_network

from .config import load_config
from .export import tracking_params
from .validation import evaluate_tracker, validation_tracks

LOG = logging.getLogger("dasiamrpn_training.tune")
DEFAULT_GRID = {
    "window_influence": [0.3, 0.38, 0.44, 0.5],
    "penalty_k": [0.02, 0.04, 0.08, 0.14],
    "lr": [0.25, 0.35, 0.45, 0.55],
}


def _number(text: str) -> int | float:
    """'271' -> 271 (integer parameters such as instance_size stay integers), '0.5' -> 0.5."""
    return int(text) if text.strip().lstrip("+-").isdigit() else float(text)


def config_grid(tune_grid: dict) -> dict[str, list[int | float]]:
    """A config's ``export.tune_grid`` with its values as numbers."""
    return {k: [_number(str(v)) for v in values] for k, values in tune_grid.items()}


def parse_grid(items: list[str]) -> dict[str, list[int | float]]:
    if not items:
        return dict(DEFAULT_GRID)
    grid = {}
    for item in items:
        name, values = item.split("=", 1)
        grid[name] = [_number(v) for v in values.split(",")]
    return grid


def _evaluator(net, params, tracks, grid: dict, mode: str, max_frames: int, tracker: dict):
    """(evaluate, log, config): ``evaluate(overrides)`` scores the tracker with the file's own values
    ``tracker`` under ``overrides`` and appends the grid's values and the AUCs to ``log``."""
    log: list[dict] = []
    config = TrackerConfig(mode=mode, siamrpn=params).with_overrides(**tracker)

    def evaluate(overrides: dict) -> float:
        result = evaluate_tracker(net, params, tracks, mode=mode, max_frames=max_frames, **{**tracker, **overrides})
        current = config.with_overrides(**overrides)
        log.append({"params": {k: current.value(k) for k in grid}, "mean_auc": result["mean_auc"],
                    "per_source": result["per_source"]})
        LOG.info("%s: AUC %.4f, per source %s", log[-1]["params"], result["mean_auc"],
                 {k: round(v, 4) for k, v in result["per_source"].items()})
        return result["mean_auc"]

    return evaluate, log, config


def _split(params: SiamRPNParams, tracker: dict, chosen: dict) -> tuple[SiamRPNParams, dict]:
    """The chosen values: those of ``SiamRPNParams`` into the parameters, the others (distractor,
    long-term) into the file's tracker values."""
    siamrpn_names = {f.name for f in dataclasses.fields(SiamRPNParams)}
    return (dataclasses.replace(params, **{k: v for k, v in chosen.items() if k in siamrpn_names}),
            {**tracker, **{k: v for k, v in chosen.items() if k not in siamrpn_names}})


def coordinate_search(net, params, tracks, grid: dict[str, list[float]], mode: str, max_frames: int,
                      rounds: int = 1, tracker: dict | None = None) -> tuple[SiamRPNParams, dict, list[dict]]:
    """Each parameter in turn over its values, keeping the best mean success AUC. Grid names are any
    tracker parameters (``TrackerConfig.with_overrides``): those of ``SiamRPNParams`` go into the
    returned parameters, the others (distractor, long-term) into the returned ``tracker`` values
    (``tracker``: the checkpoint's own, the starting point); a checkpoint stores both."""
    tracker = dict(tracker or {})
    evaluate, log, config = _evaluator(net, params, tracks, grid, mode, max_frames, tracker)
    chosen: dict[str, float] = {}
    best = evaluate(chosen)
    LOG.info("start: AUC %.4f with %s", best, log[-1]["params"])
    for _ in range(rounds):
        for name, values in grid.items():
            for v in values:
                if config.with_overrides(**chosen).value(name) == v:
                    continue
                cand = dict(chosen, **{name: v})
                auc = evaluate(cand)
                LOG.info("%s=%s: AUC %.4f (best %.4f)", name, v, auc, best)
                if auc > best:
                    best, chosen = auc, cand
    return (*_split(params, tracker, chosen), log)


def product_search(net, params, tracks, grid: dict[str, list[float]], mode: str, max_frames: int,
                   tracker: dict | None = None) -> tuple[SiamRPNParams, dict, list[dict]]:
    """Every combination of the grid's values (parameters that act together, such as Eq. 3's
    ``rerank_weight`` and ``alpha_hat``, which a coordinate search can miss: each alone may lose);
    the file's own values first, then the combination with the best mean success AUC if it is
    strictly better. Returns as :func:`coordinate_search`."""
    tracker = dict(tracker or {})
    evaluate, log, config = _evaluator(net, params, tracks, grid, mode, max_frames, tracker)
    chosen: dict[str, float] = {}
    best = evaluate(chosen)
    start = {name: config.value(name) for name in grid}
    for values in itertools.product(*grid.values()):
        cand = dict(zip(grid, values))
        if cand == start:
            continue
        auc = evaluate(cand)
        if auc > best:
            best, chosen = auc, cand
    return (*_split(params, tracker, chosen), log)


SEARCHES = {"coordinate": coordinate_search, "product": product_search}


def load_any(path: str, cfg) -> tuple[torch.nn.Module, SiamRPNParams, dict, dict]:
    """A project/official checkpoint, or a resumable training checkpoint (``checkpoints/step_*.pt``;
    its tracking parameters then come from the config's ``export.tracking``): (net, SiamRPN parameters,
    metadata, the file's distractor/long-term values)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and "step" in state:
        net = build_network(ARCHITECTURES[cfg.arch])
        net.load_state_dict(state["model"])
        return net.eval(), tracking_params(cfg.export.tracking, cfg.targets.anchors), {"step": int(state["step"]),
                                                                   "source": str(path)}, {}
    loaded = load_checkpoint(path)
    return loaded.net, loaded.params, dict(loaded.metadata), dict(loaded.tracker)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--config", required=True, help="training config whose validation set is used")
    ap.add_argument("--output", required=True, help="checkpoint to write with the tuned parameters")
    ap.add_argument("--cache", default="output/cache", help="cache directory of the validation data")
    ap.add_argument("--mode", default=None, help="tracker mode (default: the config's export.tune_mode)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", nargs="*", default=[], help="name=v1,v2,... any tracker parameter, e.g. "
                    "alpha_hat=0,0.25,0.5 (default: the config's export.tune_grid)")
    ap.add_argument("--search", default="coordinate", choices=tuple(SEARCHES),
                    help="coordinate: each parameter in turn (default); product: every combination")
    ap.add_argument("--storage-dtype", default="float32", choices=("float32", "float16"),
                    help="storage of the written checkpoint (float16 halves the file)")
    add_set_argument(ap, "config keys", "optim.lr=0.005 max_steps=2000")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.set)
    net, params, base_meta, tracker = load_any(args.checkpoint, cfg)
    tracks = validation_tracks(cfg, Path(args.cache), cfg.export.tune_max_sequences)
    t0 = time.time()
    grid = parse_grid(args.grid) if args.grid else (
        config_grid(cfg.export.tune_grid) or dict(DEFAULT_GRID))
    params, tracker, log = SEARCHES[args.search](net, params, tracks, grid, args.mode or cfg.export.tune_mode,
                                                 cfg.validation.max_frames, tracker=tracker)
    metadata = dict(base_meta)
    if "tracking_tuning" in metadata:  # a re-tuned file keeps the searches that set its other parameters
        metadata["tracking_tuning_history"] = [*metadata.get("tracking_tuning_history", []),
                                               metadata["tracking_tuning"]]
    metadata["tracking_tuning"] = {"sequences": [t.name for t in tracks], "mode": args.mode or cfg.export.tune_mode,
                                   "search": args.search,
                                   "best": log and max(log, key=lambda r: r["mean_auc"]),
                                   "evaluations": log, "seconds": round(time.time() - t0, 1)}
    save_checkpoint(args.output, net, params, metadata, storage_dtype=args.storage_dtype, tracker=tracker)
    print(json.dumps(metadata["tracking_tuning"]["best"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

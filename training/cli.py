"""``dasiamrpn-train --config CFG [--output DIR] [--max-steps N] [--resume] [--set KEY=VALUE ...]``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from dasiamrpn_core.cli.common import add_set_argument

from .config import ConfigError, load_config
from .datasets.records import DatasetError
from .pairs import PairError
from .trainer import NonFiniteLoss, Trainer


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dasiamrpn-train", description=__doc__)
    ap.add_argument("--config", required=True, help="YAML training config (see training/configs/)")
    ap.add_argument("--output", default="./output", help="run directory (checkpoints, logs, weights/)")
    ap.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    add_set_argument(ap, "config keys", "optim.lr=0.005 max_steps=2000")
    return ap


def setup_logging(output: Path, rank: int) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(output / "train.log"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)


def main(argv: list[str] | None = None) -> int:
    import os
    args = build_parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    output = Path(args.output)
    setup_logging(output, rank)
    log = logging.getLogger("dasiamrpn_training")
    try:
        cfg = load_config(args.config, args.set)
        if args.max_steps is not None and args.max_steps < 1:
            raise ConfigError("--max-steps must be >= 1")
        result = Trainer(cfg, output, resume=args.resume, max_steps=args.max_steps,
                         config_path=str(args.config)).run()
    except (ConfigError, DatasetError, PairError, NonFiniteLoss, ValueError) as exc:
        log.error("%s", exc)
        print(f"dasiamrpn-train: error: {exc}", file=sys.stderr)
        return 2
    if rank == 0:
        summary = {"step": result["step"], "stop_reason": result["stop_reason"],
                   "exported": result.get("exported", {}),
                   "validation": (result.get("validation") or [None])[-1]}
        print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

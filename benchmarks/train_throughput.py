"""Training throughput: pairs/s of the data loader alone and of full training steps.

``dasiamrpn-bench-train --config CFG [--arch SiamRPNvot] [--steps 20] [--workers 1] [--threads 2] [--set KEY=VALUE ...]``

Prints JSON with ``loader_pairs_per_s`` (iterating the DataLoader only), ``train_pairs_per_s``
(forward + backward + SGD step on pre-loaded batches) and their ratio: the loader is not the
bottleneck when the ratio is at least 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dasiamrpn_core.cli.common import add_set_argument
from dasiamrpn_core.models import ARCHITECTURES, SiamRPNLite, build_network

from dasiamrpn_training.config import ConfigError, load_config
from dasiamrpn_training.datasets import load_all
from dasiamrpn_training.loss import siamrpn_loss
from dasiamrpn_training.pairs import PairDataset
from dasiamrpn_training.trainer import StepBatchSampler, param_groups

WARMUP_STEPS = 2


def loader_rate(dataset: PairDataset, batch: int, steps: int, workers: int) -> float:
    loader = DataLoader(dataset, batch_sampler=StepBatchSampler(0, steps + WARMUP_STEPS, batch, 0, 1),
                        num_workers=workers)
    it = iter(loader)
    for _ in range(WARMUP_STEPS):
        next(it)
    t = time.perf_counter()
    n = 0
    for b in it:
        n += len(b["index"])
    return n / (time.perf_counter() - t)


def train_rate(dataset: PairDataset, arch: str, batch: int, steps: int, cfg) -> float:
    net = build_network(ARCHITECTURES[arch])
    if isinstance(net, SiamRPNLite):   # the frozen part of the trunk as the trainer sets it
        net.frozen_blocks = net.spec.backbone_blocks - cfg.optim.trainable_backbone_blocks
    net = net.train().to(memory_format=torch.channels_last)  # as the trainer
    opt = torch.optim.SGD(param_groups(net, cfg.optim), lr=1e-4, momentum=0.9)   # the trainer's groups
    items = [dataset[i] for i in range(batch)]
    b = {k: torch.stack([s[k] for s in items]) for k in ("template", "search", "labels", "deltas", "weights")}
    z = b["template"].float().contiguous(memory_format=torch.channels_last)
    x = b["search"].float().contiguous(memory_format=torch.channels_last)
    t = None
    for i in range(steps + WARMUP_STEPS):
        if i == WARMUP_STEPS:
            t = time.perf_counter()
        delta, logits = net(z, x)
        parts = siamrpn_loss(delta, logits, b["labels"], b["deltas"], b["weights"], net.spec.anchor_num, cfg.loss)
        opt.zero_grad()
        parts.total.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dasiamrpn-bench-train", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="YAML training config (see training/configs/)")
    ap.add_argument("--arch", action="append", help="architecture(s) (default: the config's)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="output/cache")
    add_set_argument(ap, "config keys", "batch_size=16 sampling.search_size=255")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        cfg = load_config(args.config, args.set)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    batch = args.batch or cfg.batch_size
    tracks = load_all(cfg.datasets, seed=cfg.seed, cache_dir=Path(args.cache), min_box=cfg.sampling.min_box_pixels)
    dataset = PairDataset(tracks, cfg, (args.steps + WARMUP_STEPS + 1) * batch)
    result = {"config": args.config, "batch": batch, "threads": args.threads, "workers": args.workers,
              "search_size": cfg.sampling.search_size,
              "loader_pairs_per_s": round(loader_rate(dataset, batch, args.steps, args.workers), 2)}
    for arch in args.arch or [cfg.arch]:
        rate = train_rate(dataset, arch, batch, args.steps, cfg)
        result[arch] = {"train_pairs_per_s": round(rate, 2),
                        "loader_to_train_ratio": round(result["loader_pairs_per_s"] / rate, 2)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

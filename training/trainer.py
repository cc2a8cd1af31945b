"""The training loop: DDP (torchrun), AMP on CUDA, frozen layers, gradient clipping, crash-safe
checkpoints with full resume, validation, CSV + TensorBoard logs, export."""
from __future__ import annotations

import contextlib
import copy
import csv
import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from dasiamrpn_core.checkpoint import load_checkpoint, round_to_storage
from dasiamrpn_core.efficientnet import load_imagenet
from dasiamrpn_core.models import ARCHITECTURES, LiteArchSpec, SiamRPN, SiamRPNLite, build_network
from dasiamrpn_core.tracker import resolve_device

from .checkpoints import CheckpointManager, rng_state, seed_rng, set_rng_state
from .config import TrainConfig, config_to_dict
from .datasets import load_all
from .datasets.records import Track
from .export import export_weights, git_commit, tracking_params
from .init import initialise
from .loss import siamrpn_loss
from .pairs import PairDataset
from .schedule import Schedule
from .validation import evaluate_tracker

LOG = logging.getLogger("training")
CSV_FIELDS = ("step", "pairs", "lr", "loss", "cls", "reg", "acc", "pairs_per_s", "elapsed_s", "val_auc")
CALIBRATION_SEED_OFFSET = 7919   # the tied-init calibration batch uses pairs of another seed


class NonFiniteLoss(RuntimeError):
    """The loss became NaN/Inf; the message names the step and the last good checkpoint."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group when launched by torchrun (NCCL on CUDA, gloo on the CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


class StepBatchSampler(Sampler):
    """Batches of pair indices for steps ``start_step .. max_steps-1``: global step ``s`` uses pairs
    ``s*B*W .. (s+1)*B*W - 1`` and rank ``r`` takes its ``r``-th slice of ``B`` (disjoint split)."""

    def __init__(self, start_step: int, max_steps: int, batch_size: int, rank: int, world: int):
        self.start, self.stop, self.b, self.rank, self.world = start_step, max_steps, batch_size, rank, world

    def __iter__(self):
        for s in range(self.start, self.stop):
            base = (s * self.world + self.rank) * self.b
            yield list(range(base, base + self.b))

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def backbone_convs(net: SiamRPN) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    mods = list(net.featureExtract)
    return [(m, mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]


def validation_tracks(cfg: TrainConfig, cache_dir: Path, max_sequences: int = 0) -> list[Track]:
    """The held-out sequences of ``cfg.validation`` (datasets and synthetic sequences), at most
    ``max_sequences`` (default ``validation.max_sequences``) of them, taken from every source in turn."""
    v = cfg.validation
    tracks: list[Track] = []
    if v.datasets:
        tracks.extend(load_all(v.datasets, seed=cfg.seed, cache_dir=cache_dir,
                               min_box=cfg.sampling.min_box_pixels))
    from .synthetic import synthetic_tracks
    for count, variant in ((v.synthetic_sequences, "plain"), (v.twin_sequences, "twin"),
                           (v.occlusion_sequences, "occlusion")):
        if count:
            tracks.extend(synthetic_tracks(v.synthetic_photos, count, v.synthetic_frames,
                                           Path(cache_dir) / "synthetic", seed=cfg.seed, variant=variant))
    tracks = [t for t in tracks if len(t.frames) >= 2]
    return tracks[:max_sequences or v.max_sequences]


class Trainer:
    def __init__(self, cfg: TrainConfig, output_dir: str | Path = "output", resume: bool = False,
                 max_steps: int | None = None, config_path: str | None = None):
        self.cfg = cfg
        self.output = Path(output_dir)
        self.resume = resume
        self.max_steps = int(max_steps or cfg.max_steps)
        self.config_path = config_path
        self.device = resolve_device(cfg.device)
        self.dist = setup_distributed(self.device)
        if self.device.type == "cuda" and self.dist.world > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.ckpts = CheckpointManager(self.output / "checkpoints", cfg.checkpoint.keep_last)
        self.amp = bool(cfg.optim.amp and self.device.type == "cuda")

    # ------------------------------------------------------------------ setup
    def _barrier(self) -> None:
        if self.dist.world > 1:
            dist.barrier()

    def _tracks(self) -> list[Track]:
        cache = self.output / "cache"
        if not self.dist.main:
            self._barrier()  # rank 0 builds caches (e.g. video tracklets) first
        tracks = load_all(self.cfg.datasets, seed=self.cfg.seed, cache_dir=cache,
                          min_box=self.cfg.sampling.min_box_pixels)
        if self.dist.main:
            self._barrier()
        return tracks

    def _val_tracks(self) -> list[Track]:
        return validation_tracks(self.cfg, self.output / "cache")

    def _build_net(self, dataset: PairDataset) -> SiamRPN | SiamRPNLite:
        spec = ARCHITECTURES[self.cfg.arch]
        init = self.cfg.init
        if init in ("tied", "random", "imagenet"):
            lite = isinstance(spec, LiteArchSpec)
            net = self._fresh_lite(spec, init) if lite else self._fresh_alexnet(spec, init, dataset)
        else:
            loaded = load_checkpoint(init)
            if loaded.net.spec != spec:
                raise ValueError(f"init checkpoint {init} is a {loaded.net.spec.name}, config arch is {spec.name}")
            net = loaded.net
        if isinstance(net, SiamRPNLite):
            net.frozen_blocks = spec.backbone_blocks - self.cfg.optim.trainable_backbone_blocks
        return net

    def _fresh_alexnet(self, spec, init: str, dataset: PairDataset) -> SiamRPN:
        """``tied`` (SiamFC-like head, calibrated on a batch) or ``random``."""
        if init == "imagenet":
            raise ValueError(f"init 'imagenet' is for the EfficientNet-Lite nets; {spec.name} takes 'tied', "
                             f"'random' or a checkpoint path")
        net = SiamRPN(spec)
        calib = None
        if init == "tied":
            cal = PairDataset(dataset.index.tracks, self.cfg, 1 << 30,
                              seed=self.cfg.seed + CALIBRATION_SEED_OFFSET)
            items = [cal[i] for i in range(min(8, self.cfg.batch_size * 2))]
            calib = (torch.stack([s["template"] for s in items]).float(),
                     torch.stack([s["search"] for s in items]).float())
        initialise(net, init, self.cfg.seed, calib)
        return net

    def _fresh_lite(self, spec: LiteArchSpec, init: str) -> SiamRPNLite:
        """``imagenet`` = the wheel's ImageNet trunk and a fresh head (PyTorch's default initialisation,
        seeded), ``random`` = nothing pretrained."""
        if init == "tied":
            raise ValueError(f"init 'tied' is for the AlexNet nets; {spec.name} takes 'imagenet', 'random' "
                             f"or a checkpoint path")
        torch.manual_seed(self.cfg.seed)
        net = SiamRPNLite(spec)
        if init == "imagenet":
            load_imagenet(net.backbone)
        return net

    def _apply_freeze(self, net: SiamRPN | SiamRPNLite, step: int) -> list[nn.Parameter]:
        """AlexNet nets: the first ``frozen_backbone_convs`` convolutions (the Lite nets freeze their
        trunk by ``frozen_blocks``, set at build time)."""
        if isinstance(net, SiamRPNLite):
            return []
        o = self.cfg.optim
        frozen_now = o.frozen_backbone_convs and (o.unfreeze_step == 0 or step < o.unfreeze_step)
        frozen: list[nn.Parameter] = []
        for i, (conv, bn) in enumerate(backbone_convs(net)):
            if frozen_now and i < o.frozen_backbone_convs:
                bn.eval()
                frozen.extend([conv.weight, conv.bias, bn.weight, bn.bias])
        return frozen

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict:
        cfg = self.cfg
        main = self.dist.main
        if main:
            self.output.mkdir(parents=True, exist_ok=True)
        code_commit = git_commit()  # the code that runs, recorded before any later edit
        seed_rng(cfg.seed + self.dist.rank)
        tracks = self._tracks()
        dataset = PairDataset(tracks, cfg, (self.max_steps + 1) * cfg.batch_size * self.dist.world)
        # channels-last: oneDNN's (and cuDNN's) convolutions run faster on NHWC; on the 2-core CPU the
        # compact net trains at ~22 instead of ~20 pairs/s (forward + backward + SGD, batch 16 of real pairs)
        net = self._build_net(dataset).to(self.device, memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(net.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                    weight_decay=cfg.optim.weight_decay)
        schedule = Schedule(optimizer, cfg.optim, self.max_steps)
        scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        start_step, best_auc, history, elapsed_before = 0, -math.inf, [], 0.0
        if self.resume:
            found = self.ckpts.latest()
            if found is None:
                LOG.warning("--resume: no checkpoint in %s; starting from step 0", self.ckpts.directory)
            else:
                state, path = found
                net.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                schedule.load_state_dict(state["schedule"])
                scaler.load_state_dict(state["scaler"])
                set_rng_state(state["rng"])
                start_step = int(state["step"])
                best_auc = float(state.get("best_auc", -math.inf))
                history = list(state.get("validation", []))
                elapsed_before = float(state.get("elapsed_s", 0.0))
                schedule.max_steps = self.max_steps
                schedule.apply()
                if main:
                    LOG.info("resumed from %s at step %d (%d pairs seen)", path, start_step, state["pairs"])
        model: nn.Module = net
        if self.dist.world > 1:
            model = nn.parallel.DistributedDataParallel(
                net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        loader = DataLoader(dataset, batch_sampler=StepBatchSampler(start_step, self.max_steps, cfg.batch_size,
                                                                    self.dist.rank, self.dist.world),
                            num_workers=cfg.num_workers, persistent_workers=False,
                            pin_memory=self.device.type == "cuda",
                            # its own generator: starting an iterator draws a worker base seed, which
                            # from the global RNG would make a resumed run's RNG state differ from an
                            # uninterrupted one's (the pairs themselves are seeded by their index)
                            generator=torch.Generator().manual_seed(cfg.seed + start_step))
        val_tracks = self._val_tracks() if main else []
        logger = _RunLogger(self.output, main, resume=start_step > 0)
        if main:
            (self.output / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))
            LOG.info("training %s on %d tracks for steps %d..%d (batch %d x %d process(es)), device %s",
                     cfg.arch, len(tracks), start_step, self.max_steps, cfg.batch_size, self.dist.world,
                     self.device)
        t0 = time.time() - elapsed_before   # the wall-time budget spans resumed runs
        step = start_step
        last_ckpt: Path | None = self.ckpts.list()[-1][1] if self.ckpts.list() else None
        bar = tqdm(total=self.max_steps, initial=start_step, desc="train", unit="step", disable=not main,
                   dynamic_ncols=True, mininterval=2.0)
        seen_indices: list[int] = []
        window_t, window_pairs = time.time(), 0
        stop_reason = "max_steps"

        def checkpoint(step_now: int) -> Path | None:
            nonlocal last_ckpt
            if not main:
                return None
            state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(),
                     "step": step_now, "pairs": step_now * cfg.batch_size * self.dist.world,
                     "best_auc": best_auc, "validation": history, "config": config_to_dict(cfg),
                     "elapsed_s": time.time() - t0}
            last_ckpt = self.ckpts.save(state, step_now)
            return last_ckpt

        def checkpoint_and_track_best(step_now: int, run_validation: bool) -> None:
            """Validate (if asked), write a checkpoint and mark it best when validation improved."""
            nonlocal best_auc
            auc = validate(step_now) if run_validation else None
            improved = auc is not None and auc > best_auc
            if improved:
                best_auc = auc
            path = checkpoint(step_now)
            if improved and path is not None and cfg.checkpoint.keep_best:
                self.ckpts.mark_best(path)

        def validate(step_now: int) -> float | None:
            if not main or not val_tracks:
                return None
            v = cfg.validation
            res = evaluate_tracker(net, tracking_params(cfg.export.tracking, cfg.targets.anchors), val_tracks, mode=v.mode,
                                   max_frames=v.max_frames)
            auc = res["mean_auc"]
            history.append({"step": step_now, "mean_auc": auc, "per_sequence": res["per_sequence"]})
            logger.scalar("val/success_auc", auc, step_now)
            LOG.info("step %d: validation success AUC %.3f on %d sequences", step_now, auc, len(val_tracks))
            return auc

        if main and cfg.validation.at_start and start_step == 0:
            validate(0)
        for batch in loader:
            model.train()
            frozen = self._apply_freeze(net, step)
            z, x = (batch[k].to(self.device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)
                    for k in ("template", "search"))
            labels = batch["labels"].to(self.device)
            deltas = batch["deltas"].to(self.device)
            weights = batch["weights"].to(self.device)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                delta, logits = model(z, x)
            parts = siamrpn_loss(delta, logits, labels, deltas, weights, net.spec.anchor_num, cfg.loss)
            if not torch.isfinite(parts.total):
                where = last_ckpt if last_ckpt is not None else "none written yet"
                raise NonFiniteLoss(
                    f"non-finite loss ({float(parts.total)}: cls {float(parts.cls)}, reg {float(parts.reg)}) "
                    f"at step {step}; stopping. Last good checkpoint: {where}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(parts.total).backward()
            for p in frozen:
                p.grad = None
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            elapsed = self._synced_elapsed(t0)
            if cfg.optim.decay_by_wall_time and cfg.wall_time_s:
                schedule.time_fraction = min(elapsed / cfg.wall_time_s, 1.0)
            lr = schedule.step()
            seen_indices.extend(int(i) for i in batch["index"])
            window_pairs += len(batch["index"]) * self.dist.world
            if main and (step % cfg.log_every == 0 or step == self.max_steps):
                rate = window_pairs / max(time.time() - window_t, 1e-6)
                window_t, window_pairs = time.time(), 0
                row = {"step": step, "pairs": step * cfg.batch_size * self.dist.world, "lr": lr,
                       "loss": float(parts.total.detach()), "cls": float(parts.cls.detach()),
                       "reg": float(parts.reg.detach()),
                       "acc": float(parts.accuracy), "pairs_per_s": rate, "elapsed_s": elapsed}
                logger.row(row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.2f}", pairs_s=f"{rate:.1f}")
            bar.update(1)
            val_due = cfg.validation.every_steps and step % cfg.validation.every_steps == 0
            if step < self.max_steps and (val_due or step % cfg.checkpoint.every_steps == 0):
                checkpoint_and_track_best(step, run_validation=bool(val_due))
            if self._should_stop(elapsed):
                stop_reason = "wall_time"
                break
        bar.close()
        if self.dist.world > 1:
            self._average_buffers(net)
        result = {"step": step, "stop_reason": stop_reason, "seen_indices": seen_indices}
        if step > start_step or not self.ckpts.list():
            checkpoint_and_track_best(step, run_validation=True)
        if self.dist.world > 1:
            self._write_rank_summary(net, step, seen_indices)
        if main:
            metadata = {
                "config": config_to_dict(cfg), "config_file": self.config_path,
                "data": {"datasets": [s.label for s in cfg.datasets], "tracks": len(tracks),
                         "tracks_per_source": dict(Counter(t.source for t in tracks)),
                         "still_images": _short_list(sorted({t.frames[0] for t in tracks if t.still})),
                         "sampling": cfg.sampling.proportions, "skipped": dataset.skips.summary()},
                "step": step, "pairs_seen": step * cfg.batch_size * self.dist.world,
                "validation": history[-1] if history else None, "best_validation_auc": best_auc,
                "git_commit": code_commit, "stop_reason": stop_reason,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            export_net = net
            best_file = self.ckpts.directory / "best.pt"
            if cfg.export.use_best and best_file.is_file():
                best = torch.load(best_file, map_location="cpu", weights_only=True)
                export_net = build_network(net.spec)
                export_net.load_state_dict(best["model"])
                metadata["exported_step"] = int(best["step"])
                metadata["validation"] = next((h for h in history if h["step"] == best["step"]), None)
            else:
                metadata["exported_step"] = step
            params = tracking_params(cfg.export.tracking, cfg.targets.anchors)
            if cfg.export.tune_grid and val_tracks:
                from .tune import config_grid, coordinate_search
                tune_tracks = validation_tracks(cfg, self.output / "cache", cfg.export.tune_max_sequences)
                if export_net is net:
                    export_net = copy.deepcopy(net)
                round_to_storage(export_net, cfg.export.storage_dtype)  # search on the network that ships
                params, search = coordinate_search(export_net, params, tune_tracks,
                                                   config_grid(cfg.export.tune_grid),
                                                   cfg.export.tune_mode, cfg.validation.max_frames)
                metadata["tracking_tuning"] = {"sequences": [t.name for t in tune_tracks],
                                               "mode": cfg.export.tune_mode,
                                               "best": max(search, key=lambda r: r["mean_auc"]),
                                               "evaluations": search}
            result["exported"] = export_weights(export_net, cfg.export, self.output, metadata, params)
            result["validation"] = history
            LOG.info("finished at step %d (%s)", step, stop_reason)
        logger.close()
        if self.dist.world > 1:
            dist.barrier()
        result["params"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        return result

    def _average_buffers(self, net: SiamRPN) -> None:
        """DDP keeps parameters identical; BatchNorm running statistics are per rank after the last
        forward, so average them (every rank then holds the same complete state)."""
        for buf in net.buffers():
            if buf.is_floating_point():
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                buf.div_(self.dist.world)
            else:
                dist.broadcast(buf, src=0)

    def _write_rank_summary(self, net: SiamRPN, step: int, seen: list[int]) -> None:
        """ranks/rank<r>.json: what this process trained on and a digest of its final parameters."""
        import hashlib
        digest = hashlib.sha256()
        for k, v in net.state_dict().items():
            digest.update(k.encode())
            digest.update(v.detach().cpu().contiguous().numpy().tobytes())
        out = self.output / "ranks"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{self.dist.rank}.json").write_text(json.dumps(
            {"rank": self.dist.rank, "world": self.dist.world, "step": step, "indices": seen,
             "param_sha256": digest.hexdigest()}))

    def _synced_elapsed(self, t0: float) -> float:
        """Seconds since the start of training; under torchrun the maximum over ranks, so every
        rank takes the same wall-time decisions (learning rate, stop)."""
        value = torch.tensor([time.time() - t0], dtype=torch.float64)
        if self.dist.world > 1:
            if self.device.type == "cuda":
                value = value.to(self.device)
            dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return float(value.item())

    def _should_stop(self, elapsed: float) -> bool:
        return bool(self.cfg.wall_time_s and elapsed > self.cfg.wall_time_s)


def _short_list(items: list[str], limit: int = 200) -> list[str] | str:
    """Provenance lists stay small: the items themselves up to ``limit``, else their count."""
    return items if len(items) <= limit else f"{len(items)} items"


class _RunLogger:
    """metrics.csv (appended on resume) and TensorBoard scalars, on rank 0 only."""

    def __init__(self, output: Path, enabled: bool, resume: bool):
        self.enabled = enabled
        self.writer = None
        self.fh = None
        if not enabled:
            return
        path = output / "metrics.csv"
        new = not (resume and path.exists())
        self.fh = open(path, "w" if new else "a", newline="")
        self.csv = csv.DictWriter(self.fh, fieldnames=CSV_FIELDS)
        if new:
            self.csv.writeheader()
        with contextlib.suppress(ImportError):
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(output / "tensorboard"))

    def row(self, row: dict) -> None:
        if not self.enabled:
            return
        self.csv.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.fh.flush()
        if self.writer:
            for k in ("loss", "cls", "reg", "acc", "lr", "pairs_per_s"):
                self.writer.add_scalar(f"train/{k}", row[k], row["step"])

    def scalar(self, name: str, value: float, step: int) -> None:
        if not self.enabled:
            return
        self.csv.writerow({"step": step, "val_auc": f"{value:.6g}"})
        self.fh.flush()
        if self.writer:
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        if self.fh:
            self.fh.close()
        if self.writer:
            self.writer.close()


__all__ = ["Trainer", "NonFiniteLoss", "StepBatchSampler", "validation_tracks"]

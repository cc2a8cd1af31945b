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
from dataclasses import dataclass, field
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

from .checkpoints import BEST, CheckpointManager, checkpoint_state, seed_rng, set_rng_state
from .config import INIT_KEYWORDS, OptimConfig, TrainConfig, config_to_dict
from .datasets import load_all
from .datasets.prepared import check_prepared_geometry
from .datasets.records import Track
from .export import export_weights, git_commit, tracking_params
from .init import initialise
from .loss import siamrpn_loss
from .pairs import PairDataset
from .schedule import Schedule
from .tune import config_grid, coordinate_search
from .validation import evaluate_tracker, validation_tracks

LOG = logging.getLogger("dasiamrpn_training")
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


@dataclass
class _Run:
    """What one training run carries from step to step (and into its checkpoints)."""

    net: SiamRPN | SiamRPNLite
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    tracks: list[Track]
    dataset: PairDataset
    code_commit: str | None
    last_ckpt: Path | None = None
    model: nn.Module | None = None        # ``net``, or its DistributedDataParallel wrapper
    start_step: int = 0
    step: int = 0
    best_auc: float = -math.inf
    history: list[dict] = field(default_factory=list)
    elapsed_before: float = 0.0
    t0: float = 0.0
    window_t: float = 0.0
    window_pairs: int = 0
    seen_indices: list[int] = field(default_factory=list)   # this rank's pairs (ranks/rank<r>.json)
    stop_reason: str = "max_steps"
    val_tracks: list[Track] = field(default_factory=list)
    logger: _RunLogger | None = None


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


def param_groups(net: SiamRPN | SiamRPNLite, optim: OptimConfig) -> list[dict]:
    """The optimiser's groups: the trainable parameters at the schedule's rate and, for a Lite net, its
    trainable trunk blocks at ``backbone_lr_factor`` times it. Frozen parameters are left out."""
    trunk = set(net.backbone.parameters()) if isinstance(net, SiamRPNLite) else set()
    params = [p for p in net.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p not in trunk], "lr_factor": 1.0}]
    tuned = [p for p in params if p in trunk]
    if tuned:
        groups.append({"params": tuned, "lr_factor": optim.backbone_lr_factor})
    return groups


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
        for spec in self.cfg.datasets:
            if spec.kind == "prepared":
                check_prepared_geometry(spec.root, self.cfg.sampling.template_size, self.cfg.sampling.context_amount)
        if self.dist.main:
            self._barrier()
        return tracks

    def _val_tracks(self) -> list[Track]:
        return validation_tracks(self.cfg, self.output / "cache")

    def _build_net(self, dataset: PairDataset) -> SiamRPN | SiamRPNLite:
        spec = ARCHITECTURES[self.cfg.arch]
        init = self.cfg.init
        if init in INIT_KEYWORDS:
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
        """Train from step 0 (or the newest checkpoint with ``resume``) to ``max_steps`` or the wall-time
        budget; validate and checkpoint on the way; export (rank 0). Returns a summary."""
        run = self._setup()
        if self.resume:
            self._resume(run)
        loader = self._loader(run)
        self._start_logging(run)
        if self.dist.main and self.cfg.validation.at_start and run.step == 0:
            self._validate(run)
        bar = tqdm(total=self.max_steps, initial=run.step, desc="train", unit="step", disable=not self.dist.main,
                   dynamic_ncols=True, mininterval=2.0)
        for batch in loader:
            parts = self._train_step(run, batch)
            elapsed = self._synced_elapsed(run.t0)
            if self.cfg.optim.decay_by_wall_time and self.cfg.wall_time_s:
                run.schedule.time_fraction = min(elapsed / self.cfg.wall_time_s, 1.0)
            lr = run.schedule.step()
            self._log_step(run, batch, parts, lr, elapsed, bar)
            self._periodic_checkpoint(run)
            if self._should_stop(elapsed):
                run.stop_reason = "wall_time"
                break
        bar.close()
        return self._finish(run)

    def _setup(self) -> _Run:
        cfg = self.cfg
        if self.dist.main:
            self.output.mkdir(parents=True, exist_ok=True)
        code_commit = git_commit()  # the code that runs, recorded before any later edit
        seed_rng(cfg.seed + self.dist.rank)
        tracks = self._tracks()
        dataset = PairDataset(tracks, cfg, (self.max_steps + 1) * cfg.batch_size * self.dist.world)
        # channels-last: oneDNN's (and cuDNN's) convolutions run faster on NHWC; on the 2-core CPU the
        # compact net trains at ~22 instead of ~20 pairs/s (forward + backward + SGD, batch 16 of real pairs)
        net = self._build_net(dataset).to(self.device, memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(param_groups(net, cfg.optim), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                    weight_decay=cfg.optim.weight_decay)
        return _Run(net=net, optimizer=optimizer, schedule=Schedule(optimizer, cfg.optim, self.max_steps),
                    scaler=torch.amp.GradScaler("cuda", enabled=self.amp), tracks=tracks, dataset=dataset,
                    code_commit=code_commit,
                    last_ckpt=self.ckpts.list()[-1][1] if self.ckpts.list() else None)

    def _resume(self, run: _Run) -> None:
        """Continue from the newest readable checkpoint (``checkpoint_state`` wrote it): model, optimiser,
        schedule (stretched to this run's ``max_steps``), AMP scaler, RNG states, step and history."""
        found = self.ckpts.latest()
        if found is None:
            LOG.warning("--resume: no checkpoint in %s; starting from step 0", self.ckpts.directory)
            return
        state, path = found
        run.net.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.schedule.load_state_dict(state["schedule"])
        run.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        run.start_step = run.step = int(state["step"])
        run.best_auc = float(state.get("best_auc", -math.inf))
        run.history = list(state.get("validation", []))
        run.elapsed_before = float(state.get("elapsed_s", 0.0))
        run.schedule.max_steps = self.max_steps
        run.schedule.apply()
        if self.dist.main:
            LOG.info("resumed from %s at step %d (%d pairs seen)", path, run.step, state["pairs"])

    def _loader(self, run: _Run) -> DataLoader:
        run.model = run.net
        if self.dist.world > 1:
            run.model = nn.parallel.DistributedDataParallel(
                run.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        sampler = StepBatchSampler(run.start_step, self.max_steps, self.cfg.batch_size, self.dist.rank,
                                   self.dist.world)
        # its own generator: starting an iterator draws a worker base seed, which from the global RNG
        # would make a resumed run's RNG state differ from an uninterrupted one's (the pairs themselves
        # are seeded by their index)
        return DataLoader(run.dataset, batch_sampler=sampler, num_workers=self.cfg.num_workers,
                          persistent_workers=False, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.cfg.seed + run.start_step))

    def _start_logging(self, run: _Run) -> None:
        cfg = self.cfg
        run.val_tracks = self._val_tracks() if self.dist.main else []
        run.logger = _RunLogger(self.output, self.dist.main, resume=run.start_step > 0)
        if self.dist.main:
            (self.output / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))
            LOG.info("training %s on %d tracks for steps %d..%d (batch %d x %d process(es)), device %s",
                     cfg.arch, len(run.tracks), run.start_step, self.max_steps, cfg.batch_size, self.dist.world,
                     self.device)
        run.t0 = time.time() - run.elapsed_before   # the wall-time budget spans resumed runs
        run.window_t = time.time()

    def _train_step(self, run: _Run, batch: dict):
        """One optimisation step on one batch; the loss parts (``NonFiniteLoss`` on NaN/Inf)."""
        run.model.train()
        frozen = self._apply_freeze(run.net, run.step)
        z, x = (batch[k].to(self.device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)
                for k in ("template", "search"))
        labels, deltas, weights = (batch[k].to(self.device) for k in ("labels", "deltas", "weights"))
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            delta, logits = run.model(z, x)
        parts = siamrpn_loss(delta, logits, labels, deltas, weights, run.net.spec.anchor_num, self.cfg.loss)
        if not torch.isfinite(parts.total):
            where = run.last_ckpt if run.last_ckpt is not None else "none written yet"
            raise NonFiniteLoss(
                f"non-finite loss ({float(parts.total)}: cls {float(parts.cls)}, reg {float(parts.reg)}) "
                f"at step {run.step}; stopping. Last good checkpoint: {where}")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(parts.total).backward()
        for p in frozen:
            p.grad = None
        if self.cfg.optim.grad_clip > 0:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(run.net.parameters(), self.cfg.optim.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.step += 1
        return parts

    def _log_step(self, run: _Run, batch: dict, parts, lr: float, elapsed: float, bar) -> None:
        cfg = self.cfg
        run.seen_indices.extend(int(i) for i in batch["index"])
        run.window_pairs += len(batch["index"]) * self.dist.world
        if self.dist.main and (run.step % cfg.log_every == 0 or run.step == self.max_steps):
            rate = run.window_pairs / max(time.time() - run.window_t, 1e-6)
            run.window_t, run.window_pairs = time.time(), 0
            row = {"step": run.step, "pairs": run.step * cfg.batch_size * self.dist.world, "lr": lr,
                   "loss": float(parts.total.detach()), "cls": float(parts.cls.detach()),
                   "reg": float(parts.reg.detach()), "acc": float(parts.accuracy), "pairs_per_s": rate,
                   "elapsed_s": elapsed}
            run.logger.row(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.2f}", pairs_s=f"{rate:.1f}")
        bar.update(1)

    def _periodic_checkpoint(self, run: _Run) -> None:
        cfg = self.cfg
        val_due = cfg.validation.every_steps and run.step % cfg.validation.every_steps == 0
        if run.step < self.max_steps and (val_due or run.step % cfg.checkpoint.every_steps == 0):
            self._checkpoint_and_track_best(run, run_validation=bool(val_due))

    # ------------------------------------------------------------------ checkpoints and validation
    def _checkpoint(self, run: _Run) -> Path | None:
        if not self.dist.main:
            return None
        state = checkpoint_state(run.net, run.optimizer, run.schedule, run.scaler, step=run.step,
                                 pairs=run.step * self.cfg.batch_size * self.dist.world, best_auc=run.best_auc,
                                 validation=run.history, config=config_to_dict(self.cfg),
                                 elapsed_s=time.time() - run.t0)
        run.last_ckpt = self.ckpts.save(state, run.step)
        return run.last_ckpt

    def _checkpoint_and_track_best(self, run: _Run, run_validation: bool) -> None:
        """Validate (if asked), write a checkpoint and mark it best when validation improved."""
        auc = self._validate(run) if run_validation else None
        improved = auc is not None and auc > run.best_auc
        if improved:
            run.best_auc = auc
        path = self._checkpoint(run)
        if improved and path is not None and self.cfg.checkpoint.keep_best:
            self.ckpts.mark_best(path)

    def _validate(self, run: _Run) -> float | None:
        if not self.dist.main or not run.val_tracks:
            return None
        v = self.cfg.validation
        res = evaluate_tracker(run.net, tracking_params(self.cfg.export.tracking, self.cfg.targets.anchors),
                               run.val_tracks, mode=v.mode, max_frames=v.max_frames)
        auc = res["mean_auc"]
        run.history.append({"step": run.step, "mean_auc": auc, "per_sequence": res["per_sequence"]})
        run.logger.scalar("val/success_auc", auc, run.step)
        LOG.info("step %d: validation success AUC %.3f on %d sequences", run.step, auc, len(run.val_tracks))
        return auc

    # ------------------------------------------------------------------ the end of a run
    def _finish(self, run: _Run) -> dict:
        if self.dist.world > 1:
            self._average_buffers(run.net)
        result = {"step": run.step, "stop_reason": run.stop_reason}
        if run.step > run.start_step or not self.ckpts.list():
            self._checkpoint_and_track_best(run, run_validation=True)
        if self.dist.world > 1:
            self._write_rank_summary(run.net, run.step, run.seen_indices)
        if self.dist.main:
            result["exported"] = self._export(run)
            result["validation"] = run.history
            LOG.info("finished at step %d (%s)", run.step, run.stop_reason)
        run.logger.close()
        if self.dist.world > 1:
            dist.barrier()
        return result

    def _export(self, run: _Run) -> dict:
        """The exported weights (the best-validated checkpoint's when ``export.use_best``), with the
        tracking parameters searched on held-out data when ``export.tune_grid`` is set."""
        cfg = self.cfg
        metadata = self._export_metadata(run)
        export_net = run.net
        best_file = self.ckpts.directory / BEST
        if cfg.export.use_best and best_file.is_file():
            best = torch.load(best_file, map_location="cpu", weights_only=True)
            export_net = build_network(run.net.spec)
            export_net.load_state_dict(best["model"])
            metadata["exported_step"] = int(best["step"])
            metadata["validation"] = next((h for h in run.history if h["step"] == best["step"]), None)
        else:
            metadata["exported_step"] = run.step
        params, tracker = tracking_params(cfg.export.tracking, cfg.targets.anchors), {}
        if cfg.export.tune_grid and run.val_tracks:
            tune_tracks = validation_tracks(cfg, self.output / "cache", cfg.export.tune_max_sequences)
            if export_net is run.net:
                export_net = copy.deepcopy(run.net)
            round_to_storage(export_net, cfg.export.storage_dtype)  # search on the network that ships
            params, tracker, search = coordinate_search(export_net, params, tune_tracks,
                                                        config_grid(cfg.export.tune_grid), cfg.export.tune_mode,
                                                        cfg.validation.max_frames)
            metadata["tracking_tuning"] = {"sequences": [t.name for t in tune_tracks], "mode": cfg.export.tune_mode,
                                           "best": max(search, key=lambda r: r["mean_auc"]), "evaluations": search}
        return export_weights(export_net, cfg.export, self.output, metadata, params, tracker)

    def _export_metadata(self, run: _Run) -> dict:
        cfg, tracks = self.cfg, run.tracks
        return {
            "config": config_to_dict(cfg), "config_file": self.config_path,
            "data": {"datasets": [s.label for s in cfg.datasets], "tracks": len(tracks),
                     "tracks_per_source": dict(Counter(t.source for t in tracks)),
                     "still_images": _short_list(sorted({t.frames[0] for t in tracks if t.still})),
                     "sampling": cfg.sampling.proportions, "skipped": run.dataset.skips.summary()},
            "step": run.step, "pairs_seen": run.step * cfg.batch_size * self.dist.world,
            "validation": run.history[-1] if run.history else None, "best_validation_auc": run.best_auc,
            "git_commit": run.code_commit, "stop_reason": run.stop_reason,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

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


__all__ = ["Trainer", "NonFiniteLoss", "StepBatchSampler"]

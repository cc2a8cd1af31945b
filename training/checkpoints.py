"""Resumable training checkpoints: atomic writes, keep-last-K, best by validation."""
from __future__ import annotations

import logging
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from dasiamrpn_core.checkpoint import atomic_torch_save

LOG = logging.getLogger("dasiamrpn_training")
PATTERN = re.compile(r"^step_(\d{8})\.pt$")
BEST = "best.pt"


def seed_rng(seed: int) -> None:
    """Seed the global torch, numpy and Python RNGs (a run starts from these, a resumed run then
    restores the checkpoint's states: both reach the same states)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": _python_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _python_state() -> dict:
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_state(net, optimizer, schedule, scaler, **run) -> dict:
    """A resumable training checkpoint: model, optimiser, schedule and AMP scaler states, every RNG
    state, and the run's own values (``step``, ``pairs``, ``best_auc``, ``validation``, ``config``,
    ``elapsed_s``); ``Trainer._resume`` reads it back."""
    return {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "scaler": scaler.state_dict(), "rng": rng_state(), **run}


class CheckpointManager:
    def __init__(self, directory: Path, keep_last: int):
        self.directory = Path(directory)
        self.keep_last = max(int(keep_last), 1)

    def path_for(self, step: int) -> Path:
        return self.directory / f"step_{step:08d}.pt"

    def list(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = PATTERN.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def save(self, state: dict, step: int) -> Path:
        path = self.path_for(step)
        atomic_torch_save(state, path)
        for _, old in self.list()[:-self.keep_last]:
            old.unlink(missing_ok=True)
        return path

    def mark_best(self, path: Path) -> Path:
        best = self.directory / BEST
        tmp = self.directory / f".{BEST}.tmp"
        shutil.copyfile(path, tmp)
        tmp.replace(best)
        return best

    def latest(self) -> tuple[dict, Path] | None:
        """The newest readable checkpoint (a corrupt one is reported and the previous used)."""
        for _, path in reversed(self.list()):
            try:
                return torch.load(path, map_location="cpu", weights_only=True), path
            except Exception as exc:  # noqa: BLE001 - any unreadable file: fall back to the previous one
                LOG.warning("checkpoint %s is unreadable (%s); trying the previous one", path, exc)
        return None

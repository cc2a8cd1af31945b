"""Learning-rate schedule: linear warm-up, then log-linear decay to ``final_lr`` at ``max_steps``."""
from __future__ import annotations

import math

from .config import OptimConfig


def learning_rate(step: int, cfg: OptimConfig, max_steps: int, time_fraction: float = 0.0) -> float:
    """Warm-up over ``warmup_steps``, then log-linear decay; ``time_fraction`` (elapsed / budget,
    used with ``decay_by_wall_time``) can only advance the decay."""
    if step < cfg.warmup_steps:
        t = step / max(cfg.warmup_steps, 1)
        return cfg.warmup_start_lr + t * (cfg.lr - cfg.warmup_start_lr)
    span = max(max_steps - cfg.warmup_steps, 1)
    t = min(max((step - cfg.warmup_steps) / span, time_fraction), 1.0)
    return math.exp(math.log(cfg.lr) + t * (math.log(cfg.final_lr) - math.log(cfg.lr)))


class Schedule:
    """Stateless apart from the step (so it resumes from the step alone); ``state_dict`` for symmetry.
    A parameter group's ``lr_factor`` (the fine-tuned trunk blocks') scales the schedule's rate."""

    def __init__(self, optimizer, cfg: OptimConfig, max_steps: int):
        self.optimizer, self.cfg, self.max_steps = optimizer, cfg, max_steps
        self.step_count = 0
        self.time_fraction = 0.0
        self.apply()

    def apply(self) -> float:
        lr = learning_rate(self.step_count, self.cfg, self.max_steps, self.time_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_factor", 1.0)
        return lr

    def step(self) -> float:
        self.step_count += 1
        return self.apply()

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "time_fraction": self.time_fraction}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.time_fraction = float(state.get("time_fraction", 0.0))
        self.apply()

"""Reference trackers for testing the evaluation itself (no network)."""
from __future__ import annotations

from ..tracker import TrackResult


class IdentityTracker:
    """Reports the initial box on every frame (got10k's ``IdentityTracker``), score 1."""

    name = "identity"

    def __init__(self) -> None:
        self.box: tuple[float, float, float, float] | None = None

    def init(self, image, box) -> None:
        self.box = tuple(float(v) for v in box)

    def track(self, image) -> TrackResult:
        if self.box is None:
            raise ValueError("track() called before init()")
        return TrackResult(self.box, 1.0)

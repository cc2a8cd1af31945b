"""Faults injected from outside the node, for its tests (never set on a robot).

Real faults that a robot meets (CUDA out of memory inside ``init``, an ``ImportError`` from a
system cv_bridge built against another numpy, a model file on a slow disk) cannot be caused on
demand, so the node calls :meth:`Faults.at` at the few places where they happen. The faults are
read from the JSON file named by ``DASIAMRPN_ROS_FAULTS_FILE`` at each call (a test rewrites it
while the node runs); without that variable every call is a no-op.

File contents, e.g. ``{"init": "RuntimeError", "load_delay_s": 5}``:
  ``<point>``: the name of a built-in exception class raised there (``RuntimeError``, ``ImportError``, ...);
  ``<point>_delay_s``: seconds to sleep there (a slow model load or tracking step).
Points: ``load`` (model reload), ``init`` (tracker.init), ``track`` (tracker.track), ``stop`` (~/stop).
"""
from __future__ import annotations

import builtins
import json
import os
import time
from pathlib import Path

ENV = "DASIAMRPN_ROS_FAULTS_FILE"
POINTS = ("load", "init", "track", "stop")


class Faults:
    def __init__(self, path: str | None = None):
        path = os.environ.get(ENV) if path is None else path
        self.path = Path(path) if path else None

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return {}

    def at(self, point: str) -> None:
        """Sleep and/or raise as the faults file says for ``point`` (no-op without the variable)."""
        if self.path is None:
            return
        if point not in POINTS:
            raise ValueError(f"unknown fault point {point!r}; expected one of {POINTS}")
        faults = self._read()
        delay = float(faults.get(f"{point}_delay_s", 0.0))
        if delay > 0:
            time.sleep(delay)
        name = faults.get(point)
        if name:
            kind = getattr(builtins, name)
            raise kind(f"fault injected at {point} ({ENV})")

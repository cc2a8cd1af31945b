"""DaSiamRPN tracker core (PyTorch, no ROS): networks, checkpoints, trackers, evaluation."""
from .api import COMPACT_CHECKPOINT, DEFAULT_CHECKPOINT, LITE_CHECKPOINT, default_checkpoint, describe, load_tracker
from .checkpoint import CheckpointError
from .runtime import BACKENDS, ExportError
from .config import MODES, TrackerConfig
from .multi import MultiTracker
from .tracker import TrackResult

__all__ = ["load_tracker", "MultiTracker", "TrackResult", "TrackerConfig", "CheckpointError", "MODES",
           "DEFAULT_CHECKPOINT", "LITE_CHECKPOINT", "COMPACT_CHECKPOINT", "default_checkpoint", "describe", "BACKENDS", "ExportError"]

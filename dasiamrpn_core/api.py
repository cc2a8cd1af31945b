"""``load_tracker``: the one entry point from a checkpoint file to a ready tracker."""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from .checkpoint import (COMPACT_CHECKPOINT, DEFAULT_CHECKPOINT, LITE_CHECKPOINT, CheckpointError, LoadedCheckpoint,  # noqa: F401
                         default_checkpoint, load_checkpoint, tracker_defaults)
from .config import MODES, TrackerConfig, siamrpn_params_from_dict
from .runtime import CACHE_ENV, ExportError, cache_dir, export_for, load_exported_net, read_manifest, resolve_backend
from .tracker import TRACKERS, SiamRPNTracker, resolve_device

log = logging.getLogger(__name__)


def load_tracker(checkpoint: str | os.PathLike | None = None, *, device: str | torch.device = "auto",
                 mode: str = "dasiamrpn", preset: str | None = None, half: bool = False,
                 backend: str = "torch", threads: int = 0, **overrides) -> SiamRPNTracker:
    """Build a tracker from a checkpoint.

    checkpoint: official DaSiamRPN ``*.model`` (bare state dict), a project checkpoint, or an export
        directory of ``dasiamrpn-export``; ``None`` loads the bundled default model.
    device: "auto" (CUDA when available), "cpu" or "cuda[:N]".
    backend: "torch" (PyTorch), "onnxruntime" or "openvino" (CPU; a checkpoint file is exported
        once into ~/.cache/dasiamrpn, or $DASIAMRPN_CACHE), or "auto" (the fastest installed for the
        device; ``describe()`` says which). ``threads``: the runtime's threads (0: torch's setting).
    mode: "siamrpn" (vanilla, numerically the original), "dasiamrpn" (distractor-aware) or
        "longterm" (distractor-aware with the local-to-global search).
    preset: for official files, the tracking preset "big" | "vot" | "otb" (default from the file).
    half: 16-bit inference: float16 on CUDA; bfloat16 on CPUs with native bfloat16 (AVX512-BF16, AMX)
        on the torch and openvino backends (about 2x faster here, boxes within a pixel or two);
        ignored (float32) elsewhere and on onnxruntime. ``describe()["precision"]`` says which ran.
    overrides: any tracking parameter by name, e.g. ``window_influence=0.4``, ``alpha_hat=0.3``; they
        take precedence over the values the file stores (its ``tracking`` and ``tracker`` sections).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    path = default_checkpoint() if checkpoint is None else Path(checkpoint)
    is_export = path.is_dir()
    loaded = None if is_export else load_checkpoint(path, preset=preset)
    manifest = read_manifest(path) if is_export else None   # checked once: the graphs' sha256 read here
    family = manifest["arch"].get("family", "alexnet") if is_export else loaded.net.spec.family
    requested = backend
    backend = resolve_backend("auto" if is_export and backend == "torch" else backend, resolve_device(device),
                              family)
    if is_export and backend == "torch":
        raise ExportError(f"{path} is an export, which runs on onnxruntime or openvino: neither is installed "
                          f"(pip install onnxruntime openvino), or load its checkpoint file with backend='torch'")
    directory = path if is_export else None
    if backend != "torch" and directory is None:
        try:
            directory = export_for(path, preset)
        except OSError as exc:
            if requested != "auto":
                raise ExportError(f"cannot write the ONNX export of {path} for backend {backend!r} into {cache_dir()} "
                                  f"({exc}); set ${CACHE_ENV} to a writable folder, or use backend='torch'") from exc
            log.warning("backend auto: cannot write the ONNX export of %s into %s (%s); running on torch instead "
                        "(set $%s to a writable folder)", path, cache_dir(), exc, CACHE_ENV)
            backend = "torch"
    if backend == "torch":
        net = loaded.net
    else:
        net = load_exported_net(directory, backend, threads, manifest, half=half)
        manifest = net.manifest
        loaded = LoadedCheckpoint(None, siamrpn_params_from_dict(manifest["tracking"]), "export",
                                  manifest["checkpoint"].get("preset"), {"export": str(directory)}, str(path),
                                  tracker_defaults(manifest.get("tracker"), str(directory)))
    config = TrackerConfig(mode=mode, siamrpn=loaded.params).with_overrides(**{**loaded.tracker, **overrides})
    # an exported net computes in its runtime's precision (``net.precision``); the tracker feeds it float32
    tracker = TRACKERS[mode](net, config, device=device, half=half and backend == "torch")
    tracker.backend = backend
    # provenance only: the training-form network is not kept alive beside the inference form
    tracker.checkpoint = dataclasses.replace(loaded, net=None)
    return tracker


def describe(tracker: SiamRPNTracker) -> dict:
    """A small JSON-able description (model, mode, device) for logs and diagnostics."""
    loaded = getattr(tracker, "checkpoint", None)
    return {"mode": tracker.mode, "device": str(tracker.device), "backend": getattr(tracker, "backend", "torch"),
            "precision": tracker.precision,
            "arch": tracker.net.spec.name, "checkpoint": getattr(loaded, "path", None),
            "params": dataclasses.asdict(tracker.params)}

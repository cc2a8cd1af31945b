"""Export a trained network to ``<output>/weights/``: the project format (with provenance) and, for
the original architectures, the original DaSiamRPN ``*.model`` format."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from pathlib import Path

from dasiamrpn_core.checkpoint import save_checkpoint, save_official
from dasiamrpn_core.anchors import AnchorConfig
from dasiamrpn_core.config import PRESETS, SiamRPNParams
from dasiamrpn_core.models import SiamRPN

from .config import ExportConfig, TrackingExport

LOG = logging.getLogger("dasiamrpn_training")
ORIGINAL_ARCHS = ("SiamRPNBIG", "SiamRPNvot", "SiamRPNotb")


def tracking_params(cfg: TrackingExport, anchors: AnchorConfig | None = None) -> SiamRPNParams:
    """The exported tracking parameters: a preset, its overrides, and the anchors the net was trained
    with (``anchors``: the training config's ``targets.anchors``, so the two can never disagree)."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"export.tracking.preset {cfg.preset!r} unknown; expected one of {sorted(PRESETS)}")
    params = PRESETS[cfg.preset]
    known = {f.name for f in dataclasses.fields(SiamRPNParams)}
    unknown = set(cfg.overrides) - known
    if unknown:
        raise ValueError(f"export.tracking.overrides: unknown tracking parameter(s) {sorted(unknown)}")
    params = dataclasses.replace(params, **cfg.overrides)
    return params if anchors is None else dataclasses.replace(params, anchors=anchors)


def git_commit(cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=cwd or Path(__file__).resolve().parent)
        commit = out.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training", "dasiamrpn_core"],
                               capture_output=True, text=True, timeout=10,
                               cwd=cwd or Path(__file__).resolve().parent).stdout.strip()
        return commit + ("+dirty" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def export_weights(net: SiamRPN, cfg: ExportConfig, output_dir: Path, metadata: dict,
                   params: SiamRPNParams | None = None, tracker: dict | None = None) -> dict[str, str]:
    """Write the checkpoint(s); returns {"project": path, ["official": path], ["copy": path]}.
    ``tracker``: distractor/long-term values searched for this network, stored in the project file."""
    params = params or tracking_params(cfg.tracking)
    directory = Path(output_dir) / cfg.directory
    stem = cfg.name or net.spec.name
    written = {"project": str(save_checkpoint(directory / f"{stem}.pth", net, params, metadata,
                                              storage_dtype=cfg.storage_dtype, tracker=tracker))}
    if cfg.official and net.spec.name in ORIGINAL_ARCHS:
        written["official"] = str(save_official(directory / f"{stem}.model", net))
    if cfg.copy_to:
        dest = Path(cfg.copy_to)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(written["project"], tmp)
        tmp.replace(dest)
        written["copy"] = str(dest)
    for kind, path in written.items():
        LOG.info("exported %s checkpoint: %s", kind, path)
    return written

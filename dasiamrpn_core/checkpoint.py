"""Loading and saving SiamRPN checkpoints, with errors that name the problem.

Two formats are recognised:

* **official** DaSiamRPN files: a bare state dict (``SiamRPNBIG.model``, ``SiamRPNVOT.model``,
  ``SiamRPNOTB.model``). BIG and vot/otb differ in tensor shapes; vot and otb have identical
  shapes, so their tracking preset follows the file name (override with ``preset=``).
* **project** files: ``{"format": FORMAT, "arch": ArchSpec dict, "state_dict": ...,
  "tracking": SiamRPNParams dict, "metadata": provenance dict}``, optionally ``"tracker"``: the file's
  own values of distractor-aware and long-term parameters (``DistractorParams`` / ``LongTermParams``
  names), searched for that network; ``load_tracker`` applies them before a caller's overrides.

Everything is read with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import PRESETS, SiamRPNParams, TrackerConfig, siamrpn_params_from_dict, siamrpn_params_to_dict
from .models import ARCHITECTURES, ArchSpec, SiamRPN, SiamRPNLite, build_network, spec_from_dict

FORMAT = "dasiamrpn_ros/checkpoint/v1"
MAX_LISTED = 5


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message says why."""


WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# the EfficientNet-Lite0 model (ImageNet trunk, issue 13) is the default; the AlexNet trained from
# scratch stays as the second choice (the model card says why: the held-out data cannot tell the two
# apart, and the Lite0 net runs 1.8x faster on OpenVINO than either in PyTorch)
LITE_CHECKPOINT = WEIGHTS_DIR / "siamrpn_lite0.pth"
COMPACT_CHECKPOINT = WEIGHTS_DIR / "siamrpn_compact.pth"
DEFAULT_CHECKPOINT = LITE_CHECKPOINT


def default_checkpoint() -> Path:
    """The bundled model; a clear error if this installation has none."""
    if not DEFAULT_CHECKPOINT.exists():
        raise CheckpointError(
            f"no bundled default model at {DEFAULT_CHECKPOINT}; pass a checkpoint path explicitly "
            f"(an official DaSiamRPN *.model file or a project checkpoint from dasiamrpn-train)")
    return DEFAULT_CHECKPOINT


@dataclass(frozen=True)
class LoadedCheckpoint:
    net: SiamRPN | SiamRPNLite
    params: SiamRPNParams
    kind: str            # "official", "project" or "export" (dasiamrpn_core.runtime)
    preset: str | None   # official preset used, if any
    metadata: dict
    path: str
    # the file's values of distractor/long-term parameters (by name), applied before a caller's overrides
    tracker: dict = field(default_factory=dict)


def tracker_defaults(values, where: str) -> dict:
    """A checkpoint's (or export's) ``tracker`` section, checked: a dict of distractor-aware and
    long-term parameter names (SiamRPN ones belong in ``tracking``) with values of their types."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise CheckpointError(f"the tracker section is a {type(values).__name__}, not a dict: {where}")
    siamrpn = {f.name for f in dataclasses.fields(SiamRPNParams)} & set(values)
    if siamrpn:
        raise CheckpointError(f"tracker section names SiamRPN parameters {sorted(siamrpn)} (they belong in "
                              f"'tracking'): {where}")
    defaults = TrackerConfig()
    try:
        defaults.with_overrides(**values)
    except TypeError as exc:
        raise CheckpointError(f"tracker section: {exc}: {where}") from exc
    wrong = [k for k, v in values.items() if not _same_kind(v, defaults.value(k))]
    if wrong:
        raise CheckpointError(f"tracker section values of the wrong type {wrong}: {where}")
    return dict(values)


def _same_kind(value, default) -> bool:
    """``value`` may stand for ``default``: the same type, or an int (not a bool) for a float."""
    if isinstance(default, float) and not isinstance(value, bool):
        return isinstance(value, (int, float))
    return type(value) is type(default)


def _read(path: Path):
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path is a directory: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint is empty (0 bytes): {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"checkpoint is truncated or corrupt ({exc}): {path}") from exc
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" in msg:
            raise CheckpointError(
                f"checkpoint contains objects other than tensors and plain data; refusing to unpickle "
                f"it (weights_only=True): {path}") from exc
        raise CheckpointError(f"not a PyTorch checkpoint ({msg.splitlines()[0]}): {path}") from exc
    except Exception as exc:  # torch raises assorted types for arbitrary bytes
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"not a readable PyTorch checkpoint ({first}): {path}") from exc


def _infer_official_arch(state: dict, path: Path) -> ArchSpec:
    w0 = state.get("featureExtract.0.weight")
    r2 = state.get("conv_r2.weight")
    if w0 is None or r2 is None:
        raise CheckpointError(
            f"unknown architecture: no 'featureExtract.0.weight'/'conv_r2.weight' in {path} "
            f"(first keys: {list(state)[:MAX_LISTED]})")
    for spec in ARCHITECTURES.values():
        if not isinstance(spec, ArchSpec):
            continue
        ch = spec.channels
        if tuple(w0.shape) == (ch[1], 3, 11, 11) and r2.shape[0] == spec.feature_out:
            return spec
    raise CheckpointError(
        f"unknown architecture in {path}: first conv {tuple(w0.shape)}, conv_r2 {tuple(r2.shape)}")


def _official_preset(spec: ArchSpec, path: Path, preset: str | None) -> str:
    if preset is not None:
        if preset not in PRESETS:
            raise CheckpointError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        return preset
    if spec.name == "SiamRPNBIG":
        return "big"
    name = path.name.lower()
    if "otb" in name:
        return "otb"
    return "vot"


def _check_state(state: dict, net: SiamRPN | SiamRPNLite, path: Path) -> None:
    expected = net.state_dict()
    expected = {k: v for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    got = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint keys do not match {net.spec.name} in {path}: missing {missing[:MAX_LISTED]}"
            f"{' ...' if len(missing) > MAX_LISTED else ''}, unexpected {unexpected[:MAX_LISTED]}"
            f"{' ...' if len(unexpected) > MAX_LISTED else ''}")
    bad_shape = [f"{k}: {tuple(got[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if tuple(got[k].shape) != tuple(v.shape)]
    if bad_shape:
        raise CheckpointError(f"checkpoint shapes do not match {net.spec.name} in {path}: "
                              f"{bad_shape[:MAX_LISTED]}")
    non_finite = [k for k, v in got.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if non_finite:
        raise CheckpointError(f"checkpoint has NaN/Inf values in {non_finite[:MAX_LISTED]}: {path}")


def load_checkpoint(path: str | os.PathLike, preset: str | None = None) -> LoadedCheckpoint:
    """Read a checkpoint of either format and build the network (on the CPU, eval mode)."""
    path = Path(path)
    obj = _read(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint holds a {type(obj).__name__}, not a state dict: {path}")
    if obj.get("format") == FORMAT:
        try:
            spec = spec_from_dict(obj["arch"])
            params = siamrpn_params_from_dict(obj["tracking"])
            state = obj["state_dict"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed project checkpoint ({exc!r}): {path}") from exc
        if preset is not None:
            params = _preset_params(preset, path)
        kind, metadata = "project", dict(obj.get("metadata", {}))
        tracker = tracker_defaults(obj.get("tracker"), str(path))
    elif "format" in obj or "state_dict" in obj:
        raise CheckpointError(
            f"unknown checkpoint format {obj.get('format')!r} in {path} (expected {FORMAT!r} or an "
            f"official DaSiamRPN state dict)")
    else:
        if not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"not a SiamRPN state dict (non-tensor values): {path}")
        state = obj
        spec = _infer_official_arch(state, path)
        preset = _official_preset(spec, path, preset)
        params = PRESETS[preset]
        kind, metadata = "official", {"source": str(path.name)}
        tracker = {}
    net = build_network(spec)
    _check_state(state, net, path)
    net.load_state_dict(state, strict=False)  # strictness checked above (num_batches_tracked optional)
    net.eval()
    return LoadedCheckpoint(net, params, kind, preset, metadata, str(path), tracker)


def _preset_params(preset: str, path: Path) -> SiamRPNParams:
    if preset not in PRESETS:
        raise CheckpointError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}: {path}")
    return PRESETS[preset]


STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def save_checkpoint(path: str | os.PathLike, net: SiamRPN | SiamRPNLite, params: SiamRPNParams, metadata: dict,
                    storage_dtype: str = "float32", tracker: dict | None = None) -> Path:
    """Write a project-format checkpoint atomically (temporary file, then rename).

    ``storage_dtype="float16"`` halves the file (for a bundled model); loading always gives
    float32 parameters. ``tracker``: the file's own distractor/long-term parameter values.
    """
    tracker = tracker_defaults(tracker, str(path))
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage_dtype must be one of {sorted(STORAGE_DTYPES)}, got {storage_dtype!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = STORAGE_DTYPES[storage_dtype]
    state = {k: (v.detach().cpu().to(dtype) if v.is_floating_point() else v.detach().cpu()).clone()
             for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    payload = {"format": FORMAT, "arch": net.spec.to_dict(), "state_dict": state,
               "tracking": siamrpn_params_to_dict(params), "metadata": metadata}
    if tracker:
        payload["tracker"] = tracker
    atomic_torch_save(payload, path)
    return path


@torch.no_grad()
def round_to_storage(net: SiamRPN | SiamRPNLite, storage_dtype: str) -> SiamRPN | SiamRPNLite:
    """Round ``net``'s floating-point parameters and buffers in place through ``storage_dtype``: the
    network exactly as ``save_checkpoint`` will store and ``load_checkpoint`` give it back (to tune
    tracking parameters on what ships; float16 rounding alone moved a held-out AUC by 0.03)."""
    if storage_dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage_dtype must be one of {sorted(STORAGE_DTYPES)}, got {storage_dtype!r}")
    dtype = STORAGE_DTYPES[storage_dtype]
    for tensor in list(net.parameters()) + list(net.buffers()):
        if tensor.is_floating_point():
            tensor.copy_(tensor.to(dtype).to(tensor.dtype))
    return net


def save_official(path: str | os.PathLike, net: SiamRPN) -> Path:
    """Write a bare state dict in the original DaSiamRPN ``*.model`` form."""
    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    atomic_torch_save(state, path)
    return path


def atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

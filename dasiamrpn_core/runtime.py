"""Inference backends: the exported graphs (``dasiamrpn_core.export``) on ONNX Runtime or OpenVINO.

A backend net implements the two calls the tracker makes (``models.TemplateSearch``): ``template``
at ``init`` and ``search`` on every frame, with torch tensors in and out, so every mode
(``siamrpn``, ``dasiamrpn``, ``longterm``) runs unchanged on it. ``torch`` is the PyTorch inference
net itself. ONNX Runtime and OpenVINO are optional dependencies (``make setup`` installs both);
``backend="auto"`` takes the fastest one installed for the device (see ``AUTO_ORDER``).

Bad input is an :class:`ExportError` that names the file and the problem: a directory that is no
export, a graph whose sha256 is not the manifest's (a graph of another export), a format or opset
the runtime does not know, a backend that is not installed.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from .export import BATCH_SIZES, FORMAT, FORMAT_VERSION, MANIFEST, batch_graph, export_onnx
from .files import sha256_file
from .models import LITE_FAMILIES, spec_from_dict, stack_kernels

BACKENDS = ("torch", "onnxruntime", "openvino")
# fastest first per (device, network family), measured interleaved on a 2-core x86 CPU
# (docs/backends.md): the depth-wise EfficientNet-Lite trunk runs 2.3x faster on OpenVINO than in
# PyTorch (ONNX Runtime 1.7x); the dense AlexNet runs equally fast on all three, PyTorch needs no export
AUTO_ORDER = {**{("cpu", family): ("openvino", "onnxruntime", "torch") for family in LITE_FAMILIES},
              ("cpu", "alexnet"): ("torch",)}
CACHE_ENV = "DASIAMRPN_CACHE"


class ExportError(ValueError):
    """An export cannot be used: the message names the file and the problem."""


def installed(backend: str) -> bool:
    if backend == "torch":
        return True
    return importlib.util.find_spec(backend) is not None


def resolve_backend(backend: str, device: torch.device, family: str = "efficientnet_lite0") -> str:
    """``auto`` -> the fastest installed backend for the device and network family; others are
    checked as given."""
    if backend == "auto":
        return next(b for b in AUTO_ORDER.get((device.type, family), ("torch",)) if installed(b))
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS} or 'auto'")
    if not installed(backend):
        raise ExportError(f"backend {backend!r} is not installed: pip install {backend} (the pinned version "
                          f"is in requirements.txt)")
    if backend != "torch" and device.type != "cpu":
        raise ExportError(f"backend {backend!r} runs on the CPU here; use device='cpu' (or backend='torch' "
                          f"on {device})")
    return backend


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dasiamrpn") / "exports"


def export_for(checkpoint: Path, preset: str | None) -> Path:
    """The ONNX export of a checkpoint: made once into the cache (keyed by the file's sha256).

    Made in a private folder and renamed into place, so two processes starting at once (a stereo
    pair of tracker nodes) never read each other's half-written graphs: the first rename wins, the
    other process uses that export and drops its own. An unwritable cache is an OSError."""
    key = f"{sha256_file(checkpoint)[:16]}_{preset or 'default'}_torch{torch.__version__}_batch{max(BATCH_SIZES)}"
    out = cache_dir() / key
    if not (out / MANIFEST).exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=out.parent))
        try:
            export_onnx(checkpoint, private, preset=preset)
            if out.exists() and not (out / MANIFEST).exists():
                shutil.rmtree(out)   # a partial export of a crashed run (exports only ever appear whole)
            try:
                private.rename(out)
            except OSError:
                if not (out / MANIFEST).exists():   # not another process's finished export: a real error
                    raise
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return out


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise ExportError(f"{directory} is not an export: no {MANIFEST} (make one with dasiamrpn-export)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(f"{path}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}, "
                          f"expected {FORMAT!r} version {FORMAT_VERSION}")
    for name, graph in manifest["graphs"].items():
        file = Path(directory) / graph["file"]
        if not file.exists():
            raise ExportError(f"{file}: the {name} graph of this export is missing")
        if sha256_file(file) != graph["sha256"]:
            raise ExportError(f"{file}: its sha256 is not the one in {path} (a graph of another export, or "
                              f"a damaged file); export again with dasiamrpn-export")
    return manifest


class ExportedNet:
    """The exported graph pair on a runtime; torch tensors in and out (``TemplateSearch``)."""

    backend = "?"

    precision = "float32"   # what the runtime computes in (``half``: see each runtime)

    def __init__(self, directory: Path, threads: int = 0, manifest: dict | None = None, half: bool = False):
        """``manifest``: the directory's, already read and checked by :func:`read_manifest`. ``half``:
        16-bit inference where the runtime has a fast path for it on this CPU (else float32)."""
        self.directory = Path(directory)
        self.half = half
        self.manifest = manifest if manifest is not None else read_manifest(self.directory)
        self.spec = spec_from_dict(self.manifest["arch"])
        self.threads = threads or torch.get_num_threads()
        self._traced = int(self.manifest["traced_instance_size"])
        self._modulus = int(self.manifest["size_modulus"])
        graphs = self.manifest["graphs"]
        self._template = self._load(self.directory / graphs["template"]["file"])
        self._search = self._load(self.directory / graphs["search"]["file"])
        # the batched search graphs (several targets), loaded on first use; an export made before
        # they existed has none: its targets then run one call each
        self.batch_sizes = tuple(sorted(b for b in self.manifest.get("batch_sizes", ()) if batch_graph(b) in graphs))
        self._batched: dict[int, object] = {}

    # -- the interface the tracker uses --------------------------------------------------------
    def inference(self) -> ExportedNet:
        return self

    def to(self, device, dtype=None) -> ExportedNet:
        return self

    @contextlib.contextmanager
    def host_ops(self):
        """The tracker's own torch operations run on one thread next to a runtime: with torch's pool
        of N threads, its workers spin after each small op and take the cores the runtime's pool is
        computing on (measured, 2 cores, 640x480 demo frames: the lite net's ``track`` 6.2 -> 3.7 ms on
        OpenVINO, the compact net's 14.6 -> 10.1 ms; PyTorch's own 7.5 / 9.7 ms)."""
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def template(self, z: torch.Tensor):
        z_f, k0, k1 = self._run(self._template, {"z": _array(z)})
        return torch.from_numpy(z_f), (torch.from_numpy(k0), torch.from_numpy(k1))

    def search(self, x: torch.Tensor, kernels):
        self._check_size(x.shape[-1])
        feeds = {"x": _array(x), "kernel0": _array(kernels[0]), "kernel1": _array(kernels[1])}
        return tuple(torch.from_numpy(a) for a in self._run(self._search, feeds))

    stack_kernels = staticmethod(stack_kernels)

    def search_batch(self, x: torch.Tensor, kernels):
        """B targets' crops and stacked kernels (``TemplateSearch.search_batch``): each chunk of at most
        the largest exported batch size in one call of the smallest graph that holds it (padded by
        repeating its last crop; those outputs are dropped); one target: the single search graph."""
        outputs, start, n = [], 0, x.shape[0]
        while start < n:
            rest = n - start
            batch = next((b for b in self.batch_sizes if b >= rest), max(self.batch_sizes, default=1))
            take = min(batch, rest)
            xs, ks = x[start:start + take], [k[start:start + take] for k in kernels]
            if take == 1 or not self.batch_sizes:
                outputs += [self.search(xs[i:i + 1], tuple(k[i] for k in ks)) for i in range(take)]
            else:
                pad = list(range(take)) + [take - 1] * (batch - take)
                xs, ks = xs[pad], [k[pad] for k in ks]
                self._check_size(xs.shape[-1])
                if batch not in self._batched:
                    self._batched[batch] = self._load(self.directory / self.manifest["graphs"][batch_graph(batch)]["file"])
                feeds = {"x": _array(xs), "kernel0": _array(ks[0]), "kernel1": _array(ks[1])}
                outputs.append(tuple(torch.from_numpy(a[:take]) for a in self._run(self._batched[batch], feeds)))
            start += take
        return tuple(torch.cat(parts) for parts in zip(*outputs))

    def _check_size(self, size: int) -> None:
        if (size - self._traced) % self._modulus:
            raise ExportError(f"{self.directory}: search crop of {size} px, but this export runs crops of "
                              f"{self._traced} + k * {self._modulus} px only (the trunk's padding is traced)")

    # -- per runtime ---------------------------------------------------------------------------
    def _load(self, path: Path):
        raise NotImplementedError

    def _run(self, session, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


class OnnxRuntimeNet(ExportedNet):
    """ONNX Runtime's CPU provider has no bfloat16 convolutions: ``half`` is ignored (float32)."""

    backend = "onnxruntime"

    def _load(self, path: Path):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: the tracker's own torch ops (softmax, ROI align) share the
        # cores with this pool; spinning cost 20-25 % per frame here
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # the runtime's own errors (opset, graph) name neither file nor cause clearly
            raise ExportError(f"{path}: ONNX Runtime {ort.__version__} cannot load it: {exc}") from exc

    def _run(self, session, feeds):
        return session.run(None, feeds)


class OpenVinoNet(ExportedNet):
    """OpenVINO compiles a graph per input shape (a static shape runs 1.2-1.4x faster than the
    dynamic one here): one compiled model per search crop size, made on first use. ``half``:
    bfloat16 on CPUs whose OpenVINO plugin lists BF16 (AVX512-BF16, AMX), else float32."""

    backend = "openvino"

    def _load(self, path: Path):
        import openvino as ov
        core = ov.Core()
        if self.half and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            self.precision = "bfloat16"
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # the runtime's own errors name neither file nor cause clearly
            raise ExportError(f"{path}: OpenVINO {ov.__version__} cannot load it: {exc}") from exc
        return {"core": core, "model": model, "path": path, "compiled": {}}

    def _run(self, session, feeds):
        key = tuple((name, a.shape) for name, a in sorted(feeds.items()))
        if key not in session["compiled"]:
            import openvino as ov
            model = session["model"].clone()
            try:
                model.reshape({name: list(shape) for name, shape in key})
                compiled = session["core"].compile_model(model, "CPU", {
                    "INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY",
                    # float32 unless half: on CPUs with bf16 instructions (AVX512-BF16, AMX) OpenVINO
                    # would otherwise compute in bfloat16 and the boxes leave the torch backend's by px
                    "INFERENCE_PRECISION_HINT": OV_PRECISION[self.precision]})
            except Exception as exc:
                raise ExportError(f"{session['path']}: OpenVINO {ov.__version__} cannot compile it for "
                                  f"{dict(key)}: {exc}") from exc
            session["compiled"][key] = (compiled.create_infer_request(), [o.get_any_name() for o in compiled.outputs])
        request, names = session["compiled"][key]
        result = request.infer(feeds)
        by_name = {k.get_any_name(): v for k, v in result.items()}
        return [np.array(by_name[n]) for n in names]


RUNTIME_NETS = {"onnxruntime": OnnxRuntimeNet, "openvino": OpenVinoNet}
OV_PRECISION = {"float32": "f32", "bfloat16": "bf16"}


def load_exported_net(directory: Path, backend: str, threads: int = 0,
                      manifest: dict | None = None, half: bool = False) -> ExportedNet:
    return RUNTIME_NETS[backend](directory, threads, manifest, half)

"""Export a checkpoint to ONNX for the CPU runtimes (``dasiamrpn_core.runtime``) and TensorRT.

Two graphs, split where the tracker needs them:

* ``template.onnx``: template crop (1, 3, 127, 127) -> template features and the head's kernels
  for this target (run once at ``init``);
* ``search.onnx``: search crop (1, 3, S, S) and those kernels -> search features (for the
  distractor-aware proposal features), box deltas and class logits (run on every frame);
* ``search_b{2,4,8}.onnx``: the same for B targets at once (``MultiTracker``): crops (B, 3, S, S)
  and the kernels stacked on a leading target axis, crop b correlated with kernel b only (a
  convolution grouped by target). Fixed batch sizes, not a dynamic batch axis: ONNX's ``group`` is
  an attribute, so a grouped correlation cannot take its group count from the input (and OpenVINO
  compiles one model per input shape either way); N targets run in the smallest that holds them.

The correlation is an ordinary ONNX ``Conv`` whose weight is a graph input (the kernels of the
target), which ONNX Runtime, OpenVINO and TensorRT all run; the official nets' head is folded into
one such convolution at ``init`` (in float32 here: the runtimes have no float64 convolutions).

``export.json`` beside them says what the tracker needs to know (the architecture, the tracking
parameters, the checkpoint it came from) and carries each graph's sha256, so a graph from another
export is refused by name. Crops whose size differs from the traced one modulo
``size_modulus`` are refused: the TF-SAME padding of the EfficientNet trunk is traced for one
parity pattern (every valid instance size of a net shares it).

    dasiamrpn-export --checkpoint C --format onnx --out DIR
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from collections.abc import Sequence

import torch
import torch.nn as nn

from .checkpoint import CheckpointError, default_checkpoint, load_checkpoint
from .config import siamrpn_params_to_dict
from .files import sha256_file

FORMAT = "dasiamrpn-onnx"
FORMAT_VERSION = 1
OPSET = 17
MANIFEST = "export.json"
TEMPLATE_FILE, SEARCH_FILE = "template.onnx", "search.onnx"
TEMPLATE_INPUTS, TEMPLATE_OUTPUTS = ["z"], ["z_f", "kernel0", "kernel1"]
SEARCH_INPUTS, SEARCH_OUTPUTS = ["x", "kernel0", "kernel1"], ["x_f", "delta", "logits"]
BATCH_SIZES = (2, 4, 8)   # the batched search graphs (targets per call); 1 is search.onnx
FORMATS = ("onnx",)


class _Template(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, z):
        z_f = self.net.features(z)
        k0, k1 = self.net.fold_head(z_f, compute_dtype=torch.float32)
        return z_f, k0, k1


class _Search(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, k0, k1):
        return self.net.search(x, (k0, k1))


class _SearchBatch(_Search):
    def forward(self, x, k0, k1):
        return self.net.search_batch(x, (k0, k1))


def batch_graph(batch: int) -> str:
    """The manifest name (and file stem) of the search graph for ``batch`` targets."""
    return f"search_b{batch}"


@torch.no_grad()
def export_onnx(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, preset: str | None = None,
                opset: int = OPSET) -> Path:
    """Write ``template.onnx``, ``search.onnx`` and ``export.json`` for ``checkpoint`` into ``out_dir``."""
    loaded = load_checkpoint(checkpoint, preset=preset)
    net = loaded.net.inference().float().eval()
    params = loaded.params
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size = params.instance_size
    z = torch.rand(1, 3, params.exemplar_size, params.exemplar_size) * 255
    x = torch.rand(1, 3, size, size) * 255
    z_f, kernels = net.template(z)
    spatial = {"x": {2: "size", 3: "size"}, "x_f": {2: "fsize", 3: "fsize"},
               "delta": {2: "ssize", 3: "ssize"}, "logits": {2: "ssize", 3: "ssize"}}
    with warnings.catch_warnings():   # the TorchScript-based exporter (no onnxscript needed) warns about itself
        warnings.simplefilter("ignore")
        torch.onnx.export(_Template(net), (z,), str(out / TEMPLATE_FILE), dynamo=False, opset_version=opset,
                          input_names=TEMPLATE_INPUTS, output_names=TEMPLATE_OUTPUTS)
        torch.onnx.export(_Search(net), (x, *kernels), str(out / SEARCH_FILE), dynamo=False, opset_version=opset,
                          input_names=SEARCH_INPUTS, output_names=SEARCH_OUTPUTS, dynamic_axes=spatial)
        for batch in BATCH_SIZES:
            xb = x.expand(batch, -1, -1, -1).contiguous()
            torch.onnx.export(_SearchBatch(net), (xb, *net.stack_kernels([kernels] * batch)),
                              str(out / f"{batch_graph(batch)}.onnx"), dynamo=False, opset_version=opset,
                              input_names=SEARCH_INPUTS, output_names=SEARCH_OUTPUTS, dynamic_axes=spatial)
    batch_graphs = {batch_graph(b): {"file": f"{batch_graph(b)}.onnx", "sha256": sha256_file(out / f"{batch_graph(b)}.onnx"),
                                     "inputs": SEARCH_INPUTS, "outputs": SEARCH_OUTPUTS} for b in BATCH_SIZES}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "opset": opset,
        "checkpoint": {"path": str(Path(checkpoint).resolve()), "sha256": sha256_file(Path(checkpoint)),
                       "kind": loaded.kind, "preset": loaded.preset},
        "arch": net.spec.to_dict(), "tracking": siamrpn_params_to_dict(params), "tracker": loaded.tracker,
        "traced_instance_size": size, "size_modulus": 2 ** _stride_log2(net.spec.stride),
        "template_features": list(z_f.shape), "kernels": [list(k.shape) for k in kernels],
        "graphs": {"template": {"file": TEMPLATE_FILE, "sha256": sha256_file(out / TEMPLATE_FILE),
                                "inputs": TEMPLATE_INPUTS, "outputs": TEMPLATE_OUTPUTS},
                   "search": {"file": SEARCH_FILE, "sha256": sha256_file(out / SEARCH_FILE),
                              "inputs": SEARCH_INPUTS, "outputs": SEARCH_OUTPUTS}, **batch_graphs},
        "batch_sizes": list(BATCH_SIZES),
        "torch": torch.__version__,
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    tmp.replace(out / MANIFEST)
    return out


def _stride_log2(stride: int) -> int:
    return max(int(stride).bit_length() - 1, 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``dasiamrpn-export``."""
    parser = argparse.ArgumentParser(prog="dasiamrpn-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--format", default="onnx", choices=FORMATS,
                        help="onnx (TensorRT builds its engines from these graphs: see docs/backends.md)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--preset", default=None, help="tracking preset for official *.model files")
    parser.add_argument("--opset", type=int, default=OPSET)
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or default_checkpoint()
    try:
        out = export_onnx(checkpoint, args.out, preset=args.preset, opset=args.opset)
    except (CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((out / MANIFEST).read_text())
    print(f"wrote {out / TEMPLATE_FILE}, {out / SEARCH_FILE} and {out / MANIFEST} "
          f"({manifest['arch']['name']}, opset {manifest['opset']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

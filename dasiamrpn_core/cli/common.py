"""Arguments shared by the core's command-line tools."""
from __future__ import annotations

import argparse

import yaml

from ..config import MODES
from ..runtime import BACKENDS

TRACKER_SET_EXAMPLE = "window_influence=0.4 lr=0.3"


def add_set_argument(parser: argparse.ArgumentParser, what: str = "tracking parameters",
                     example: str = TRACKER_SET_EXAMPLE) -> None:
    """The project's one override option: ``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable, YAML values)."""
    parser.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help=f"override {what}, YAML values, e.g. --set {example}")


def parse_sets(pairs: list[str]) -> tuple[tuple[str, object], ...]:
    """``KEY=VALUE`` strings -> (key, YAML-parsed value) pairs; a ValueError names a malformed one."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        out.append((key.strip(), yaml.safe_load(value)))
    return tuple(out)


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=None,
                        help="official DaSiamRPN *.model or project checkpoint (default: the bundled model)")
    parser.add_argument("--mode", choices=MODES, default="dasiamrpn", help="tracking mode (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: %(default)s)")
    parser.add_argument("--preset", choices=("big", "vot", "otb"), default=None,
                        help="tracking preset for official checkpoints (default: from the file name)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS + ("auto",),
                        help="inference backend: torch, onnxruntime or openvino (CPU), auto = the fastest "
                             "installed (default: %(default)s)")
    parser.add_argument("--half", action="store_true",
                        help="16-bit inference: float16 on CUDA, bfloat16 on CPUs with AVX512-BF16/AMX (torch, "
                             "openvino); ignored elsewhere")
    add_set_argument(parser)


def tracker_from_arguments(args: argparse.Namespace):
    """``load_tracker`` with the options of :func:`add_tracker_arguments`; an unknown ``--set`` name or a
    malformed pair is a ValueError naming it (``load_tracker``'s own errors pass through)."""
    from ..api import load_tracker
    overrides = dict(parse_sets(args.set))
    try:
        return load_tracker(args.checkpoint, device=args.device, mode=args.mode, preset=args.preset,
                            backend=args.backend, threads=args.threads or 0, half=args.half, **overrides)
    except TypeError as exc:   # an unknown parameter name
        raise ValueError(f"--set: {exc}") from None


HALF_SUFFIX = "+half"


def parse_backend_list(text: str) -> list[tuple[str, str, bool]]:
    """A benchmark's ``--backend`` comma list -> ``(label, backend, half)`` per entry; an entry may end in
    ``+half`` (16-bit inference, ``load_tracker(half=True)``): ``torch,openvino,openvino+half``. A
    ValueError names an unknown backend."""
    out = []
    for label in (item.strip() for item in text.split(",") if item.strip()):
        backend, half = label.removesuffix(HALF_SUFFIX), label.endswith(HALF_SUFFIX)
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {label!r}: expected one of {', '.join(BACKENDS)}, each optionally "
                             f"with {HALF_SUFFIX}")
        out.append((label, backend, half))
    return out


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"box must be x,y,w,h numbers, got {text!r}") from exc
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"box must have 4 values x,y,w,h, got {text!r}")
    return values

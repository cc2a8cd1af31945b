"""Arguments shared by the core's command-line tools."""
from __future__ import annotations

import argparse

from ..config import MODES
from ..runtime import BACKENDS


def add_tracker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=None,
                        help="official DaSiamRPN *.model or project checkpoint (default: the bundled model)")
    parser.add_argument("--mode", choices=MODES, default="dasiamrpn", help="tracking mode (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: %(default)s)")
    parser.add_argument("--preset", choices=("big", "vot", "otb"), default=None,
                        help="tracking preset for official checkpoints (default: from the file name)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--backend", default="torch", choices=BACKENDS + ("auto",),
                        help="inference backend: torch, onnxruntime or openvino (CPU), auto = the fastest "
                             "installed (default: %(default)s)")


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"box must be x,y,w,h numbers, got {text!r}") from exc
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"box must have 4 values x,y,w,h, got {text!r}")
    return values

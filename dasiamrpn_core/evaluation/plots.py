"""Success / precision plots comparing several runs, in the style of the OTB toolkit's figures."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import OPEConfig
from .metrics import norm_precision_thresholds, precision_thresholds, success_thresholds

LINE_STYLES = ("-", "--", "-.", ":")
DPI = 150
# (overall key of the curve, headline key for the legend, x label, y label, title, file name)
PLOTS = (
    ("success_curve", "success_auc", "Overlap threshold", "Success rate", "Success plots of OPE",
     "success_plot.png"),
    ("precision_curve", "precision_20", "Location error threshold (px)", "Precision",
     "Precision plots of OPE", "precision_plot.png"),
    ("norm_precision_curve", "norm_precision", "Normalised location error threshold", "Normalised precision",
     "Normalised precision plots of OPE", "norm_precision_plot.png"),
)


def _x(curve_key: str, cfg: OPEConfig) -> np.ndarray:
    return {"success_curve": success_thresholds, "precision_curve": precision_thresholds,
            "norm_precision_curve": norm_precision_thresholds}[curve_key](cfg)


def plot_runs(runs: list[tuple[str, dict]], out_dir: Path, cfg: OPEConfig = OPEConfig(),
              title_suffix: str = "") -> list[Path]:
    """One PNG per curve type; ``runs`` are ``(label, overall)`` pairs (the report's ``overall``).

    Runs without a curve (e.g. a VOT supervised-only run) are left out; legends are sorted by
    score and show it in brackets, as the OTB toolkit does. Returns the files written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    written = []
    for curve_key, score_key, xlabel, ylabel, title, filename in PLOTS:
        usable = [(label, o) for label, o in runs if o.get(curve_key) and o.get(score_key) is not None]
        if not usable:
            continue
        usable.sort(key=lambda r: -r[1][score_key])
        fig = Figure(figsize=(6.4, 4.8))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        x = _x(curve_key, cfg)
        for i, (label, overall) in enumerate(usable):
            y = np.asarray(overall[curve_key], dtype=np.float64)
            ax.plot(x[:len(y)], y, LINE_STYLES[(i // 10) % len(LINE_STYLES)], linewidth=2,
                    label=f"{label} [{overall[score_key]:.3f}]")
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(float(x[0]), float(x[-1])), ylim=(0, 1.0),
               title=title + title_suffix)
        ax.grid(True, linestyle=":")
        ax.legend(loc="lower left" if curve_key == "success_curve" else "lower right", fontsize=8)
        fig.tight_layout()
        path = out_dir / filename
        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written

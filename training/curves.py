"""Plot a run's ``metrics.csv``: training loss and accuracy, learning rate, throughput and the held-out
validation success AUC against the step.

``dasiamrpn-train-curves RUN_DIR_OR_METRICS_CSV [--out curves.png]``
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def read_metrics(path: Path) -> tuple[dict[str, list[tuple[int, float]]], list[tuple[int, float]]]:
    """(training series by column, validation (step, AUC) points) of a metrics.csv."""
    train: dict[str, list[tuple[int, float]]] = {k: [] for k in ("loss", "cls", "reg", "acc", "lr", "pairs_per_s")}
    val: list[tuple[int, float]] = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(row["step"])
            if row.get("val_auc"):
                val.append((step, float(row["val_auc"])))
                continue
            for key in train:
                if row.get(key):
                    train[key].append((step, float(row[key])))
    return train, val


def plot(metrics: Path, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    train, val = read_metrics(metrics)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for key in ("loss", "cls", "reg"):
        if train[key]:
            axes[0].plot(*zip(*train[key]), label=key, lw=0.8)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    axes[0].legend()
    if val:
        axes[1].plot(*zip(*val), "o-", color="tab:green")
        best = max(val, key=lambda v: v[1])
        axes[1].annotate(f"best {best[1]:.3f} @ {best[0]}", best, textcoords="offset points", xytext=(-60, -15))
    axes[1].set_title("held-out validation success AUC")
    if train["pairs_per_s"]:
        axes[2].plot(*zip(*train["pairs_per_s"]), lw=0.8, color="tab:purple")
    axes[2].set_title("throughput (pairs/s)")
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dasiamrpn-train-curves", description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="a run directory (with metrics.csv) or the csv itself")
    ap.add_argument("--out", type=Path, default=None, help="default: RUN/curves.png")
    args = ap.parse_args(argv)
    metrics = args.run / "metrics.csv" if args.run.is_dir() else args.run
    if not metrics.is_file():
        print(f"no metrics.csv at {metrics}", file=sys.stderr)
        return 2
    out = args.out or metrics.with_name("curves.png")
    print(plot(metrics, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

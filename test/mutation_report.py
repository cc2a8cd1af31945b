"""Kill rate per module of the last ``mutmut run`` (``make mutation`` prints it).

    python test/mutation_report.py [--out FILE.json] [--mutants DIR]

Reads mutmut's per-file results (``mutants/**/*.py.meta``). Mutants listed in
``test/mutation_equivalent.txt`` (``mutant name | why it is equivalent``) are left out of the rate;
mutants no test reaches count as survivors.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

HERE = Path(__file__).resolve().parent
EQUIVALENT = HERE / "mutation_equivalent.txt"
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def equivalent_mutants(path: Path = EQUIVALENT) -> dict[str, str]:
    out = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, why = line.partition(" | ")
                out[name.strip()] = why.strip()
    return out


STATUSES = ("killed", "survived", "no tests", "equivalent", "skipped", "not checked")


def module_counts(mutants: Path, equivalent: dict[str, str], only: set[str] | None = None) -> dict[str, dict]:
    """Per mutated module: mutants by outcome and the kill rate over the checked, non-equivalent ones
    (``only``: just these mutant names, e.g. a random sample)."""
    rows = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter()
        for name, code in codes.items():
            if only is not None and name not in only:
                continue
            status = status_by_exit_code[code]
            counts["equivalent" if name in equivalent and status not in KILLED else
                   "killed" if status in KILLED else status] += 1
        counted = counts["killed"] + counts["survived"] + counts["no tests"] + counts["suspicious"]
        rows[module] = {"mutants": sum(counts.values()), **{k: counts[k] for k in STATUSES},
                        "kill_rate": round(counts["killed"] / counted, 4) if counted else None}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", default="mutants", type=Path)
    ap.add_argument("--out", type=Path, help="also write the table as JSON")
    ap.add_argument("--only", type=Path, help="a file of mutant names (one a line): count only these")
    args = ap.parse_args(argv)
    only = set(args.only.read_text().split()) if args.only else None
    rows = module_counts(args.mutants, equivalent_mutants(), only)
    if not rows:
        print(f"no mutmut results under {args.mutants}: run `make mutation` first", file=sys.stderr)
        return 2
    print(f"{'module':34s} {'mutants':>7s} {'unchecked':>9s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} "
          f"{'equiv.':>6s} {'kill rate':>9s}")
    for module, r in rows.items():
        rate = "-" if r["kill_rate"] is None else f"{100 * r['kill_rate']:.1f} %"
        print(f"{module:34s} {r['mutants']:7d} {r['not checked']:9d} {r['killed']:6d} {r['survived']:8d} "
              f"{r['no tests']:8d} {r['equivalent']:6d} {rate:>9s}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

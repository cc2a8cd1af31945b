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


def module_counts(mutants: Path, equivalent: dict[str, str]) -> dict[str, dict]:
    rows = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter()
        for name, code in codes.items():
            status = status_by_exit_code[code]
            counts["equivalent" if name in equivalent and status not in KILLED else
                   "killed" if status in KILLED else status] += 1
        counted = sum(counts.values()) - counts["equivalent"] - counts["skipped"] - counts["not checked"]
        rows[module] = {"mutants": sum(counts.values()), **counts,
                        "kill_rate": round(counts["killed"] / counted, 4) if counted else None}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", default="mutants", type=Path)
    ap.add_argument("--out", type=Path, help="also write the table as JSON")
    args = ap.parse_args(argv)
    rows = module_counts(args.mutants, equivalent_mutants())
    if not rows:
        print(f"no mutmut results under {args.mutants}: run `make mutation` first", file=sys.stderr)
        return 2
    print(f"{'module':40s} {'mutants':>7s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} {'equiv.':>6s} {'kill rate':>9s}")
    for module, r in rows.items():
        rate = "-" if r["kill_rate"] is None else f"{100 * r['kill_rate']:.1f} %"
        print(f"{module:40s} {r['mutants']:7d} {r['killed']:6d} {r['survived']:8d} {r['no tests']:8d} "
              f"{r['equivalent']:6d} {rate:>9s}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

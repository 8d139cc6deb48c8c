"""Scaling benchmark: generated portfolios at 1x, 2x, 5x, 10x the reference size.

Each size is solved by a fresh `pace solve` process with the given time limit; wall
time and the child's peak resident memory are measured from outside, and each plan is
put through the independent checker. Prints one summary line and writes a CSV.

    python bench/scale.py [--factors 1 2 5 10] [--time-limit 600]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.tools.generate import generate  # noqa: E402
from models.contract.plan import Plan  # noqa: E402


#: Runs the solve as its only child and prints its exit code and peak resident KiB:
#: RUSAGE_CHILDREN is a maximum over all children so far, so each size gets its own parent.
_MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run(factor: int, time_limit: float, tmp: Path) -> dict[str, object]:
    problem = generate(staff=500 * factor, trials=30 * factor, months=36, seed=7)
    problem.settings.time_limit = time_limit
    src, out = tmp / f"x{factor}.json", tmp / f"x{factor}-plan.json"
    src.write_text(problem.model_dump_json())
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "app.cli", "solve", str(src), "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    solve_code, peak_kib = (int(v) for v in proc.stdout.split()[-2:])
    if solve_code not in (0, 3, 4):
        raise SystemExit(f"x{factor}: pace solve failed ({solve_code}): {proc.stderr[-2000:]}")
    plan = Plan.model_validate_json(out.read_text())
    return {
        "factor": factor,
        "staff": len(problem.staff),
        "trials": len(problem.trials),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(peak_kib / 1024),
        "status": plan.status,
        "gap": plan.gap,
        "trials_run": plan.kpis.trials_run,
        "portfolio_rounds": sum(1 for s in plan.stages if s.stage.startswith("portfolio")),
        "violations": len(check_plan(problem, plan)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "scale.csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(f, args.time_limit, Path(tmp)) for f in sorted(args.factors)]
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    parts = [
        f"x{r['factor']}: {r['wall_seconds']} s, {r['peak_rss_mib']} MiB, {r['status']}, "
        f"gap {r['gap'] if r['gap'] is None else format(r['gap'], '.2%')}, {r['violations']} violations"
        for r in rows
    ]
    print("scale: " + "; ".join(parts) + f"; machine: {describe()}")


if __name__ == "__main__":
    main()

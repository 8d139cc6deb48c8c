"""End-to-end benchmark of `pace solve` on the reference instance (median of N runs).

Each run is a fresh `pace solve` process (start-up, parsing, both stages, writing the
plan), timed from outside; the plan's own stage timings split that time into building
Pyomo models, handing them to HiGHS and reading back, and HiGHS itself. Every plan is
put through the independent checker. Prints one summary line and writes a CSV.

    python bench/reference.py [--runs 3] [--problem data/pace-reference.json]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.validation import parse_problem  # noqa: E402


def run_once(problem_path: Path, out: Path) -> dict[str, float | str | int]:
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "app.cli", "solve", str(problem_path), "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode not in (0, 3, 4):
        raise SystemExit(f"pace solve failed ({proc.returncode}): {proc.stderr}")
    plan = Plan.model_validate_json(out.read_text())
    violations = check_plan(parse_problem(problem_path.read_bytes()), plan)
    build = sum(s.build_seconds for s in plan.stages)
    highs = sum(s.solver_seconds for s in plan.stages if not s.alongside)
    staged = sum(s.seconds for s in plan.stages if not s.alongside)
    return {
        "wall_seconds": round(wall, 2),
        "solve_seconds": round(plan.solve_seconds, 2),
        "build_seconds": round(build, 2),
        "handover_seconds": round(staged - build - highs, 2),
        "highs_seconds": round(highs, 2),
        "status": plan.status,
        "objective": plan.objective,
        "best_bound": plan.best_bound,
        "gap": plan.gap,
        "trials_run": plan.kpis.trials_run,
        "portfolio_rounds": sum(1 for s in plan.stages if s.stage.startswith("portfolio")),
        "violations": len(violations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--problem", type=Path, default=ROOT / "data" / "pace-reference.json")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "reference.csv")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            rows.append({"run": i + 1, **run_once(args.problem, Path(tmp) / "plan.json")})
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    med = lambda key: statistics.median(float(r[key]) for r in rows)  # noqa: E731
    gaps = [float(r["gap"]) for r in rows if r["gap"] is not None]
    gap_text = f"median gap {statistics.median(gaps):.2%}" if gaps else "no gap"
    print(
        f"reference: median {med('wall_seconds'):.1f} s end-to-end over {args.runs} runs "
        f"(build {med('build_seconds'):.1f} s, handover {med('handover_seconds'):.1f} s, HiGHS {med('highs_seconds'):.1f} s), "
        f"{gap_text}, statuses {sorted({r['status'] for r in rows})}, violations {sum(int(r['violations']) for r in rows)}; "
        f"machine: {describe()}",
    )


if __name__ == "__main__":
    main()

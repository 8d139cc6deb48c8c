"""Plan-quality survey: many generated portfolios, each solved and put through the checker.

The reference is one portfolio; a change that helps it can hurt others. This solves a
range of seeded portfolios in this process (sizes drawn from each seed unless given),
checks every plan independently, and reports how many are proven within the gap, the
median and worst gaps, and any checker violation. Prints one summary line and writes a CSV.

    python bench/survey.py [--seeds 100 160] [--time-limit 15] [--staff 500 --trials 30 --months 36]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.tools.generate import generate  # noqa: E402
from models.pipeline import solve  # noqa: E402


def size(seed: int, staff: int | None, trials: int | None, months: int | None) -> tuple[int, int, int]:
    """The portfolio's size: as given, or drawn from the seed (20-60 staff, 4-10 trials, 12-24 months)."""
    rng = random.Random(seed)
    return (
        staff if staff is not None else rng.randint(20, 60),
        trials if trials is not None else rng.randint(4, 10),
        months if months is not None else rng.choice([12, 18, 24]),
    )


def run(seed: int, time_limit: float, staff: int | None, trials: int | None, months: int | None) -> dict[str, object]:
    n_staff, n_trials, n_months = size(seed, staff, trials, months)
    problem = generate(staff=n_staff, trials=n_trials, months=n_months, seed=seed)
    problem.settings.time_limit = time_limit
    began = time.perf_counter()
    plan = solve(problem)
    seconds = time.perf_counter() - began
    return {
        "seed": seed,
        "staff": n_staff,
        "trials": n_trials,
        "months": n_months,
        "status": plan.status,
        "objective": plan.objective,
        "best_bound": plan.best_bound,
        "gap": plan.gap,
        "seconds": round(seconds, 2),
        "chosen": next((s.stage.removeprefix("chosen: ") for s in plan.stages if s.stage.startswith("chosen: ")), ""),
        "violations": len(check_plan(problem, plan)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=[100, 160], metavar=("FIRST", "END"))
    parser.add_argument("--time-limit", type=float, default=15)
    parser.add_argument("--staff", type=int)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--months", type=int)
    parser.add_argument("--gap", type=float, default=0.01, help="what counts as proven good (the default MIP gap)")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "survey.csv")
    args = parser.parse_args()
    rows = []
    for seed in range(*args.seeds):
        rows.append(run(seed, args.time_limit, args.staff, args.trials, args.months))
        print(rows[-1], file=sys.stderr, flush=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    within = sum(1 for g in gaps if g <= args.gap + 1e-9)
    worst = sorted((r for r in rows if r["gap"] is not None), key=lambda r: -r["gap"])[:5]  # type: ignore[operator]
    worst_text = ", ".join(f"seed {r['seed']} {r['gap']:.2%}" for r in worst)
    print(
        f"survey: {within} of {len(rows)} within {args.gap:.0%}, median gap {statistics.median(gaps):.2%}, "
        f"worst {worst_text}, "
        f"{sum(1 for r in rows if r['gap'] is None)} without a bound, "
        f"{sum(r['violations'] for r in rows)} violations, median {statistics.median(r['seconds'] for r in rows):.1f} s; "
        f"machine: {describe()}"
    )


if __name__ == "__main__":
    main()

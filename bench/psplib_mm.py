"""Multi-mode PSPLIB benchmark: any set of ``.mm`` files through the engine, against a reference.

Each file is imported (`models.tools.psplib_mm.load_mm`: modes as options, nonrenewable
resources as contract volumes) and solved by `models.pipeline.solve` with a time limit;
every plan goes through the independent checker. The reference for each instance is an
optimum from `--optima` (a CSV of `instance,optimal_makespan`, the makespan empty or
`infeasible` for an instance with no schedule) or, by default, OR-Tools CP-SAT on its own
model of the file (optional interval per mode, one cumulative per renewable resource,
one knapsack row per nonrenewable resource, precedence, minimum makespan: nothing of
PACE's), which must prove its answer within `--reference-limit` seconds to count.

Prints the share of instances the engine ends at the reference optimum, the share of
infeasible ones it proves infeasible, wall time per instance (median and max), checker
violations and the machine. Rows go to bench/results/psplib_mm.csv as they finish.

    python bench/psplib_mm.py DIR_OR_FILES... [--time-limit 10] [--optima optima.csv]
    python bench/psplib_mm.py --generate 40 --out data/psplib-mm   # writes a seeded set first
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ortools.sat.python import cp_model  # noqa: E402

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.pipeline import solve  # noqa: E402
from models.tools.psplib_mm import _availabilities, _jobs, generate_mm, load_mm  # noqa: E402
from models.tools.psplib import _number  # noqa: E402

FIELDS = ["instance", "reference", "status", "makespan", "best_bound", "at_reference", "seconds", "violations", "message"]


def reference(path: Path, seconds: float) -> int | str | None:
    """The optimal makespan CP-SAT proves for the file, ``"infeasible"``, or None if it proves neither in time."""
    text = path.read_text()
    renewable = _number(text, r"-\s*renewable\s*:\s*(\d+)", "renewable resources")
    nonrenewable = _number(text, r"-\s*nonrenewable\s*:\s*(\d+)", "nonrenewable resources")
    jobs = _jobs(text, renewable, nonrenewable)
    capacity, stock = _availabilities(text, renewable, nonrenewable)
    horizon = sum(max(m.duration for m in j.modes) for j in jobs.values())
    model = cp_model.CpModel()
    start = {n: model.new_int_var(0, horizon, f"s{n}") for n in jobs}
    end = {n: model.new_int_var(0, horizon, f"e{n}") for n in jobs}
    intervals: dict[int, list[tuple[cp_model.IntervalVar, list[int]]]] = {k: [] for k in range(renewable)}
    stock_use: dict[int, list[tuple[int, cp_model.IntVar]]] = {k: [] for k in range(nonrenewable)}
    for n, job in jobs.items():
        chosen = []
        for mode in job.modes:
            x = model.new_bool_var(f"x{n}_{mode.number}")
            chosen.append(x)
            interval = model.new_optional_interval_var(start[n], mode.duration, end[n], x, f"i{n}_{mode.number}")
            for k in range(renewable):
                if mode.renewable[k]:
                    intervals[k].append((interval, mode.renewable[k]))
            for k in range(nonrenewable):
                if mode.nonrenewable[k]:
                    stock_use[k].append((mode.nonrenewable[k], x))
        model.add_exactly_one(chosen)
        for s in job.successors:
            model.add(start[s] >= end[n])
    for k in range(renewable):
        model.add_cumulative([i for i, _ in intervals[k]], [q for _, q in intervals[k]], capacity[k])
    for k in range(nonrenewable):
        model.add(sum(q * x for q, x in stock_use[k]) <= stock[k])
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, list(end.values()))
    model.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    status = solver.solve(model)
    if status == cp_model.OPTIMAL:
        return int(solver.objective_value)
    if status == cp_model.INFEASIBLE:
        return "infeasible"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--reference-limit", type=float, default=30.0)
    parser.add_argument("--optima", type=Path)
    parser.add_argument("--generate", type=int, default=0, help="write this many seeded instances to --out first")
    parser.add_argument("--jobs", type=int, default=10, help="jobs per generated instance")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "psplib-mm")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "psplib_mm.csv")
    args = parser.parse_args()

    paths = list(args.paths)
    if args.generate:
        args.out.mkdir(parents=True, exist_ok=True)
        for seed in range(args.generate):
            # every fifth instance gets a stock one unit short of its least use: infeasible
            tight = -1.0 if seed % 5 == 4 else 0.3
            name = f"mm{args.jobs}_{seed + 1}"
            (args.out / f"{name}.mm").write_text(generate_mm(args.jobs, seed + 1, stock_tightness=tight, name=name))
        paths.append(args.out)
    files = sorted(f for p in paths for f in (p.glob("*.mm") if p.is_dir() else [p]))
    optima: dict[str, int | str | None] = {}
    if args.optima:
        with args.optima.open() as handle:
            for row in csv.DictReader(handle):
                value = row["optimal_makespan"].strip()
                optima[row["instance"]] = int(value) if value.isdigit() else "infeasible"

    args.csv.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with args.csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for path in files:
            ref = optima[path.stem] if path.stem in optima else reference(path, args.reference_limit)
            problem = load_mm(path)
            problem.settings.time_limit = args.time_limit
            began = time.perf_counter()
            plan = solve(problem)
            seconds = time.perf_counter() - began
            violations = len(check_plan(problem, plan))
            makespan = plan.kpis.makespan_months if plan.status in ("optimal", "feasible") else None
            hit = (ref == "infeasible" and plan.status == "infeasible") or (isinstance(ref, int) and makespan == ref)
            row = {
                "instance": path.stem, "reference": ref, "status": plan.status, "makespan": makespan,
                "best_bound": plan.best_bound, "at_reference": hit, "seconds": round(seconds, 2),
                "violations": violations, "message": plan.message[:200],
            }
            writer.writerow(row)
            handle.flush()
            rows.append(row)
            print(f"{path.stem:14} ref {str(ref):>10}  {plan.status:11} makespan {str(makespan):>4}  {seconds:6.1f} s  violations {violations}", flush=True)

    feasible = [r for r in rows if isinstance(r["reference"], int)]
    infeasible = [r for r in rows if r["reference"] == "infeasible"]
    unknown = [r for r in rows if r["reference"] is None]
    times = [r["seconds"] for r in rows]
    print(f"\n{len(rows)} instances, time limit {args.time_limit:g} s; {describe()}")
    if feasible:
        print(f"at the reference optimum: {sum(r['at_reference'] for r in feasible)} of {len(feasible)}")
    if infeasible:
        print(f"infeasible proven so: {sum(r['status'] == 'infeasible' for r in infeasible)} of {len(infeasible)}")
    if unknown:
        print(f"no reference proven in {args.reference_limit:g} s: {len(unknown)}")
    if times:
        print(f"seconds per instance: median {statistics.median(times):.2f}, max {max(times):.2f}")
    print(f"checker violations: {sum(r['violations'] for r in rows)}")


if __name__ == "__main__":
    main()

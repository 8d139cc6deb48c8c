"""Parallelism inside one solve: an infeasible problem's diagnosis and checks, in turn or on a 2-process pool.

An infeasible problem's solve is the one that holds independent sub-problems: the
diagnosis tries each kind of least change and each family of rules relaxed, and the
checks solve the problem again with each change applied (at each scale). Without an
executor they run one after another, each with a share of the time left; with one
(``solve(problem, executor=pool)``) side by side, each with the whole of it.

Two cases, both infeasible, each solved with and without a pool of 2 worker processes,
``--repeats`` times in alternation (the machine is shared: compare the medians of one run):

- ``reference budget x0.3``: the reference portfolio with every yearly budget cut to 30 %
  (its least change is extra budget; at scale 1 staffing found no plan, so the scales
  matter).
- ``generated capacity``: a generated portfolio (seed 11) with a quarter of its staff, no
  flex and no budget caps (its least change is extra FTE).

Writes, per run: wall time around ``solve``, the plan's status, each least change with
its scale and whether it was verified, the diagnosis' and the checks' seconds, and the
checker's violations; then the medians per case and mode. The pool is a
``ProcessPoolExecutor`` (forkserver) started and warmed before the first timed solve, as
a notebook keeps one; it is left idle between runs.

    python bench/parallel_checks.py [--time-limit 60 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models import parse_problem, solve  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.problem import Problem  # noqa: E402
from models.tools.generate import generate  # noqa: E402

REFERENCE = ROOT / "data" / "pace-reference.json"
OUT = ROOT / "bench" / "results" / "parallel_checks.csv"
COLUMNS = [
    "date", "machine", "case", "time_limit", "mode", "repeat", "wall_seconds", "status", "changes",
    "verified", "diagnosis_seconds", "checks_seconds", "violations", "load_before", "load_after",
]  # fmt: skip


def budget_cut() -> Problem:
    data = json.loads(REFERENCE.read_text())
    data["name"] = "reference budget x0.3"
    data["budget"]["per_year"] = {year: cap * 0.3 for year, cap in data["budget"]["per_year"].items()}
    return parse_problem(json.dumps(data))


def capacity_short() -> Problem:
    data = generate(seed=11).model_dump(mode="json")
    data["name"] = "generated capacity"
    data["staff"] = data["staff"][::4]
    data["flex"] = []
    data["budget"] = {"per_year": {}, "total": None}
    return parse_problem(json.dumps(data))


def with_limit(problem: Problem, seconds: float) -> Problem:
    return problem.model_copy(update={"settings": problem.settings.model_copy(update={"time_limit": seconds})})


def _warm() -> int:
    """Run in each worker before timing: the engine imported, as in a pool kept by a notebook."""
    importlib.import_module("models.pipeline.run")
    return os.getpid()


def idle(pool: ProcessPoolExecutor, workers: int) -> None:
    """Wait until every worker has answered a trivial task: no abandoned check still runs."""
    for future in [pool.submit(_warm) for _ in range(4 * workers)]:
        future.result()


def stage_seconds(plan: Plan, prefix: str) -> float:
    return sum(s.seconds for s in plan.stages if s.stage.startswith(prefix) and not s.alongside)


def run_once(problem: Problem, executor: Executor | None) -> tuple[float, Plan]:
    began = time.perf_counter()
    plan = solve(problem, executor=executor)
    return time.perf_counter() - began, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, nargs="+", default=[60.0, 20.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    machine, date = describe(), datetime.now(UTC).date().isoformat()
    rows: list[dict[str, object]] = []
    cases = [budget_cut(), capacity_short()]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        idle(pool, 2)
        for limit in args.time_limit:
            for case in cases:
                problem = with_limit(case, limit)
                for repeat in range(args.repeats):
                    for mode, executor in (("sequential", None), ("pool-2", pool)):
                        idle(pool, 2)
                        load_before = os.getloadavg()[0]
                        wall, plan = run_once(problem, executor)
                        row = {
                            "date": date,
                            "machine": machine,
                            "case": problem.name,
                            "time_limit": limit,
                            "mode": mode,
                            "repeat": repeat,
                            "wall_seconds": round(wall, 2),
                            "status": plan.status,
                            "changes": " ".join(f"{r.kind}x{r.scale:g}" for r in plan.relaxations),
                            "verified": " ".join(str(r.verified) for r in plan.relaxations),
                            "diagnosis_seconds": round(stage_seconds(plan, "diagnosis"), 2),
                            "checks_seconds": round(stage_seconds(plan, "check-change"), 2),
                            "violations": len(check_plan(problem, plan)),
                            "load_before": round(load_before, 2),
                            "load_after": round(os.getloadavg()[0], 2),
                        }
                        rows.append(row)
                        print(", ".join(f"{k}={row[k]}" for k in COLUMNS[2:]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{machine}, {date}: medians of {args.repeats}")
    for limit in args.time_limit:
        for case in cases:
            medians = {}
            for mode in ("sequential", "pool-2"):
                mine = [r for r in rows if r["case"] == case.name and r["time_limit"] == limit and r["mode"] == mode]
                medians[mode] = statistics.median(float(r["wall_seconds"]) for r in mine)  # type: ignore[arg-type]
                verified = sorted({str(r["changes"]) + ": " + str(r["verified"]) for r in mine})
                print(f"  {case.name}, {limit:g} s, {mode}: median {medians[mode]:.1f} s; changes {verified}")
            print(f"  {case.name}, {limit:g} s: pool-2 / sequential = {medians['pool-2'] / medians['sequential']:.2f}")


if __name__ == "__main__":
    main()

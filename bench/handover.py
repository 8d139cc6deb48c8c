"""Time outside HiGHS on the reference instance, against HiGHS alone on the same model as MPS.

Issue 4's target: the time spent outside HiGHS (process start-up, parsing, compiling,
heuristics, building Pyomo models, handing them to HiGHS and reading solutions back,
writing the plan) is at most 20 % of end-to-end wall time on the reference instance.

(a) End to end: `pace solve` runs `--runs` times, each in a fresh process timed from
    outside. The plan's stage timings split the wall time into HiGHS (HiGHS's own run
    time), Pyomo build, handover + read-back (each solver stage's time minus build and
    HiGHS), other engine work (compile, heuristics, greedy staffing, plan assembly) and
    process overhead (start-up, reading the problem, writing the plan). Every plan is put
    through the independent checker.
(b) Round 0 alone, step-column model: the round-0 portfolio model with one column per
    cost step and month (the engine's model where labour cuts do not apply; the cut
    model is a loop of LPs and MIPs with no single MPS) is rebuilt with the engine's
    instance tightening, warm start, time limit and gap, written to MPS, and solved by
    highspy alone from that file; its Pyomo build and Pyomo -> HiGHS handover
    (`set_instance`) are timed.

Prints one summary line and writes a CSV (one row per run of (a), one row for (b)).

    python bench/handover.py [--runs 3] [--problem data/pace-reference.json] [--cold]
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.validation import parse_problem  # noqa: E402

TARGET_SHARE = 0.20
"""Issue 4: time outside HiGHS at most this share of end-to-end wall time."""
ROUND0 = "portfolio[0]"


# -- (a) end to end ---------------------------------------------------------------------
def end_to_end(problem_path: Path, out: Path) -> dict[str, object]:
    """One fresh `pace solve` process, its wall time split by the plan's stage timings."""
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "app.cli", "solve", str(problem_path), "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode not in (0, 3, 4, 5) or not out.exists():
        raise SystemExit(f"pace solve failed ({proc.returncode}): {proc.stderr[-2000:]}")
    plan = Plan.model_validate_json(out.read_text())
    # A stage run beside another (the bound search) adds nothing to the wall time.
    solver_stages = [s for s in plan.stages if (s.build_seconds > 0 or s.solver_seconds > 0) and not s.alongside]
    build = sum(s.build_seconds for s in solver_stages)
    highs = sum(s.solver_seconds for s in solver_stages)
    handover = sum(s.seconds - s.build_seconds - s.solver_seconds for s in solver_stages)
    round0 = next((s for s in plan.stages if s.stage == ROUND0), None)
    return {
        "part": "end-to-end",
        "wall_seconds": round(wall, 3),
        "highs_seconds": round(highs, 3),
        "outside_highs_seconds": round(wall - highs, 3),
        "outside_share": round((wall - highs) / wall, 4),
        "build_seconds": round(build, 3),
        "handover_seconds": round(handover, 3),
        "other_engine_seconds": round(plan.solve_seconds - build - highs - handover, 3),
        "process_overhead_seconds": round(wall - plan.solve_seconds, 3),
        "round0_build_seconds": round(round0.build_seconds, 3) if round0 else None,
        "round0_handover_seconds": round(round0.seconds - round0.build_seconds - round0.solver_seconds, 3) if round0 else None,
        "round0_highs_seconds": round(round0.solver_seconds, 3) if round0 else None,
        "round0_status": round0.status if round0 else None,
        "round0_columns": round0.variables if round0 else None,
        "round0_rows": round0.constraints if round0 else None,
        "solver_stages": len(solver_stages),
        "status": plan.status,
        "gap": plan.gap,
        "violations": len(check_plan(parse_problem(problem_path.read_bytes()), plan)),
        "unstaged_seconds": round(plan.solve_seconds - sum(s.seconds for s in plan.stages if not s.alongside), 3),
        "stages": stage_text(plan),
    }


def stage_text(plan: Plan) -> str:
    """Every stage's time, e.g. ``heuristic 4.20; portfolio[0] 33.49 (build 0.56, HiGHS 32.29)``."""
    parts = []
    for s in plan.stages:
        if s.stage.startswith("chosen"):
            continue
        split = f" (build {s.build_seconds:.2f}, HiGHS {s.solver_seconds:.2f})" if s.build_seconds or s.solver_seconds else ""
        beside = f" (beside {s.alongside})" if s.alongside else ""
        parts.append(f"{s.stage} {s.seconds:.2f}{split}{beside}")
    return "; ".join(parts)


# -- (b) round 0 alone ------------------------------------------------------------------
def round0_alone(problem_path: Path, tmp: Path, warm_start: bool) -> dict[str, object]:
    """Rebuild the engine's round-0 portfolio model, write it to MPS, solve it with highspy alone."""
    import highspy
    from pyomo.contrib.solver.solvers.highs import Highs

    from models.heuristics.constructive import constructive_schedule
    from models.formulation.instance import compile_instance
    from models.pipeline.clock import round_limits
    from models.formulation.portfolio import PortfolioModel, Reserve, exact_lp_bound
    from models.solver.settings import EngineSettings
    from models.heuristics.sgs import tighten_for_makespan

    problem = parse_problem(problem_path.read_bytes())
    settings = EngineSettings.from_problem(problem.settings)
    # What the pipeline does before round 0, in the same order, so the time left (and so
    # round 0's time limit) and the warm start are the engine's.
    began = time.perf_counter()
    inst = compile_instance(problem)
    tighten_for_makespan(inst)
    # The constructive plan is staffed beside round 0 (on a second thread): round 0 starts
    # from the bare constructive schedule.
    warm = constructive_schedule(inst)
    if settings.cost_tiers is not None:
        exact_lp_bound(inst, settings, max(1.0, 0.2 * (settings.time_limit - (time.perf_counter() - began))))
    remaining = settings.time_limit - (time.perf_counter() - began)

    t = time.perf_counter()
    model = PortfolioModel(inst, settings, Reserve(), tiers=settings.cost_tiers)
    build = time.perf_counter() - t
    gap = settings.mip_gap
    if problem.objective.kind == "makespan":
        gap = min(gap, 0.9 / inst.months)
    # The engine's hard limit for round 0 (it may stop earlier, at its soft limit, once within EngineSettings.extend_gap).
    limit = max(0.1, round_limits(inst, settings, remaining, 0)[0] - build)
    start_values = model.start_values(warm) if warm and warm_start else []

    mps = tmp / "round0.mps"
    t = time.perf_counter()
    _, symbol_id = model.m.write(str(mps), io_options={"symbolic_solver_labels": False})
    write = time.perf_counter() - t
    names = model.m.solutions.symbol_map[symbol_id].byObject

    # Pyomo -> HiGHS handover of the same model, as the engine's interface does it.
    opt = Highs()
    t = time.perf_counter()
    opt.set_instance(model.m)
    handover = time.perf_counter() - t
    handed_cols = opt._solver_model.getNumCol()
    handed_rows = opt._solver_model.getNumRow()
    del opt

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    t = time.perf_counter()
    h.readModel(str(mps))
    read = time.perf_counter() - t
    h.setOptionValue("time_limit", limit)
    h.setOptionValue("mip_rel_gap", gap)
    if settings.threads is not None:
        h.setOptionValue("threads", settings.threads)
    for key, value in settings.highs_options().items():
        h.setOptionValue(key, value)
    warm_cols = 0
    if start_values:
        index = {name: i for i, name in enumerate(h.getLp().col_names_)}
        cols = [(index[names[id(v)]], x) for v, x in start_values if id(v) in names and names[id(v)] in index]
        if cols:
            h.setSolution(len(cols), np.array([c for c, _ in cols], dtype=np.int32), np.array([x for _, x in cols], dtype=np.float64))
        warm_cols = len(cols)
    t = time.perf_counter()
    h.run()
    run_wall = time.perf_counter() - t
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    return {
        "part": "round0-alone",
        "round0_build_seconds": round(build, 3),
        "round0_handover_seconds": round(handover, 3),
        "mps_write_seconds": round(write, 3),
        "mps_read_seconds": round(read, 3),
        "highs_alone_seconds": round(h.getRunTime(), 3),
        "highs_alone_wall_seconds": round(run_wall, 3),
        "highs_alone_status": status,
        "highs_alone_gap": info.mip_gap if abs(info.mip_gap) < 1e30 else None,
        "time_limit": round(limit, 3),
        "mip_gap": gap,
        "warm_start_columns": warm_cols,
        "round0_columns": h.getNumCol(),
        "round0_rows": h.getNumRow(),
        "handed_columns": handed_cols,
        "handed_rows": handed_rows,
        "mps_mib": round(mps.stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs of `pace solve` (median reported)")
    parser.add_argument("--problem", type=Path, default=ROOT / "data" / "pace-reference.json")
    parser.add_argument("--cold", action="store_true", help="solve the MPS without the engine's heuristic warm start")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "handover.csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [{"run": i + 1, **end_to_end(args.problem, Path(tmp) / "plan.json")} for i in range(args.runs)]
        alone = {"run": "", **round0_alone(args.problem, Path(tmp), warm_start=not args.cold)}
    rows = runs + [alone]
    fields = list(dict.fromkeys(k for r in rows for k in r))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    def med(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs if r.get(key) is not None)

    share = med("outside_share")
    met = share <= TARGET_SHARE
    engine_r0 = med("round0_highs_seconds")
    print(
        f"handover: median {med('wall_seconds'):.1f} s end-to-end over {args.runs} runs, HiGHS {med('highs_seconds'):.1f} s, "
        f"outside HiGHS {med('outside_highs_seconds'):.1f} s = {share:.1%} "
        f"(Pyomo build {med('build_seconds'):.2f} s, handover+read-back {med('handover_seconds'):.2f} s, "
        f"other engine {med('other_engine_seconds'):.2f} s, start-up/parse/write {med('process_overhead_seconds'):.2f} s); "
        f"target <= 20 % {'met' if met else 'NOT met'}; "
        f"step-column round 0 ({alone['round0_columns']} cols x {alone['round0_rows']} rows, limit {alone['time_limit']:.1f} s, gap {alone['mip_gap']:g}, "
        f"{'cold' if args.cold else 'warm start ' + str(alone['warm_start_columns']) + ' cols'}): "
        f"HiGHS alone on MPS {alone['highs_alone_seconds']:.1f} s ({alone['highs_alone_status']}) vs engine {engine_r0:.1f} s, "
        f"Pyomo build {alone['round0_build_seconds']:.2f} s, handover {alone['round0_handover_seconds']:.2f} s "
        f"(MPS write {alone['mps_write_seconds']:.2f} s, read {alone['mps_read_seconds']:.2f} s); "
        f"statuses {sorted({str(r['status']) for r in runs})}, violations {sum(int(r['violations']) for r in runs)}; "
        f"machine: {describe()}"
    )


if __name__ == "__main__":
    main()

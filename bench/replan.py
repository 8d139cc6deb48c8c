"""A scripted twelve-month reforecast of the reference (SPEC §3, the monthly reforecast).

The first plan is the reference solved as is. Then, month after month, one month more
is frozen and one realistic event happens (a leaver, a joiner, a budget cut, a new
trial, a trial stopped, a deadline moved, a service capacity drop, months with no
change, ...); the planner's chain follows the plans solved with the default stability.
Each step is solved three ways from the same previous plan and problem:

- ``default``: ``settings.stability`` as shipped (the plan the chain goes on with);
- ``off``: ``settings.stability: null`` (the best re-plan found, the previous plan still a candidate);
- ``scratch``: the previous plan only supplies the freeze (``EngineSettings.replan_start``
  off, stability off): what a re-plan was before it started from the previous plan.

Per step and way: trials changed, people reassigned, FTE-months moved and the share of
the previous plan's post-freeze FTE-months kept, the objective against the from-scratch
re-plan's, seconds, status and the checker's violations. For a leaver, their
post-freeze FTE-months (the "3 x" target). Rows go to bench/results/replan.csv.

    python bench/replan.py [--steps 12] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from bench.record import appender, commit  # noqa: E402
from models.contract.check import check_plan  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.problem import Problem, month_at, month_index  # noqa: E402
from models.contract.validation import parse_problem  # noqa: E402
from models.pipeline import solve  # noqa: E402
from models.solver.settings import EngineSettings  # noqa: E402
from models.tools.reforecast import apply_reforecast, parse_reforecast  # noqa: E402

FIELDS = [
    "commit", "step", "frozen_until", "event", "way", "status", "seconds", "objective", "vs_scratch", "vs_previous",
    "trials_changed", "people_reassigned", "people_with_work", "fte_months_moved", "fte_months_previous",
    "kept_share", "leaver_fte_months", "violations", "machine",
]


def post_freeze_work(plan: Plan, since: str) -> dict[str, float]:
    """FTE-months per person from ``since`` on."""
    work: dict[str, float] = {}
    for a in plan.assignments:
        if a.end >= since:
            months = month_index(a.end, max(a.start, since)) + 1
            work[a.staff] = work.get(a.staff, 0.0) + a.fte * months
    return work


def leaver(problem: Problem, plan: Plan, since: str) -> str:
    """The person with the most work after the freeze, in a role at least three people hold."""
    roles = [s.role for s in problem.staff]
    shared = {s.id for s in problem.staff if roles.count(s.role) >= 3 and s.available_to is None}
    work = post_freeze_work(plan, since)
    return max((p for p in work if p in shared), key=lambda p: (work[p], p))


def running_across(plan: Plan, since: str, months: int) -> Any:
    """A trial that started before ``since`` and runs at least ``months`` more."""
    return next(t for t in plan.trials if t.run and t.start and t.end and t.start < since and month_index(t.end, since) >= months)


def in_flight_use(problem: Problem, plan: Plan, since: str, service: str, month: int) -> float:
    """Units of ``service`` in ``month`` used by the trials that started before ``since`` (they cannot move)."""
    total = 0.0
    for entry in plan.trials:
        if not (entry.run and entry.start and entry.start < since):
            continue
        trial = next(t for t in problem.trials if t.id == entry.id)
        option = next(o for o in trial.options if o.id == entry.option)
        offset = month - problem.index(entry.start)
        for stage in option.stages:
            if 0 <= offset < stage.months:
                total += stage.services.get(service, 0.0)
                break
            offset -= stage.months
    return total


def events_for(step: int, problem: Problem, plan: Plan, since: str) -> tuple[str, list[dict[str, Any]]]:
    """Step ``step``'s event (its name and the reforecast events) for the plan frozen until ``since``."""
    effect = month_at(since, 1)
    kind = step % 12
    if kind in (1, 9):
        return "no change", []
    if kind in (2, 10):
        who = leaver(problem, plan, effect)
        return f"leaver {who}", [{"kind": "staff_leaves", "staff": who, "from": effect}]
    if kind == 3:
        template = next(s for s in problem.staff if s.role == "CRA").model_dump(mode="json")
        joiner = {**template, "id": f"CRA-J{step:02d}", "name": None, "leave": []}
        return "joiner CRA", [{"kind": "staff_joins", "staff": joiner, "from": effect}]
    if kind == 4:
        year = str(int(since[:4]) + 1)
        return f"budget {year} x0.8", [{"kind": "budget", "year": year, "scale": 0.8}]
    if kind == 5:
        base = next(t for t in problem.trials if not t.mandatory and all(not p.run or p.id != t.id for p in plan.trials))
        trial = {**base.model_dump(mode="json"), "id": f"T-NEW{step:02d}", "name": "new pipeline trial",
                 "predecessors": [], "earliest_start": effect, "latest_start": None}
        return f"new trial (like {base.id})", [{"kind": "trial_added", "trial": trial}]
    if kind == 6:
        t = running_across(plan, since, 4)
        return f"trial {t.id} stopped", [{"kind": "trial_stops", "trial": t.id, "from": effect}]
    if kind == 7:
        t = next(t for t in plan.trials if t.run and t.end and t.end > effect and problem.trials[[x.id for x in problem.trials].index(t.id)].deadline)
        deadline = problem.trials[[x.id for x in problem.trials].index(t.id)].deadline
        return f"deadline {t.id} 3 months earlier", [{"kind": "deadline", "trial": t.id, "deadline": month_at(deadline, -3)}]
    if kind == 8:
        used: dict[str, float] = {}
        for sm in plan.service_months:
            if sm.month >= effect:
                used[sm.service] = used.get(sm.service, 0.0) + sm.used
        service = max(used, key=lambda s: (used[s], s))
        peak = max(sm.used for sm in plan.service_months if sm.service == service and sm.month >= effect)
        # What trials already running need stays: a realistic drop leaves room for them.
        floor = max(in_flight_use(problem, plan, since, service, m) for m in range(problem.index(effect), problem.horizon.months))
        capacity = round(max(0.9 * peak, floor), 3)
        return f"{service} capacity {capacity / peak - 1:+.0%} of peak use", [
            {"kind": "service_capacity", "service": service, "from": effect, "capacity": capacity}]
    if kind == 11:
        year = str(int(since[:4]) + 1)
        return f"budget {year} x1.1", [{"kind": "budget", "year": year, "scale": 1.1}]
    t = next(t for t in plan.trials if t.run and t.start and t.start >= effect and not problem.trials[[x.id for x in problem.trials].index(t.id)].mandatory)
    return f"trial {t.id} dropped", [{"kind": "trial_dropped", "trial": t.id}]


def solved(problem: Problem, way: str) -> tuple[Plan, float]:
    settings = EngineSettings.from_problem(problem.settings)
    if way != "default":
        problem = problem.model_copy(update={"settings": problem.settings.model_copy(update={"stability": None})})
        settings = replace(settings, replan_start=way != "scratch")
    began = time.perf_counter()
    plan = solve(problem, settings)
    return plan, time.perf_counter() - began


def row(step: int, since: str, event: str, way: str, problem: Problem, plan: Plan, seconds: float,
        scratch: float | None, previous: Plan, leaver_work: float | None) -> dict[str, Any]:
    c = plan.changes
    return {
        "commit": commit(), "step": step, "frozen_until": since, "event": event, "way": way, "status": plan.status,
        "seconds": round(seconds, 2), "objective": plan.objective,
        "vs_scratch": None if scratch is None or plan.objective is None else round((plan.objective - scratch) / abs(scratch), 6),
        "vs_previous": None if previous.objective is None or plan.objective is None else round((plan.objective - previous.objective) / abs(previous.objective), 6),
        "trials_changed": c.trials_changed if c else None, "people_reassigned": c.people_reassigned if c else None,
        "people_with_work": c.people_with_work if c else None, "fte_months_moved": c.fte_months_moved if c else None,
        "fte_months_previous": c.fte_months_previous if c else None,
        "kept_share": round(c.fte_months_kept / c.fte_months_previous, 4) if c and c.fte_months_previous else None,
        "leaver_fte_months": None if leaver_work is None else round(leaver_work, 3),
        "violations": len(check_plan(problem, plan)), "machine": describe(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--problem", type=Path, default=ROOT / "data" / "pace-reference.json")
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "results" / "replan.csv")
    parser.add_argument("--ways", default="scratch,off,default", help="Which solves per step (default last: the chain follows it)")
    parser.add_argument("--keep", type=Path, help="Write each step's problem and plans here")
    args = parser.parse_args()
    ways = args.ways.split(",")
    problem = parse_problem(args.problem.read_bytes())
    problem.settings.time_limit = args.time_limit
    plan, seconds = solved(problem, "default")
    print(f"step 0: first plan {plan.status} {plan.objective:,.0f} in {seconds:.1f} s", flush=True)
    rows: list[dict[str, Any]] = []
    with appender(args.csv, FIELDS) as out:
        for step in range(1, args.steps + 1):
            since = problem.month(step)
            event, events = events_for(step, problem, plan, since)
            change = parse_reforecast({"frozen_until": since, "events": events})
            new = apply_reforecast(problem, plan, change)
            who = events[0]["staff"] if events and events[0]["kind"] == "staff_leaves" else None
            leaver_work = post_freeze_work(plan, events[0]["from"]).get(who, 0.0) if who else None
            results = {way: solved(new, way) for way in ways}
            scratch = results["scratch"][0].objective if "scratch" in results else None
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / f"step{step:02d}-problem.json").write_text(new.model_dump_json())
                for way, (found, _) in results.items():
                    (args.keep / f"step{step:02d}-{way}.json").write_text(found.model_dump_json())
            for way, (found, took) in results.items():
                r = row(step, since, event, way, new, found, took, scratch, plan, leaver_work)
                out.writerow(r)
                rows.append(r)
                print(f"step {step} {since} {event:<28} {way:<8} {found.status:<9} {took:5.1f} s  vs scratch {r['vs_scratch']}  "
                      f"trials {r['trials_changed']}  people {r['people_reassigned']}  moved {r['fte_months_moved']}  "
                      f"kept {r['kept_share']}  violations {r['violations']}", flush=True)
            plan, problem = results["default"][0], new
            if plan.status not in ("optimal", "feasible"):
                print(f"step {step}: the chain has no plan ({plan.status}); stopping", flush=True)
                break
    for way in ways:
        mine = [r for r in rows if r["way"] == way]
        print(f"{way}: median {statistics.median(r['seconds'] for r in mine):.1f} s, median people reassigned "
              f"{statistics.median(r['people_reassigned'] or 0 for r in mine)}, worst vs scratch "
              f"{min((r['vs_scratch'] for r in mine if r['vs_scratch'] is not None), default=0):+.3%}, violations "
              f"{sum(r['violations'] for r in mine)}")
    print(f"machine: {describe()}")


if __name__ == "__main__":
    main()

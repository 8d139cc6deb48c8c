"""Shedding: from a staffed schedule that breaks a rule, a plan that keeps every rule by leaving optional trials out.

The portfolio stage's schedule may not be staffable by named people (skills, regions,
concurrency) or may overrun a budget once real people are priced; the repair rounds fix
that by re-solving, but when time or rounds run out, or a stop is requested, the solve
still owes the planner a valid plan. Shedding gets one cheaply, one greedy re-staffing
per trial left out:

1. an optional trial with uncovered demand goes (with every trial that needs it as a
   predecessor);
2. if a trial that must run has uncovered demand, the least valuable optional trial that
   competes for the same role in the same months goes;
3. while a year is over budget, an optional trial running in that year goes: the least
   valuable one whose spend that year covers the overrun, else the one that frees the
   most spend per unit of value.

Nothing is ever added back, so the result is no better than the schedule it started from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from models.greedy import greedy_staffing
from models.instance import Instance
from models.staffing import StaffingResult


@dataclass
class Staffed:
    """A schedule and the staffing of it."""

    schedule: dict[str, tuple[str, int]]
    staffing: StaffingResult


def shed(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> Staffed | None:
    """A fully staffed plan within budget from ``schedule``; None if a trial that must run would have to go."""
    schedule = dict(schedule)
    while True:
        drop = _uncovered_victims(inst, schedule, staffing)
        if drop == set():
            drop = _over_budget_victim(inst, schedule, staffing)
        if drop is None:
            return None
        if not drop:
            return Staffed(schedule, staffing)
        stack = list(drop)
        while stack:
            for nxt, _ in inst.successors(stack.pop()):
                if nxt in schedule and nxt not in drop:
                    drop.add(nxt)
                    stack.append(nxt)
        if drop & inst.forced_run:
            return None
        schedule = {t: v for t, v in schedule.items() if t not in drop}
        staffing = greedy_staffing(inst, schedule)


def _uncovered_victims(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> set[str] | None:
    """Rules 1 and 2; empty if all demand is covered (or shortfall is allowed), None if nothing can go."""
    if inst.problem.objective.weights.shortfall is not None or not staffing.shortfall:
        return set()
    short = {t for (t, _, _) in staffing.shortfall}
    if short - inst.forced_run:
        return short - inst.forced_run
    contested = {(r, mo) for (_, r, mo) in staffing.shortfall}
    competitors = [
        t
        for t, (o, s) in schedule.items()
        if t not in inst.forced_run
        and any((r, s + k) in contested for k, month in enumerate(inst.profiles[(t, o)].demand) for r in month)
    ]
    if not competitors:
        return None
    return {min(competitors, key=lambda t: (inst.trials[t].value, t))}


def _over_budget_victim(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> set[str] | None:
    """Rule 3; empty if every year is within budget, None if an overrun has no optional trial to cut."""
    budget = inst.problem.budget
    if not budget.per_year and budget.total is None:
        return set()
    by_trial = trial_year_spend(inst, schedule, staffing)
    spend: dict[str, float] = defaultdict(float)
    for years in by_trial.values():
        for y, v in years.items():
            spend[y] += v
    overruns = [(y, spend[y] - cap) for y, cap in sorted(budget.per_year.items()) if spend[y] > cap * (1 + 1e-9) + 1e-6]
    if budget.total is not None and sum(spend.values()) > budget.total * (1 + 1e-9) + 1e-6:
        overruns.append(("", sum(spend.values()) - budget.total))
    if not overruns:
        return set()
    year, excess = overruns[0]

    def relief(t: str) -> float:
        return sum(by_trial[t].values()) if year == "" else by_trial[t].get(year, 0.0)

    candidates = [t for t in schedule if t not in inst.forced_run and relief(t) > 0]
    if not candidates:
        return None
    enough = [t for t in candidates if relief(t) >= excess]
    if enough:
        return {min(enough, key=lambda t: (inst.trials[t].value, t))}
    return {max(candidates, key=lambda t: (relief(t) / max(inst.trials[t].value, 1.0), t))}


def trial_year_spend(
    inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult
) -> dict[str, dict[str, float]]:
    """Spend per trial and calendar year: named staff, flex, services and fixed prices."""
    out: dict[str, dict[str, float]] = {t: defaultdict(float) for t in schedule}
    for b in staffing.blocks:
        if b.trial in out:
            for mo in range(b.first, b.last + 1):
                out[b.trial][inst.year_of[mo]] += inst.rate(b.staff) * b.fte
    for (t, r, mo), v in staffing.flex.items():
        out[t][inst.year_of[mo]] += inst.flex_rate[r] * v
    for t, (o, s) in schedule.items():
        for k in range(inst.profiles[(t, o)].duration):
            out[t][inst.year_of[s + k]] += inst.month_spend(t, o, k)
    return out

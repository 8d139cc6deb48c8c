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
3. while a year (or the total) is over budget, the optional trials whose own spend covers
   every overrun at the least loss of net value go (sets of up to three are compared, so
   one trial spanning two overrun years can beat two that each cover one), else the one
   that frees the most overrun per unit of value.

After each drop the rest is re-rostered (the people it freed may cover what was short,
and a fresh roster often packs people more cheaply); after a drop for budget, the old
roster with only the dropped trials' blocks taken out frees exactly the spend the choice
counted on, and is kept instead if the fresh roster overruns more. Nothing is ever added
back, so the result is no better than the schedule it started from.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import combinations

from models.heuristics.greedy import greedy_staffing
from models.formulation.instance import Instance
from models.formulation.staffing import StaffingResult
from models.solver.progress import Deadline, cutoff

#: Share of the largest possible block a roster settles for when the default roster
#: overruns a budget: a smaller share staffs with cheaper people in smaller blocks (on the
#: reference's round-0 schedule, 0.1 instead of 0.5 cuts labour by about 0.4 % and makes
#: half again as many blocks).
CHEAPER_SHARE = 0.1
#: Most optional trials (each with its dependents) considered together to cover a budget overrun.
COVER_SIZE = 3
#: Candidates (those freeing the most overrun per unit of value lost) that sets are formed
#: from: at most C(24, 3) + C(24, 2) + 24 = 2,324 sets per shedding step, at any size.
COVER_CANDIDATES = 24


@dataclass
class Staffed:
    """A schedule and the staffing of it."""

    schedule: dict[str, tuple[str, int]]
    staffing: StaffingResult


def shed(
    inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult, deadline: Deadline = math.inf
) -> Staffed | None:
    """A fully staffed plan within budget from ``schedule``; None if a trial that must run would
    have to go, or if the ``deadline`` passes (or a stop is asked) first (for callers that hold a plan already)."""
    until = cutoff(deadline)
    schedule = dict(schedule)
    roster_seconds = 0.0  # how long the last re-roster took: the next one must fit before the deadline
    while True:
        if not until.fits(roster_seconds):
            return None
        drop, uncovered = victims(inst, schedule, staffing)
        if drop is None:
            return None
        if not drop:
            return Staffed(schedule, staffing)
        schedule = {t: v for t, v in schedule.items() if t not in drop}
        began = time.perf_counter()
        fresh = budget_roster(inst, schedule, until)
        roster_seconds = time.perf_counter() - began
        if until.stopped():
            return None
        if uncovered:
            staffing = fresh
        else:
            # A fresh roster usually packs people more cheaply; taking the dropped trials'
            # blocks out frees exactly the spend the choice counted on. The lesser overrun wins.
            kept = without(staffing, drop)
            staffing = min((fresh, kept), key=lambda r: sum(overruns(inst, schedule, r).values()))


def victims(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> tuple[frozenset[str] | None, bool]:
    """What shedding leaves out next (rules 1-3, each trial with every scheduled trial that
    needs it), and whether for uncovered demand: empty when the staffed schedule keeps every
    rule, None when a trial that must run would have to go."""
    drop = _uncovered_victims(inst, schedule, staffing)
    uncovered = bool(drop)
    if drop == set():
        drop = _over_budget_victim(inst, schedule, staffing)
    if drop is None:
        return None, uncovered
    closed = frozenset().union(*(_with_dependents(inst, schedule, t) for t in drop))
    return (None if closed & inst.forced_run else closed), uncovered


def service_victims(inst: Instance, schedule: dict[str, tuple[str, int]]) -> frozenset[str] | None:
    """What a schedule must leave out to keep every service within its monthly capacity and
    contract volume: the least valuable optional trial using a service where it is over
    (with every scheduled trial that needs it); empty when all services hold, None when only
    trials that must run use it there. Staffing does not change service use, so a schedule
    whose starts were each allowed may still overrun a service a change made smaller."""
    used: dict[tuple[str, int], float] = defaultdict(float)
    for t, (o, start) in schedule.items():
        for k, units in enumerate(inst.profiles[(t, o)].services):
            for svc, u in units.items():
                used[(svc, start + k)] += u
    over = {(svc, m) for (svc, m), u in used.items() if u > inst.service_capacity[svc][m] + 1e-9 * max(1.0, inst.service_capacity[svc][m])}
    volumes = {svc for svc, cap in inst.service_volume.items()
               if sum(inst.profiles[(t, o)].volume(svc) for t, (o, _) in schedule.items()) > cap + 1e-9 * max(1.0, cap)}
    if not over and not volumes:
        return frozenset()

    def uses(t: str) -> bool:
        o, start = schedule[t]
        prof = inst.profiles[(t, o)]
        return any(prof.volume(svc) > 0 for svc in volumes) or any(
            (svc, start + k) in over for k, units in enumerate(prof.services) for svc in units)

    users = [t for t in schedule if t not in inst.forced_run and uses(t)]
    if not users:
        return None
    victim = min(users, key=lambda t: (inst.discounted_value(t, schedule[t][1]), t))
    closed = _with_dependents(inst, schedule, victim)
    return None if closed & inst.forced_run else closed


def without(staffing: StaffingResult, trials: AbstractSet[str]) -> StaffingResult:
    """The roster with the given trials' blocks, flex and shortfall taken out (the rest untouched)."""
    return StaffingResult(
        outcome=None,
        blocks=[b for b in staffing.blocks if b.trial not in trials],
        flex={k: v for k, v in staffing.flex.items() if k[0] not in trials},
        shortfall={k: v for k, v in staffing.shortfall.items() if k[0] not in trials},
    )


def budget_roster(inst: Instance, schedule: dict[str, tuple[str, int]], deadline: Deadline = math.inf) -> StaffingResult:
    """The greedy roster of ``schedule``; if it overruns a budget, the cheaper roster (see
    ``CHEAPER_SHARE``) when that covers as much and keeps within every budget, else the default.
    The cheaper one is tried only if one as long as the first fits before the ``deadline``.
    A stop asked through the deadline cuts the roster short: the caller asks
    ``cutoff(deadline).stopped()`` and drops it (see :class:`models.solver.progress.Cutoff`)."""
    until = cutoff(deadline)
    began = time.perf_counter()
    staffing = greedy_staffing(inst, schedule, cutoff=until)
    took = time.perf_counter() - began
    if not overruns(inst, schedule, staffing) or not until.fits(took):
        return staffing
    cheaper = greedy_staffing(inst, schedule, good_enough=CHEAPER_SHARE, cutoff=until)
    if until.stopped():
        return staffing
    if sum(cheaper.shortfall.values()) <= sum(staffing.shortfall.values()) + 1e-9 and not overruns(inst, schedule, cheaper):
        return cheaper
    return staffing


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
    by_trial = trial_year_spend(inst, schedule, staffing)
    over = overruns(inst, schedule, staffing, by_trial)
    if not over:
        return set()
    freed = {t: {**years, "": sum(years.values())} for t, years in by_trial.items()}
    candidates = [t for t in schedule if t not in inst.forced_run and any(freed[t].get(y, 0.0) > 0 for y in over)]
    if not candidates:
        return None
    return _cheapest_cover(inst, schedule, candidates, freed, over)


def overruns(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    staffing: StaffingResult,
    by_trial: dict[str, dict[str, float]] | None = None,
) -> dict[str, float]:
    """Spend above budget per calendar year (the total keyed ``""``), only where there is some."""
    budget = inst.problem.budget
    if not budget.per_year and budget.total is None:
        return {}
    spend = year_totals(by_trial or trial_year_spend(inst, schedule, staffing))
    over = {y: spend[y] - cap for y, cap in budget.per_year.items() if spend[y] > cap * (1 + 1e-9) + 1e-6}
    if budget.total is not None and sum(spend.values()) > budget.total * (1 + 1e-9) + 1e-6:
        over[""] = sum(spend.values()) - budget.total
    return over


def _cheapest_cover(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    candidates: list[str],
    freed: dict[str, dict[str, float]],
    overruns: dict[str, float],
) -> set[str]:
    """The optional trials whose own spend covers every overrun at the least loss of net value.

    Sets of up to ``COVER_SIZE`` trials (each with the trials that need it) are tried; the
    loss of a set is its value less what it spends. Without any set that covers every
    overrun, the trial that frees the most overrun per unit of value goes, and the loop in
    :func:`shed` looks again. Only the ``COVER_CANDIDATES`` trials that free the most
    overrun per unit of net value lost are combined.
    """
    def relief(t: str) -> float:
        return sum(min(freed[t].get(y, 0.0), excess) for y, excess in overruns.items())

    def loss(trials: frozenset[str]) -> float:
        return sum(_net_value(inst, schedule, t, freed[t]) for t in trials)

    # Sets are only formed from the candidates that free the most overrun per unit of value
    # lost, so the number of sets (and the time) stays bounded on large portfolios.
    ranked = sorted(candidates, key=lambda t: (-relief(t) / max(_net_value(inst, schedule, t, freed[t]), 1.0), t))
    candidates = ranked[:COVER_CANDIDATES]
    closure = {t: _with_dependents(inst, schedule, t) for t in candidates}

    def covers(trials: frozenset[str]) -> bool:
        return all(sum(freed[t].get(y, 0.0) for t in trials) >= excess for y, excess in overruns.items())

    options = {
        trials
        for size in range(1, min(COVER_SIZE, len(candidates)) + 1)
        for combo in combinations(candidates, size)
        if not (trials := frozenset().union(*(closure[t] for t in combo))) & inst.forced_run
    }
    covering = [trials for trials in options if covers(trials)]
    if covering:
        return set(min(covering, key=lambda trials: (loss(trials), sorted(trials))))

    return {max(candidates, key=lambda t: (relief(t) / max(inst.trials[t].value, 1.0), t))}


def _with_dependents(inst: Instance, schedule: dict[str, tuple[str, int]], trial: str) -> frozenset[str]:
    """A trial and every scheduled trial that needs it, directly or not."""
    out, stack = {trial}, [trial]
    while stack:
        for nxt, _ in inst.successors(stack.pop()):
            if nxt in schedule and nxt not in out:
                out.add(nxt)
                stack.append(nxt)
    return frozenset(out)


def _net_value(inst: Instance, schedule: dict[str, tuple[str, int]], trial: str, spend: dict[str, float]) -> float:
    """What a trial adds to the value objective: its discounted value less its spend."""
    _, start = schedule[trial]
    return inst.discounted_value(trial, start) - spend[""]


def year_totals(by_trial: dict[str, dict[str, float]]) -> dict[str, float]:
    """Spend per calendar year, summed over trials (0 for a year nobody spends in)."""
    spend: dict[str, float] = defaultdict(float)
    for years in by_trial.values():
        for y, v in years.items():
            spend[y] += v
    return spend


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

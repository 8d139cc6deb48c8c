"""A constructive schedule: the plan a solve can always fall back on, and HiGHS's first incumbent.

Serial schedule generation places the trials that must run first (longest chain of
successors first), then, under the ``value`` objective, the optional trials whose
discounted value beats a rough cost estimate, best value per unit of cost first; each at
the earliest start whose demand fits what is left of the pool in people's primary roles,
flex and services, and (optional trials) whose estimated spend fits every year's budget.
Greedy staffing and shedding (in :mod:`models.pipeline`) then make it a fully staffed
plan within budget. Handing that schedule to HiGHS as a warm start means the portfolio
stage starts from a real plan, and keeping it as a candidate means a solve never returns
anything worse than this heuristic.
"""

from __future__ import annotations

import math
from collections import defaultdict

from models.formulation.instance import Instance
from models.heuristics.serial_staffing import staffed_serial
from models.heuristics.sgs import applies, best_schedule, longest_path_first, priority_rules, serial_schedule
from models.heuristics.shed import Staffed
from models.solver.progress import Deadline, cutoff

#: Staff are estimated at their role's mean rate times this (real rosters pay for skills and regions).
LABOUR_ESTIMATE_MARGIN = 1.05


class BudgetLedger:
    """Estimated spend per calendar year of what is placed so far, against the yearly and
    total caps, and service units against contract volumes (both span many months, which
    the month-by-month capacity check cannot see)."""

    def __init__(self, inst: Instance):
        self.inst = inst
        self.rates = _mean_rates(inst)
        budget = inst.problem.budget
        self.left = dict(budget.per_year)
        self.total_left = budget.total
        self.volume_left = dict(inst.service_volume)

    def spend(self, trial: str, option: str, start: int) -> dict[str, float]:
        inst = self.inst
        prof = inst.profiles[(trial, option)]
        out: dict[str, float] = defaultdict(float)
        for k in range(prof.duration):
            labour = sum(v * self.rates.get(r, 0.0) for r, v in prof.demand[k].items())
            out[inst.year_of[start + k]] += inst.month_spend(trial, option, k) + LABOUR_ESTIMATE_MARGIN * labour
        return out

    def fits(self, trial: str, option: str, start: int) -> bool:
        prof = self.inst.profiles[(trial, option)]
        if any(prof.volume(svc) > left + 1e-9 for svc, left in self.volume_left.items()):
            return False
        spend = self.spend(trial, option, start)
        if self.total_left is not None and sum(spend.values()) > self.total_left:
            return False
        return all(v <= self.left[y] for y, v in spend.items() if y in self.left)

    def book(self, trial: str, option: str, start: int) -> None:
        prof = self.inst.profiles[(trial, option)]
        for svc in self.volume_left:
            self.volume_left[svc] -= prof.volume(svc)
        spend = self.spend(trial, option, start)
        for y, v in spend.items():
            if y in self.left:
                self.left[y] -= v
        if self.total_left is not None:
            self.total_left -= sum(spend.values())


def constructive_schedule(inst: Instance) -> dict[str, tuple[str, int]] | None:
    """A schedule of every trial that must run and the worthwhile optional ones; None if SGS fails.

    For a pure scheduling problem the schedule that cut the start windows (see
    :func:`models.heuristics.sgs.tighten_for_makespan`) is the constructive one.
    """
    if applies(inst):
        schedule = inst.sgs_schedule if inst.sgs_schedule is not None else best_schedule(inst)
    else:
        order, optional = _priority(inst)
        schedule = serial_schedule(inst, order, optional=optional, ledger=BudgetLedger(inst))
    if schedule is not None and not volumes_hold(inst, schedule):
        return None  # trials that must run were placed in options that overrun a contract volume
    return schedule


def volumes_hold(inst: Instance, schedule: dict[str, tuple[str, int]]) -> bool:
    """Whether the schedule's service units over the horizon fit every contract volume."""
    return all(
        sum(inst.profiles[(t, o)].volume(svc) for t, (o, _) in schedule.items()) <= volume + 1e-9
        for svc, volume in inst.service_volume.items()
    )


def serial_plan(inst: Instance, deadline: Deadline = math.inf) -> Staffed | None:
    """The same trials in the same order placed with people booked as they go
    (:func:`models.heuristics.serial_staffing.staffed_serial`): a plan valid by construction, found
    wherever running trials one after another fits, however many roles people hold; None
    once the ``deadline`` passes or a stop is asked through it.

    Where the trials that must run do not fit the horizon in that order, the other classic
    priority rules (:func:`models.heuristics.sgs.priority_rules`) order them in turn: on
    PSPLIB-shaped portfolios, whose horizon is the best of several rules' makespans, one
    rule alone often overruns it, and without this plan a solve whose portfolio stage has
    not finished its root node returns nothing."""
    order, optional = _priority(inst)
    worthwhile = [t for t in order if t in optional]
    orders: list[list[str]] = []  # the first is _priority's own: longest path first
    for rule in priority_rules(inst):
        if (forced := [t for t in rule if t in inst.forced_run]) not in orders:
            orders.append(forced)
    for k, forced in enumerate(orders):
        if k and cutoff(deadline).passed():
            return None
        if (plan := staffed_serial(inst, forced + worthwhile, optional, deadline)) is not None:
            return plan
    return None


def _priority(inst: Instance) -> tuple[list[str], frozenset[str]]:
    """Trials that must run (longest chain of successors first), then, under ``value``, the
    optional ones whose value beats a rough cost estimate, best value per unit of cost first."""
    forced = [t for t in longest_path_first(inst) if t in inst.forced_run]
    optional: list[str] = []
    if inst.problem.objective.kind == "value":
        rates = _mean_rates(inst)
        density = {t: _value_density(inst, t, rates) for t in inst.trials if t not in inst.forced_run}
        optional = sorted((t for t, d in density.items() if d > 1.0), key=lambda t: (-density[t], t))
    return forced + optional, frozenset(optional)


def _value_density(inst: Instance, trial: str, mean_rate: dict[str, float]) -> float:
    """Value at the earliest start over the cheapest option's rough cost (staff at the role's mean rate)."""
    best = 0.0
    for o in inst.trials[trial].options:
        starts = inst.starts[(trial, o.id)]
        if not starts:
            continue
        prof = inst.profiles[(trial, o.id)]
        labour = sum(v * mean_rate.get(r, 0.0) for month in prof.demand for r, v in month.items())
        cost = inst.option_cost(trial, o.id) + labour
        discounted = inst.discounted_value(trial, starts[0])
        best = max(best, discounted / max(cost, 1.0))
    return best


def _mean_rates(inst: Instance) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(list)
    for p, person in inst.staff.items():
        totals[person.role].append(inst.rate(p))
    return {r: sum(v) / len(v) for r, v in totals.items()}

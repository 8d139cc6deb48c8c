"""The schedule core for the portfolio stage: CP-SAT on every trial, optional ones too,
where a role is scarce.

When a few specialists gate many trials, which trials run and when is a knapsack over
time on a coarse cumulative, where a time-indexed LP spreads each trial fractionally over
starts and specialists (the weakness PSPLIB's scarce-resource classes showed) and a
constraint solver packs the cumulative directly. Here CP-SAT is a *primal engine*: its
schedule, rostered, shed and filled in again
(:func:`models.pipeline.compile.portfolio_core`), is a candidate plan beside HiGHS's and
round 0's warm start (``SolveState.core_start``); a relaxation of the same model gives a
bound. HiGHS still proves the gap, and every plan still passes the checker.

**Why it is on** (:data:`IN_ENGINE`): on PSPLIB-shaped portfolios (survey family
``psplib_portfolio``: 30 trials, four roles of named people at PSPLIB's scarce resource
strength, value or weighted completion) HiGHS does not finish the time-indexed model's
root node in 20 s, and the core's schedule gave a better plan on 6 of 8 members (5-17 %
on five of them), the same on one in a third of the time, and 0.3 % worse on one
(docs/benchmarks.md, 2026-12-05). Where HiGHS is strong (``scarce_roles``, seed 0 of most
small families) it costs a fraction of a second and changes no plan by more than the gap.

When it runs (:func:`serves`): a role is *scarce* (:func:`scarce_roles`) when the trials
that need it cannot all run at once at their peaks on the role's certain capacity
(people in their primary role plus flex, :func:`models.heuristics.sgs.certain_capacity`),
and the median trial's peak takes at least :data:`SCARCE_SHARE` of that capacity, so that
only a few trials fit at a time. A trial's peak is the least, over its options that have
a start, of the option's largest monthly demand for the role (a trial with an option
that does without the role, such as full service, is not gated by it). The second
condition separates a scarce role from a merely busy one: on the reference portfolio
every trial's peak is a few per cent of its 500 people's capacity, the LP's fractional
starts are nearly a schedule, and the rule does not fire. Pure scheduling problems are
left to :mod:`models.heuristics.cp_schedule`.

The primal model, over the instance's start domains (windows, deadlines, predecessors and
pins already applied):

- a literal per (trial, option, start): at most one per trial, exactly one for a trial
  that must run; per (trial, option) a presence literal (their sum) and a start variable
  tied to the chosen start, with one optional interval per stretch of months of equal
  demand, so every monthly demand profile is exact;
- one cumulative per role on its certain capacity, one per service on its capacity and
  one per set of people eligible (skills, regions) for a role on some trial, holding the
  trials whose eligible people are among them (:func:`_eligibility`); contract volumes as
  a sum over the options chosen; no limits of concurrent trials (the roster copes, or sheds);
- predecessors: a trial runs only if its predecessor runs, and starts at least the lag
  after its end;
- the objective in the plan's own terms: each running trial's discounted value
  (``value``), its option's fixed and service costs, tardiness and the fragmentation floor
  (:meth:`models.formulation.instance.Instance.least_people`), plus *labour approximated*
  at each role's FTE-weighted mean rate (:func:`labour_rates`; the real roster's cost
  depends on who is free, which CP-SAT cannot hold exactly). ``weighted_completion`` and
  ``makespan`` weigh finish months and add the money scaled by ``penalty_scale``; every
  coefficient is scaled to whole numbers, the largest at :data:`OBJECTIVE_UNITS`;
- budgets: each year's (and the total) spend at those rates within the budget, less what
  a roster of an earlier schedule overran (``budget_cut``).

This model is neither a relaxation nor a restriction of the problem (labour approximated,
secondary roles left out, demand rounded up): nothing is claimed from its optimum.

The *relaxation* (``relaxed=True``) is the same model changed so that every plan's
schedule fits it and costs it no more than the plan's objective says: each role's
capacity counts every available person holding it, primary or secondary, at full FTE,
plus flex (:func:`relaxed_capacity`; the eligibility cumulatives likewise); labour is
priced at the cheapest person who may serve the trial, flex or the shortfall price
(:func:`least_rate`), and where shortfall is priced no role capacity binds and labour
spends no budget; demand, spend and objective terms are rounded down, capacities and
budgets up. Its proven bound (CP-SAT's best bound, rescaled) is then a bound on every
plan's objective and joins round 0's (``SolveState.lp_bound``). Its infeasibility is not
used: other stages say why a problem is infeasible.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Literal

from ortools.sat.python import cp_model

from models.formulation.instance import Instance
from models.formulation.portfolio import completion_weights
from models.heuristics.cp_schedule import Units, configured_solver, cumulative, run_search, stretches
from models.heuristics.sgs import Schedule, applies, certain_capacity
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings

#: Whether the compile stage runs the portfolio core where :func:`serves` says so (see
#: the module docstring for the measurements behind it). ``bench/families.py
#: --without-portfolio-core`` turns it off to measure again.
IN_ENGINE = True
#: Share of the time left that the portfolio core may take before the portfolio stage.
#: On the ``scarce_roles`` survey family (9-18 trials) CP-SAT proves its own model optimal
#: well within a second and returns; the limit matters only where it does not.
PORTFOLIO_CORE_SHARE = 0.25
#: Times the core searches again with a year's budget cut by what a roster of its last
#: schedule overran (see :func:`models.pipeline.compile.portfolio_core`).
CORE_REPAIRS = 3
#: A role is scarce only where the median trial's peak takes at least this share of its
#: certain capacity: then at most a handful of trials fit at once (see the module docstring).
SCARCE_SHARE = 0.25
#: Most (trial, option, start) literals the model is built with, a guard on its size so
#: that building it never takes the portfolio stage's time (``scarce_roles`` members have
#: 51-228, the reference portfolio 330).
MAX_LITERALS = 20_000
#: The largest objective coefficient once scaled to whole numbers: CP-SAT's objective is
#: integral, and coefficients near 1e9 keep sums of thousands of terms far inside int64
#: while keeping every term to about a billionth of the largest.
OBJECTIVE_UNITS = 1e9
#: The stage name the search reports progress and its timing under.
STAGE = "portfolio-core"


@dataclass(frozen=True)
class PortfolioCoreResult:
    """What one search found: ``optimal`` when CP-SAT proved its model optimal, ``feasible``
    when it found a schedule without proof, ``unknown`` otherwise (a model it proves
    infeasible included: other stages say why a problem is infeasible). ``schedule`` holds
    the trials it runs; ``bound`` (relaxed model only) is an objective no plan can beat,
    in the plan's units and sense."""

    status: Literal["optimal", "feasible", "unknown"]
    schedule: Schedule | None
    bound: float | None
    seconds: float


def scarce_roles(inst: Instance) -> list[str]:
    """The roles that make this problem one for the portfolio core (see the module docstring)."""
    capacity, _ = certain_capacity(inst)
    scarce = []
    for role in inst.roles:
        top = max(capacity[role], default=0.0)
        peaks = [p for t in inst.trials if (p := _peak(inst, t, role)) > 0]
        if top > 0 and peaks and sum(peaks) > top + 1e-9 and statistics.median(peaks) >= SCARCE_SHARE * top:
            scarce.append(role)
    return scarce


def _peak(inst: Instance, trial: str, role: str) -> float:
    """The least, over the trial's options with a start, of the option's largest monthly demand for ``role``."""
    options = [o.id for o in inst.trials[trial].options if inst.starts[(trial, o.id)]]
    return min((max((m.get(role, 0.0) for m in inst.profiles[(trial, o)].demand), default=0.0) for o in options), default=0.0)


def serves(inst: Instance) -> bool:
    """Whether the portfolio core runs on this problem: a role is scarce and the pure
    scheduling core (:func:`models.heuristics.sgs.applies`) does not serve it already."""
    if applies(inst):
        return False
    return sum(len(starts) for starts in inst.starts.values()) <= MAX_LITERALS and bool(scarce_roles(inst))


def solve_portfolio_core(
    inst: Instance,
    settings: EngineSettings,
    seconds: float,
    work: float,
    monitor: Monitor | None = None,
    relaxed: bool = False,
    budget_cut: dict[str, float] | None = None,
) -> PortfolioCoreResult:
    """The best schedule of the model (the primal one, or with ``relaxed`` the relaxation
    and its bound), searched for ``seconds`` of wall time on every core; in reproducible
    mode on one worker from ``settings.seed`` for ``work`` seconds of CP-SAT's
    deterministic time, the clock only a guard. ``budget_cut`` (primal model only) takes
    that much off a year's budget (``""``: the total), where a roster of an earlier
    schedule spent more than the model's labour rates said."""
    began = time.perf_counter()
    built = _build(inst, relaxed, {} if relaxed else budget_cut or {})
    if built is None:
        return PortfolioCoreResult("unknown", None, None, time.perf_counter() - began)
    solver = configured_solver(settings, seconds, work)
    # Its objective is scaled (and approximate in the primal model): progress shows plans, not it.
    status = run_search(solver, built.model, monitor, report=False)
    used = time.perf_counter() - began
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return PortfolioCoreResult("unknown", None, None, used)
    schedule = {t: (o, s) for (t, o, s), x in built.chosen.items() if solver.boolean_value(x)}
    bound = None
    if relaxed:
        least = solver.best_objective_bound / built.scale + built.constant
        bound = -least if inst.problem.objective.kind == "value" else least
    return PortfolioCoreResult("optimal" if status == cp_model.OPTIMAL else "feasible", schedule, bound, used)


def labour_rates(inst: Instance) -> dict[str, float]:
    """Each role's approximate price of an FTE-month: the FTE-weighted mean rate of the
    people holding it as their primary role, or its flex rate where nobody does."""
    cost: dict[str, float] = {}
    fte: dict[str, float] = {}
    for person in inst.staff.values():
        cost[person.role] = cost.get(person.role, 0.0) + person.monthly_cost
        fte[person.role] = fte.get(person.role, 0.0) + person.fte
    return {r: cost[r] / fte[r] if fte.get(r) else inst.flex_rate.get(r, 0.0) for r in inst.roles}


def least_rate(inst: Instance, trial: str, role: str) -> float:
    """The least any plan pays per FTE-month of ``role`` on ``trial``: the cheapest person
    who may serve it, flex, or (where it is priced) leaving it uncovered; 0 where none is
    possible (the demand then cannot be met at all, and 0 stays a lower bound)."""
    prices = [inst.rate(p) for p in inst.eligible(trial, role)[:1]]
    if inst.flex_max.get(role, 0.0) > 0:
        prices.append(inst.flex_rate[role])
    if (shortfall := inst.problem.objective.weights.shortfall) is not None:
        prices.append(shortfall)
    return min(prices, default=0.0)


def relaxed_capacity(inst: Instance) -> dict[str, list[float]]:
    """Per role and month, more than any plan can staff: flex plus every available person
    holding the role, primary or secondary, at their full FTE (a person split over roles
    gives each role at most that)."""
    capacity = {r: [inst.flex_max.get(r, 0.0)] * inst.months for r in inst.roles}
    for p, person in inst.staff.items():
        for role in inst.staff_roles[p]:
            for m in range(inst.months):
                if inst.available[p][m]:
                    capacity[role][m] += person.fte
    return capacity


@dataclass
class _Built:
    model: cp_model.CpModel
    #: The (trial, option, start) literals.
    chosen: dict[tuple[str, str, int], cp_model.IntVar]
    #: Model objective units per unit of the objective in minimisation form, and what the
    #: model leaves out of that objective (a constant).
    scale: float
    constant: float


class _Rounding:
    """Whole numbers for the model: to the nearest in the primal model; in the relaxation
    always in the direction that lets more plans in and makes them look better (demand,
    spend and costs down, capacity and budgets up), so it stays a relaxation."""

    def __init__(self, relaxed: bool) -> None:
        self.relaxed = relaxed
        self.units = Units()

    def use(self, value: float) -> int:
        return self.units.down(value) if self.relaxed else self.units.up(value)

    def limit(self, value: float) -> int:
        return self.units.up(value) if self.relaxed else self.units.down(value)

    def spend(self, value: float) -> int:
        return math.floor(value) if self.relaxed else math.ceil(value)

    def budget(self, value: float) -> int:
        return math.ceil(value) if self.relaxed else math.floor(value)

    def term(self, value: float) -> int:
        return math.floor(value) if self.relaxed else round(value)


def _build(inst: Instance, relaxed: bool, budget_cut: dict[str, float]) -> _Built | None:
    """The model (see the module docstring); None if a trial that must run has no start."""
    model = cp_model.CpModel()
    whole = _Rounding(relaxed)
    problem = inst.problem
    kind = problem.objective.kind
    mean = labour_rates(inst)
    chosen: dict[tuple[str, str, int], cp_model.IntVar] = {}
    runs: dict[str, list[cp_model.IntVar]] = {}
    options: dict[str, list[tuple[str, cp_model.IntVar, cp_model.IntVar]]] = {}
    uses: dict[tuple[str, str], list[tuple[cp_model.IntervalVar, int]]] = {}
    by_trial: dict[tuple[str, str], list[tuple[cp_model.IntervalVar, int]]] = {}
    volumes: dict[str, list[tuple[cp_model.IntVar, int]]] = {}
    #: The objective in minimisation form, as float coefficients on literals (scaled below).
    terms: list[tuple[float, cp_model.IntVar]] = []
    spend: dict[str, list[tuple[float, cp_model.IntVar]]] = {}
    weights = completion_weights(inst) if kind == "weighted_completion" else {}
    makespan = model.new_int_var(0, inst.months, "makespan") if kind == "makespan" else None
    for t in sorted(inst.trials):
        runs[t] = []
        options[t] = []
        rates = {r: least_rate(inst, t, r) for r in inst.roles} if relaxed else mean
        # Uncovered demand spends no budget: where it is priced, the relaxation counts no labour against budgets.
        spent = {r: 0.0 for r in inst.roles} if relaxed and problem.objective.weights.shortfall is not None else rates
        for o in (o.id for o in inst.trials[t].options if inst.starts[(t, o.id)]):
            prof = inst.profiles[(t, o)]
            labour = [sum(v * rates[r] for r, v in month.items()) for month in prof.demand]
            paid = [sum(v * spent[r] for r, v in month.items()) for month in prof.demand]
            fixed = problem.objective.weights.fragmentation * inst.least_people(t, o) + sum(labour) + inst.option_cost(t, o)
            literals = []
            for s in inst.starts[(t, o)]:
                x = model.new_bool_var(f"x[{t},{o},{s}]")
                chosen[(t, o, s)] = x
                literals.append((s, x))
                money = fixed + problem.objective.weights.tardiness * inst.trials[t].tardiness_penalty * inst.late(t, o, s)
                terms.append((_objective_term(inst, kind, weights, t, s, prof.duration, money), x))
                for k in range(prof.duration):
                    spend.setdefault(inst.year_of[s + k], []).append((paid[k] + inst.month_spend(t, o, k), x))
            present = model.new_bool_var(f"p[{t},{o}]")
            model.add(present == sum(x for _, x in literals))
            start = model.new_int_var_from_domain(cp_model.Domain.from_values(inst.starts[(t, o)]), f"s[{t},{o}]")
            model.add(start == sum(s * x for s, x in literals)).only_enforce_if(present)
            if makespan is not None:
                model.add(makespan >= start + prof.duration).only_enforce_if(present)
            for offset, length, month in stretches(prof):
                interval = model.new_optional_fixed_size_interval_var(start + offset, length, present, f"I[{t},{o},{offset}]")
                for r, v in prof.demand[month].items():
                    uses.setdefault(("role", r), []).append((interval, whole.use(v)))
                    by_trial.setdefault((r, t), []).append((interval, whole.use(v)))
                for svc, u in prof.services[month].items():
                    uses.setdefault(("service", svc), []).append((interval, whole.use(u)))
            for svc in inst.service_volume:
                if (u := prof.volume(svc)) > 0:
                    volumes.setdefault(svc, []).append((present, whole.use(u)))
            runs[t].extend(x for _, x in literals)
            options[t].append((o, start, present))
        if t in inst.forced_run:
            if not runs[t]:
                return None
            model.add_exactly_one(runs[t])
        elif runs[t]:
            model.add_at_most_one(runs[t])
    _predecessors(model, inst, runs, options)
    roles = relaxed_capacity(inst) if relaxed else certain_capacity(inst)[0]
    # Where shortfall is priced, demand may go uncovered: role capacity binds no plan.
    binding = not (relaxed and problem.objective.weights.shortfall is not None)
    for (kind_, name), items in sorted(uses.items()):
        if kind_ == "role" and not binding:
            continue
        capacity = roles.get(name, [0.0] * inst.months) if kind_ == "role" else inst.service_capacity[name]
        cumulative(model, items, [whole.limit(c) for c in capacity], f"{kind_}:{name}")
    if binding:
        _eligibility(model, inst, by_trial, whole)
    for svc, volume_terms in sorted(volumes.items()):
        volume = whole.limit(inst.service_volume[svc])
        if sum(u for _, u in volume_terms) > volume:
            model.add(sum(u * p for p, u in volume_terms) <= volume)
    _budgets(model, inst, spend, whole, budget_cut)
    scale = _objective(model, terms, makespan, whole)
    constant = sum(w * (inst.months + 1) for w in weights.values())
    return _Built(model, chosen, scale, constant)


def _eligibility(
    model: cp_model.CpModel, inst: Instance, by_trial: dict[tuple[str, str], list[tuple[cp_model.IntervalVar, int]]], whole: _Rounding
) -> None:
    """Where skills or regions narrow who may serve a role on a trial: for each trial's set
    of eligible people, the demand of every trial whose own set lies within it fits those
    people (each at their FTE while available) plus the role's flex, which serves any
    trial. Every plan meets this (its named FTE on those trials comes from those people
    only); in the primal model only people in their primary role count, as in the role's
    own cumulative."""
    for role in inst.roles:
        trials = sorted(t for r, t in by_trial if r == role)
        holders = [p for p, held in inst.staff_roles.items() if role in held and (whole.relaxed or inst.staff[p].role == role)]
        sets = {t: frozenset(p for p in holders if inst.can_serve(p, t, role)) for t in trials}
        for group in sorted(set(sets.values()) - {frozenset(holders)}, key=sorted):
            items = [item for t in trials if sets[t] <= group for item in by_trial[(role, t)]]
            capacity = [
                inst.flex_max.get(role, 0.0) + sum(inst.staff[p].fte for p in group if inst.available[p][m]) for m in range(inst.months)
            ]
            cumulative(model, items, [whole.limit(c) for c in capacity], f"eligible:{role}:{len(group)}")


def _objective_term(inst: Instance, kind: str, weights: dict[str, float], trial: str, start: int, duration: int, money: float) -> float:
    """What running ``trial`` from ``start`` adds to the objective in minimisation form
    (a trial left out adds nothing but, under ``weighted_completion``, its weight times one
    month past the horizon: that constant is taken out of every running trial's term)."""
    objective = inst.problem.objective
    if kind == "value":
        return money - inst.discounted_value(trial, start)
    if kind == "cost":
        return money
    if kind == "weighted_completion":
        return weights[trial] * (start + duration - inst.months - 1) + objective.penalty_scale * money
    return objective.penalty_scale * money


def _predecessors(
    model: cp_model.CpModel,
    inst: Instance,
    runs: dict[str, list[cp_model.IntVar]],
    options: dict[str, list[tuple[str, cp_model.IntVar, cp_model.IntVar]]],
) -> None:
    """A trial runs only if each predecessor runs, and starts the lag after its end."""
    for t, trial in inst.trials.items():
        if not runs[t]:
            continue
        for pred in trial.predecessors:
            if not runs.get(pred.trial):
                model.add(sum(runs[t]) == 0)
                continue
            model.add(sum(runs[t]) <= sum(runs[pred.trial]))
            for _, start, present in options[t]:
                for o, before, was in options[pred.trial]:
                    duration = inst.profiles[(pred.trial, o)].duration
                    model.add(start >= before + duration + pred.lag).only_enforce_if([present, was])


def _budgets(
    model: cp_model.CpModel, inst: Instance, spend: dict[str, list[tuple[float, cp_model.IntVar]]], whole: _Rounding, cut: dict[str, float]
) -> None:
    """Each year's (and the total) spend at the model's labour rates within its budget less
    ``cut``, in whole currency units."""
    budget = inst.problem.budget
    for year, cap in budget.per_year.items():
        if year in spend:
            model.add(sum(whole.spend(c) * x for c, x in spend[year]) <= whole.budget(cap - cut.get(year, 0.0)))
    if budget.total is not None:
        everything = sum(whole.spend(c) * x for items in spend.values() for c, x in items)
        model.add(everything <= whole.budget(budget.total - cut.get("", 0.0)))


def _objective(model: cp_model.CpModel, terms: list[tuple[float, cp_model.IntVar]], makespan: cp_model.IntVar | None, whole: _Rounding) -> float:
    """Minimise the terms (and the makespan, one month worth one unit of the plan's
    objective) in whole numbers, the largest term at about ``OBJECTIVE_UNITS``; returns
    the model's units per unit of the objective."""
    largest = max([abs(c) for c, _ in terms] + [1.0 if makespan is not None else 0.0])
    scale = OBJECTIVE_UNITS / largest if largest > 0 else 1.0
    expression = sum(whole.term(c * scale) * x for c, x in terms)
    if makespan is not None:
        expression += whole.term(scale) * makespan
    model.minimize(expression)
    return scale

"""The elastic portfolio stage: how little must change for an infeasible problem to have a plan.

A planner told "infeasible" needs the change that fixes it: "budget 2028 short by
1,200,000", "CRA short by up to 6.5 FTE in 2027-04..2027-09", "T05's deadline 3 months
later". The elastic model is stage 1 (:class:`models.formulation.portfolio.PortfolioModel`)
with some of its hard rows given slack, and an objective that is the slack alone:

- ``budget``: ``spend[y] <= budget[y] + over[y]`` per capped year and
  ``sum_y spend[y] <= total + over_total``; minimise the extra money.
- ``capacity``: ``demand[r,m] <= use[r,m] + flex[r,m] + short[r,m]``, each short FTE bought
  at the role's flex rate (or, with no flex, its dearest person's rate) and counted in that
  year's spend; minimise the FTE-months bought.
- ``services``: ``units[svc,m] <= capacity[svc,m] + more[svc,m]`` per service-month (and a
  contract volume's row likewise); minimise the units added.
- ``deadlines``: mandatory trials may start late (the ``cost`` objective's hard deadlines
  opened); minimise ``sum slip[t,o,s] * x[t,o,s]``, the months each ends past its deadline.

Each kind alone gives the least change of that kind (in its own unit: no weights to
choose). Where none alone is enough, ``combined`` relaxes them all and counts money (and
units at their price, at least 1) in FTE-months at the mean staff rate and a month of slip
as one FTE-month. Stage 1 is a
relaxation of the whole problem, so what it finds is at least what the problem needs; the
pipeline solves the problem again with the change applied (:func:`apply_relaxation`) to
say whether it is enough.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import TypeVar

import pyomo.environ as pyo

from models.contract.plan import ExtraFte, ExtraUnits, Relaxation
from models.contract.problem import Flex, Problem, month_at, month_index
from models.formulation.instance import compile_instance
from models.formulation.portfolio import PortfolioModel, Reserve
from models.solver.highs import PersistentHighs, TriviallyInfeasible, add_row, solve
from models.solver.settings import EngineSettings

KINDS = ("budget", "capacity", "services", "deadlines")
#: Relative gap of the elastic solve: the least change is asked for, not a change.
ELASTIC_GAP = 1e-4
#: Extra FTE is rounded up to this (the smallest FTE a problem may state).
FTE_STEP = 1e-3


def buy_rate(problem: Problem, role: str) -> float:
    """What an extra FTE-month of ``role`` costs: the role's flex rate, else the dearest rate
    of anyone holding the role (a hire like the dearest one), else 0."""
    for f in problem.flex:
        if f.role == role:
            return f.monthly_rate
    return max((s.monthly_cost / s.fte for s in problem.staff if role == s.role or role in s.secondary_roles), default=0.0)


def kinds_for(problem: Problem) -> list[str]:
    """The kinds of change that can matter for ``problem``: budgets it caps, demand it
    must cover in full, and deadlines that are hard (mandatory trials under ``cost``)."""
    kinds = []
    if problem.budget.per_year or problem.budget.total is not None:
        kinds.append("budget")
    if problem.objective.weights.shortfall is None:
        kinds.append("capacity")
    if problem.services:
        kinds.append("services")
    if problem.objective.kind == "cost" and any(t.mandatory and t.deadline for t in problem.trials):
        kinds.append("deadlines")
    return kinds


class ElasticModel(PortfolioModel):
    """Stage 1 with slack on the rows of ``kinds`` and the slack as its objective."""

    name = "elastic"

    def __init__(self, problem: Problem, settings: EngineSettings, kinds: Iterable[str]):
        self.kinds = frozenset(kinds)
        self.original = problem
        opened = problem.model_copy(deep=True)
        if "deadlines" in self.kinds:
            for t in opened.trials:
                if t.mandatory:
                    t.deadline = None
        inst = compile_instance(opened)
        self.due = {t.id: problem.index(t.deadline) if t.deadline and t.mandatory else None for t in problem.trials}
        self.buy = {r: buy_rate(problem, r) for r in inst.roles}
        rates = [s.monthly_cost / s.fte for s in problem.staff]
        self.money_unit = max(1.0, sum(rates) / len(rates)) if rates else 1.0
        #: The elastic service rows: (service, month index), or (service, None) for a contract volume.
        self.more_index: list[tuple[str, int | None]] = []
        super().__init__(inst, settings, Reserve())

    def slip(self, i: int) -> int:
        """Months start ``i`` ends past the deadline this model opened (a mandatory trial's,
        when deadlines are elastic); 0 for a deadline that stayed as it was (soft under
        ``value``, where lateness is priced and no change)."""
        t, o, s = self.keys[i]
        due = self.due[t]
        return 0 if due is None else max(0, s + self.inst.profiles[(t, o)].duration - 1 - due)

    def _staffing_variables(self) -> None:
        """Shortfall columns on every role-month when capacity is elastic."""
        if "capacity" in self.kinds:
            self.shortfall_price = 1.0
        super()._staffing_variables()

    def _budget(self) -> None:
        """spend[y] + bought[y] <= budget[y] + over[y]; sum over years <= total + over_total
        (``over`` fixed at 0 unless the budget is elastic)."""
        m, inst = self.m, self.inst
        budget = inst.problem.budget
        elastic = "budget" in self.kinds
        capped = [y for y in inst.years if y in budget.per_year]
        m.over_year = pyo.Var(capped, domain=pyo.NonNegativeReals, bounds=(0, None if elastic else 0))
        m.over_total = pyo.Var(domain=pyo.NonNegativeReals, bounds=(0, None if elastic and budget.total is not None else 0))
        m.budget = pyo.ConstraintList()
        if not capped and budget.total is None:
            return
        scale = self.settings.money_scale
        bought = defaultdict(list)
        if "capacity" in self.kinds:
            for r, mo in self.short_index:
                if self.buy.get(r, 0.0) > 0:
                    bought[inst.year_of[mo]].append((self.buy[r], m.short[r, mo]))
        year_spend = {}
        for y in inst.years:
            ext = sum(c * m.x[i] for i, c in self.spend_terms[y].items())
            year_spend[y] = ext + m.labour_factor[y] * self.labour[y] + sum(c * v for c, v in bought[y])
            if y in budget.per_year:
                add_row(m.budget, scale * year_spend[y] <= scale * (budget.per_year[y] + m.over_year[y]))
        if budget.total is not None:
            add_row(m.budget, scale * sum(year_spend.values()) <= scale * (budget.total + m.over_total))

    def _eligible_capacity(self) -> None:
        """Stage 1's restricted-set rows, with the FTE bought where capacity is elastic: extra FTE
        is flex, which serves any trial whatever its skills and regions, so a role's short
        FTE adds to every restricted set's capacity of that role (without these rows, a trial
        that nobody in the pool can serve looks fixed by a change that does not fix it)."""
        if "capacity" not in self.kinds:
            super()._eligible_capacity()
            return
        m = self.m
        m.eligible = pyo.ConstraintList()
        short = set(self.short_index)
        for r, mo, terms, cap in self.eligible_rows():
            extra = m.short[r, mo] if (r, mo) in short else 0.0
            add_row(m.eligible, sum(v * m.x[i] for i, v in terms) <= cap + extra)

    def _service_capacity(self) -> None:
        """Service rows as stage 1 states them, each with ``more`` units when services are elastic."""
        if "services" not in self.kinds:
            super()._service_capacity()
            return
        m, inst = self.m, self.inst
        m.service_cap = pyo.ConstraintList()
        rows = []
        for (svc, mo), terms in self.service_terms.items():
            if sum(u for _, u in terms) > inst.service_capacity[svc][mo]:
                rows.append(((svc, mo), sum(u * m.x[i] for i, u in terms), inst.service_capacity[svc][mo]))
        for svc, volume in sorted(inst.service_volume.items()):
            terms = [(i, u) for i, (t, o, _) in enumerate(self.keys) if (u := inst.profiles[(t, o)].volume(svc)) > 0]
            rows.append(((svc, None), sum(u * m.x[i] for i, u in terms), volume))
        self.more_index = [key for key, _, _ in rows]
        m.more = pyo.Var(range(len(rows)), domain=pyo.NonNegativeReals)
        for j, (_, used, cap) in enumerate(rows):
            if not isinstance(used, (int, float)):
                add_row(m.service_cap, used <= cap + m.more[j])

    def _objective(self) -> None:
        """Minimise the slack: money (in FTE-months at the mean staff rate), FTE-months bought
        and months of slip, of the kinds that are elastic."""
        m = self.m
        terms = []
        if "budget" in self.kinds:
            terms.append((sum(m.over_year.values()) + m.over_total) / self.money_unit)
        if "capacity" in self.kinds:
            terms.append(sum(m.short[k] for k in self.short_index))
        if "services" in self.kinds:
            price = {svc.id: svc.unit_cost for svc in self.original.services}
            weight = (lambda svc: max(1.0, price.get(svc, 0.0)) / self.money_unit) if len(self.kinds) > 1 else (lambda svc: 1.0)
            terms.append(sum(weight(svc) * m.more[j] for j, (svc, _) in enumerate(self.more_index)))
        if "deadlines" in self.kinds:
            terms.append(sum(slip * m.x[i] for i in range(len(self.keys)) if (slip := self.slip(i))))
        m.obj = pyo.Objective(expr=sum(terms), sense=pyo.minimize)

    def relaxation(self, kind: str, proven: bool) -> Relaxation:
        """The change the solution in the model asks for, rounded up to what a problem states."""
        m, problem = self.m, self.original
        per_year = {y: float(math.ceil(v - 1e-6)) for y in m.over_year if (v := _value(m.over_year[y])) > 0.5}
        total = float(math.ceil(over - 1e-6)) if (over := _value(m.over_total)) > 0.5 else 0.0
        extra = [
            ExtraFte(role=r, month=problem.month(mo), fte=math.ceil(v / FTE_STEP - 1e-6) * FTE_STEP)
            for r, mo in sorted(self.short_index, key=lambda k: (k[0], k[1]))
            if (v := pyo.value(m.short[r, mo])) > FTE_STEP / 2
        ]
        slips = {
            self.keys[i][0]: slip
            for i in range(len(self.keys))
            if "deadlines" in self.kinds and pyo.value(m.x[i]) > 0.5 and (slip := self.slip(i))
        }
        units = [
            ExtraUnits(service=svc, month=None if mo is None else problem.month(mo), units=float(math.ceil(v - 1e-6)))
            for j, (svc, mo) in enumerate(self.more_index)
            if (v := _value(m.more[j])) > 1e-6
        ]
        relaxation = Relaxation(
            kind=kind,  # type: ignore[arg-type]
            summary="",
            budget_per_year=per_year,
            budget_total=total,
            extra_fte=extra,
            flex_rate={e.role: self.buy.get(e.role, 0.0) for e in extra},
            extra_units=units,
            deadline_slips=slips,
        )
        relaxation.summary = describe(problem, relaxation) + ("" if proven else " (the least found in the time left)")
        return relaxation


def _value(var: pyo.Var) -> float:
    """A slack's value; 0 for one in no row (HiGHS never saw it)."""
    return float(pyo.value(var, exception=False) or 0.0)


def smallest_relaxation(problem: Problem, settings: EngineSettings, kinds: Iterable[str], seconds: float) -> Relaxation | None:
    """The least change of ``kinds`` after which stage 1 has a plan (None: none within ``seconds``
    or none at all). ``kinds`` of one kind name the relaxation after it; several, ``combined``."""
    kinds = list(kinds)
    try:
        model = ElasticModel(problem, settings, kinds)
    except TriviallyInfeasible:
        return None
    outcome = solve(model.m, settings, seconds, ELASTIC_GAP, solver=PersistentHighs())
    if not outcome.has_solution:
        return None
    return model.relaxation(kinds[0] if len(kinds) == 1 else "combined", outcome.proven_optimal)


def scaled(problem: Problem, relaxation: Relaxation, factor: float) -> Relaxation:
    """The change with its money and FTE multiplied by ``factor`` (deadline slips kept: a
    month more each would move trials the change never named), described again."""
    if factor == 1.0:
        return relaxation
    change = relaxation.model_copy(deep=True)
    change.budget_per_year = {y: float(math.ceil(v * factor)) for y, v in relaxation.budget_per_year.items()}
    change.budget_total = float(math.ceil(relaxation.budget_total * factor))
    for e in change.extra_fte:
        e.fte = math.ceil(e.fte * factor / FTE_STEP - 1e-6) * FTE_STEP
    for u in change.extra_units:
        u.units = float(math.ceil(u.units * factor - 1e-6))
    change.scale = factor
    change.summary = describe(problem, change)
    return change


def apply_relaxation(problem: Problem, relaxation: Relaxation) -> Problem:
    """``problem`` with the change made: budgets raised, each role's flex raised by the most
    extra FTE any month needs (a new flex entry at ``flex_rate`` for a role without one),
    deadlines moved later."""
    p = problem.model_copy(deep=True)
    for year, extra in relaxation.budget_per_year.items():
        p.budget.per_year[year] = p.budget.per_year.get(year, 0.0) + extra
    if relaxation.budget_total and p.budget.total is not None:
        p.budget.total += relaxation.budget_total
    most: dict[str, float] = defaultdict(float)
    for e in relaxation.extra_fte:
        most[e.role] = max(most[e.role], e.fte)
    flex = {f.role: f for f in p.flex}
    for role, fte in sorted(most.items()):
        if role in flex:
            flex[role].max_fte += fte
        else:
            p.flex.append(Flex(role=role, monthly_rate=relaxation.flex_rate.get(role, buy_rate(p, role)), max_fte=fte))
    services = {svc.id: svc for svc in p.services}
    for extra in relaxation.extra_units:
        svc = services[extra.service]
        if extra.month is None:
            svc.contract_volume = (svc.contract_volume or 0.0) + extra.units
        else:
            monthly = svc.capacity if isinstance(svc.capacity, list) else [svc.capacity] * p.horizon.months
            monthly = monthly + [monthly[-1]] * (p.horizon.months - len(monthly))
            monthly[p.index(extra.month)] += extra.units
            svc.capacity = monthly
    for t in p.trials:
        if t.id in relaxation.deadline_slips and t.deadline is not None:
            t.deadline = month_at(p.horizon.start, month_index(t.deadline, p.horizon.start) + relaxation.deadline_slips[t.id])
    return p


def describe(problem: Problem, relaxation: Relaxation) -> str:
    """The change in plain words: "budget 2028 short by 1,200,000; CRA short by up to 6.5 FTE
    in 2027-04..2027-09 (21.0 FTE-months at 9,000); T05's deadline 2028-06 moved 3 months later"."""
    parts = [f"budget {y} short by {v:,.0f}" for y, v in sorted(relaxation.budget_per_year.items())]
    if relaxation.budget_total:
        parts.append(f"total budget short by {relaxation.budget_total:,.0f}")
    by_role: dict[str, list[ExtraFte]] = defaultdict(list)
    for e in relaxation.extra_fte:
        by_role[e.role].append(e)
    for role, extras in sorted(by_role.items()):
        for run in _runs(problem, extras):
            first, last = run[0].month, run[-1].month
            span = first if first == last else f"{first}..{last}"
            most = max(e.fte for e in run)
            fte_months = sum(e.fte for e in run)
            up_to = "" if all(abs(e.fte - most) < 1e-9 for e in run) else "up to "
            rate = relaxation.flex_rate.get(role, 0.0)
            parts.append(f"{role} short by {up_to}{most:g} FTE in {span} ({fte_months:g} FTE-months, bought at {rate:,.0f} each)")
    parts += _units_said(problem, relaxation.extra_units)
    deadlines = {t.id: t.deadline for t in problem.trials}
    for trial, months in sorted(relaxation.deadline_slips.items()):
        due = deadlines.get(trial)
        moved = month_at(problem.horizon.start, month_index(due, problem.horizon.start) + months) if due else "?"
        parts.append(f"{trial}'s deadline {due} moved {months} month(s) later (to {moved})")
    return "; ".join(parts) or "no change"


_Monthly = TypeVar("_Monthly", ExtraFte, ExtraUnits)


def _runs(problem: Problem, extras: list[_Monthly]) -> list[list[_Monthly]]:
    """Consecutive months grouped: one line per contiguous span (extras with a month)."""
    runs: list[list[_Monthly]] = []
    for e in sorted(extras, key=lambda e: e.month or ""):
        if runs and problem.index(e.month or "") == problem.index(runs[-1][-1].month or "") + 1:
            runs[-1].append(e)
        else:
            runs.append([e])
    return runs


def _units_said(problem: Problem, extras: list[ExtraUnits]) -> list[str]:
    """"service central-lab short by up to 40 units in 2028-02..2028-04 (90 units)"; a contract
    volume's as "service smo's contract volume short by 12 units"."""
    out = []
    for svc in sorted({e.service for e in extras}):
        mine = [e for e in extras if e.service == svc]
        for e in mine:
            if e.month is None:
                out.append(f"service {svc}'s contract volume short by {e.units:g} units")
        for run in _runs(problem, [e for e in mine if e.month is not None]):
            most, total = max(e.units for e in run), sum(e.units for e in run)
            span = run[0].month if len(run) == 1 else f"{run[0].month}..{run[-1].month}"
            up_to = "" if all(e.units == most for e in run) else "up to "
            out.append(f"service {svc} short by {up_to}{most:g} units in {span} ({total:g} units)")
    return out

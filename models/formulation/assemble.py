"""The §3 plan of a staffed schedule: trials, assignments, role- and service-months, budget, KPIs.

Every plan the engine returns, whichever stage or model found its schedule and roster,
is assembled here, so the objective it reports is the documented formula
(:mod:`models.formulation.objective`) applied to what it contains.
"""

from __future__ import annotations

import math
from collections import defaultdict

from models.formulation.explain import explain
from models.formulation.instance import Block, Instance
from models.formulation.objective import objective_terms
from models.contract.precision import money_objective, round_figures
from models.contract.plan import (
    FTE_DECIMALS,
    Assignment,
    BudgetReport,
    Kpis,
    Plan,
    RoleMonth,
    ServiceMonth,
    ServiceVolume,
    StageTiming,
    TrialCost,
    TrialCoverage,
    TrialPlan,
    YearSpend,
)
from models.solver.progress import relative_gap
from models.formulation.staffing import StaffingResult, demand_profile, flex_shares


def build_plan(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    staffing: StaffingResult,
    timings: list[StageTiming],
    explained: bool = True,
) -> Plan:
    """Assemble the §3 plan and compute its objective by the documented formula
    (``explained=False`` skips the explanations, for candidates that are only compared)."""
    problem = inst.problem
    demand = demand_profile(inst, schedule)
    named: dict[tuple[str, str, int], float] = defaultdict(float)
    staff_cost: dict[str, float] = defaultdict(float)
    for b in staffing.blocks:
        for mo in range(b.first, b.last + 1):
            named[(b.trial, b.role, mo)] += b.fte
            staff_cost[b.trial] += inst.rate(b.staff) * b.fte
    bought: dict[tuple[str, int], float] = defaultdict(float)
    for (_, r, mo), v in staffing.flex.items():
        bought[(r, mo)] += v
    flex_fte = flex_shares(demand, named, bought)
    flex_cost: dict[str, float] = defaultdict(float)
    for (t, r, _), v in flex_fte.items():
        flex_cost[t] += inst.flex_rate[r] * v
    terms = objective_terms(inst, schedule, staffing)
    spend = terms.spend

    trials: list[TrialPlan] = []
    for tid, trial in inst.trials.items():
        if tid not in schedule:
            trials.append(TrialPlan(id=tid, run=False))
            continue
        o, s = schedule[tid]
        prof = inst.profiles[(tid, o)]
        services = inst.services_cost(tid, o)
        late = inst.late(tid, o, s)
        value = inst.discounted_value(tid, s)
        split = TrialCost(staff=staff_cost[tid], flex=flex_cost[tid], services=services, external=prof.fixed_cost)
        keys = [(tid, r, s + k) for k in range(prof.duration) for r in prof.demand[k]]
        covered_named = sum(named[k] for k in keys)
        covered_flex = sum(flex_fte.get(k, 0.0) for k in keys)
        trials.append(
            TrialPlan(
                id=tid,
                run=True,
                option=o,
                start=inst.month(s),
                end=inst.month(s + prof.duration - 1),
                months_late=late,
                cost=split.total,
                cost_split=split,
                coverage=TrialCoverage(
                    named=covered_named,
                    flex=covered_flex,
                    uncovered=max(0.0, sum(demand[k] for k in keys) - covered_named - covered_flex),
                ),
                value=value,
            )
        )

    role_months = _role_months(inst, demand, staffing)
    service_months = _service_months(inst, schedule)
    total_spend = sum(spend.values())
    budget = BudgetReport(
        per_year=[YearSpend(year=y, spend=spend.get(y, 0.0), budget=problem.budget.per_year.get(y)) for y in inst.years],
        total=total_spend,
        total_budget=problem.budget.total,
    )
    available = sum(s.fte for p, s in inst.staff.items() for ok in inst.available[p] if ok)
    worked = sum(b.fte * (b.last - b.first + 1) for b in staffing.blocks)
    run = [t for t in trials if t.run]
    plan = Plan(
        status="feasible",
        objective=terms.objective(inst),
        stages=timings,
        trials=trials,
        assignments=[
            Assignment(staff=b.staff, trial=b.trial, role=b.role, start=inst.month(b.first), end=inst.month(b.last), fte=plan_fte(inst, b))
            for b in staffing.blocks
        ],
        role_months=role_months,
        service_months=service_months,
        service_volumes=[
            ServiceVolume(service=svc, used=sum(inst.profiles[(t, o)].volume(svc) for t, (o, _) in schedule.items()), contract_volume=v)
            for svc, v in inst.service_volume.items()
        ],
        budget=budget,
        kpis=Kpis(
            total_cost=total_spend,
            value_delivered=terms.value_delivered,
            trials_run=len(run),
            trials_on_time=sum(1 for t in run if t.months_late == 0),
            mean_utilisation=worked / available if available > 0 else 0.0,
            makespan_months=max(terms.ends.values(), default=0),
            flex_fte_months=sum(staffing.flex.values()),
            shortfall_fte_months=terms.shortfall,
        ),
    )
    round_figures(plan, money_objective(problem))
    if explained:
        plan.explanations = explain(inst, schedule, plan)
    return plan


def plan_fte(inst: Instance, block: Block) -> float:
    """The block's FTE as a plan writes it: ``FTE_DECIMALS`` decimals, never above the person's FTE."""
    return min(round(block.fte, FTE_DECIMALS), inst.staff[block.staff].fte)


def _role_months(
    inst: Instance,
    demand: dict[tuple[str, str, int], float],
    staffing: StaffingResult,
) -> list[RoleMonth]:
    """Each role-month counted over everyone able to work the role (see :class:`RoleMonth`)."""
    per_rm: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    for (_, r, mo), v in demand.items():
        per_rm[(r, mo)][0] += v
    busy: dict[tuple[str, int], float] = defaultdict(float)
    for b in staffing.blocks:
        secondary = b.role != inst.staff[b.staff].role
        for mo in range(b.first, b.last + 1):
            per_rm[(b.role, mo)][1] += b.fte
            per_rm[(b.role, mo)][4] += b.fte if secondary else 0.0
            busy[(b.staff, mo)] += b.fte
    for (_, r, mo), v in staffing.flex.items():
        per_rm[(r, mo)][2] += v
    for (_, r, mo), v in staffing.shortfall.items():
        per_rm[(r, mo)][3] += v
    primary: dict[tuple[str, int], float] = defaultdict(float)
    secondary_cap: dict[tuple[str, int], float] = defaultdict(float)
    spare: dict[tuple[str, int], float] = defaultdict(float)
    for p, s in inst.staff.items():
        for mo in range(inst.months):
            if inst.available[p][mo]:
                primary[(s.role, mo)] += s.fte
                free = max(0.0, s.fte - busy.get((p, mo), 0.0))
                for r in inst.staff_roles[p]:
                    spare[(r, mo)] += free
                    if r != s.role:
                        secondary_cap[(r, mo)] += s.fte
    rows = []
    for r in inst.roles:
        for mo in range(inst.months):
            d, a, f, sh, a2 = per_rm[(r, mo)] if (r, mo) in per_rm else (0.0, 0.0, 0.0, 0.0, 0.0)
            cap = primary[(r, mo)] + secondary_cap[(r, mo)]
            rows.append(
                RoleMonth(
                    role=r,
                    month=inst.month(mo),
                    capacity=cap,
                    capacity_primary=primary[(r, mo)],
                    capacity_secondary=secondary_cap[(r, mo)],
                    demand=d,
                    assigned=a,
                    assigned_secondary=a2,
                    spare=spare[(r, mo)],
                    flex=f,
                    shortfall=sh,
                    utilisation=a / cap if cap > 0 else 0.0,
                )
            )
    return rows


def _service_months(inst: Instance, schedule: dict[str, tuple[str, int]]) -> list[ServiceMonth]:
    used: dict[tuple[str, int], float] = defaultdict(float)
    for t, (o, s) in schedule.items():
        for k, units in enumerate(inst.profiles[(t, o)].services):
            for svc, u in units.items():
                used[(svc, s + k)] += u
    return [
        ServiceMonth(service=svc, month=inst.month(mo), used=used[(svc, mo)], capacity=cap[mo])
        for svc, cap in inst.service_capacity.items()
        for mo in range(inst.months)
    ]


def set_bound(plan: Plan, bound: float | None) -> None:
    """Record a bound and the relative gap |objective - bound| / max(1, |objective|) (no bound
    where the search proved nothing finite)."""
    if bound is not None and not math.isfinite(bound):
        bound = None
    plan.best_bound = bound
    plan.gap = relative_gap(plan.objective, bound)

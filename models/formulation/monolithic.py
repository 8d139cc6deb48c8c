"""The monolithic model: schedule and named staffing in one MIP, month by month.

This is the naive formulation SPEC §4 warns about (a continuous FTE per person, trial,
role and month, linked to binaries), kept for what it is good at: on small instances it
is solved to optimality and so measures what the two-stage decomposition gives up. Its
plan space contains every plan the decomposition can produce (the decomposition holds a
person's FTE constant over a stage; here it may change every month), so for the same
problem ``decomposition objective <= monolithic optimum <= portfolio bound`` (value
objective; the other way round for the minimised ones). The tests check exactly that.
"""

from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo

from models.solver.highs import TriviallyInfeasible, solve
from models.formulation.instance import Block, Instance
from models.formulation.assemble import build_plan, set_bound
from models.contract.plan import Plan, StageTiming
from models.formulation.portfolio import PortfolioModel, Reserve
from models.solver.settings import EngineSettings
from models.formulation.staffing import StaffingResult, merge_blocks


class MonolithicModel(PortfolioModel):
    """The portfolio model with its aggregated capacity replaced by named people per month."""

    name = "monolithic"

    def _staffing_variables(self) -> None:
        """z[p,t,r,m] FTE, w[p,t,m] works-on-trial-in-month, u[p,t] ever on trial; flex/short per (t,r,m)."""
        m, inst = self.m, self.inst
        trial_role_months: set[tuple[str, str, int]] = set()
        for i, (t, o, s) in enumerate(self.keys):
            for k, month_demand in enumerate(inst.profiles[(t, o)].demand):
                for r in month_demand:
                    trial_role_months.add((t, r, s + k))
        self.trm = sorted(trial_role_months)
        self.z_index = [
            (p, t, r, mo)
            for (t, r, mo) in self.trm
            for p in inst.eligible(t, r)
            if inst.available[p][mo]
        ]
        m.z = pyo.Var(self.z_index, domain=pyo.NonNegativeReals)
        self.w_index = sorted({(p, t, mo) for p, t, _, mo in self.z_index})
        m.w = pyo.Var(self.w_index, domain=pyo.Binary)
        self.u_index = sorted({(p, t) for p, t, _ in self.w_index})
        m.u = pyo.Var(self.u_index, domain=pyo.Binary)
        self.flex_index = [k for k in self.trm if inst.flex_max.get(k[1], 0) > 0]
        m.flex = pyo.Var(self.flex_index, domain=pyo.NonNegativeReals)
        self.short_index = list(self.trm) if self.shortfall_price is not None else []
        m.short = pyo.Var(self.short_index, domain=pyo.NonNegativeReals)

    def _staffing_constraints(self) -> None:
        """Per person and month: sum z <= fte, z <= fte*w, sum_t w <= max trials, w <= u.
        Per trial, role and month: sum_p z + flex + short = demand(x). Per role and month: sum flex <= max."""
        m, inst = self.m, self.inst
        by_pm: dict[tuple[str, int], list] = defaultdict(list)
        by_trm: dict[tuple[str, str, int], list] = defaultdict(list)
        for k in self.z_index:
            by_pm[(k[0], k[3])].append(k)
            by_trm[(k[1], k[2], k[3])].append(k)
        m.person_cap = pyo.Constraint(
            list(by_pm), rule=lambda _, p, mo: sum(m.z[k] for k in by_pm[(p, mo)]) <= inst.staff[p].fte
        )
        m.works = pyo.Constraint(self.z_index, rule=lambda _, p, t, r, mo: m.z[p, t, r, mo] <= inst.staff[p].fte * m.w[p, t, mo])
        trials_pm: dict[tuple[str, int], list[str]] = defaultdict(list)
        for p, t, mo in self.w_index:
            trials_pm[(p, mo)].append(t)
        m.concurrent = pyo.Constraint(
            list(trials_pm),
            rule=lambda _, p, mo: sum(m.w[p, t, mo] for t in trials_pm[(p, mo)]) <= inst.staff[p].max_concurrent_trials,
        )
        m.ever = pyo.Constraint(self.w_index, rule=lambda _, p, t, mo: m.w[p, t, mo] <= m.u[p, t])
        flex = set(self.flex_index)
        short = set(self.short_index)
        demand_terms: dict[tuple[str, str, int], list[tuple[int, float]]] = defaultdict(list)
        for i, (t, o, s) in enumerate(self.keys):
            for k, month_demand in enumerate(inst.profiles[(t, o)].demand):
                for r, v in month_demand.items():
                    demand_terms[(t, r, s + k)].append((i, v))

        def cover(_, t: str, r: str, mo: int):
            supply = sum(m.z[k] for k in by_trm[(t, r, mo)])
            if (t, r, mo) in flex:
                supply += m.flex[t, r, mo]
            if (t, r, mo) in short:
                supply += m.short[t, r, mo]
            return supply == sum(v * m.x[i] for i, v in demand_terms[(t, r, mo)])

        m.cover = pyo.Constraint(self.trm, rule=cover)
        by_rm: dict[tuple[str, int], list] = defaultdict(list)
        for k in self.flex_index:
            by_rm[(k[1], k[2])].append(k)
        m.flex_limit = pyo.Constraint(
            list(by_rm), rule=lambda _, r, mo: sum(m.flex[k] for k in by_rm[(r, mo)]) <= inst.flex_max[r]
        )

    def _labour_cost(self, months: set[int] | None = None) -> pyo.Expression:
        m, inst = self.m, self.inst
        staff = sum(inst.rate(p) * m.z[p, t, r, mo] for p, t, r, mo in self.z_index if months is None or mo in months)
        flex = sum(inst.flex_rate[k[1]] * m.flex[k] for k in self.flex_index if months is None or k[2] in months)
        return staff + flex

    def _fragmentation_floor(self, trial: str, option: str) -> float:
        """Zero: this model counts every (person, trial) pair itself (``u``)."""
        return 0.0

    def _penalties(self) -> pyo.Expression:
        weights = self.inst.problem.objective.weights
        return super()._penalties() + weights.fragmentation * sum(self.m.u[k] for k in self.u_index)

    def staffing(self, tol: float) -> StaffingResult:
        m = self.m
        blocks = [
            Block(p, t, r, mo, mo, round(v, 9))
            for (p, t, r, mo) in self.z_index
            if (v := pyo.value(m.z[p, t, r, mo]) or 0.0) > tol
        ]
        return StaffingResult(
            outcome=None,
            blocks=merge_blocks(blocks),
            flex={k: v for k in self.flex_index if (v := pyo.value(m.flex[k]) or 0.0) > tol},
            shortfall={k: v for k in self.short_index if (v := pyo.value(m.short[k]) or 0.0) > tol},
        )


def solve_monolithic(inst: Instance, settings: EngineSettings) -> Plan:
    """Solve the whole problem as one MIP (small instances only) and return its plan."""
    try:
        model = MonolithicModel(inst, settings, Reserve())
    except TriviallyInfeasible:
        return Plan(status="infeasible", message="a constraint with no decisions left cannot hold")
    outcome = solve(model.m, settings, settings.time_limit, settings.mip_gap)
    timing = StageTiming(stage="monolithic", seconds=outcome.seconds, variables=outcome.variables, constraints=outcome.constraints)
    if not outcome.has_solution:
        status = "infeasible" if outcome.infeasible else "no_solution"
        return Plan(status=status, stages=[timing], solve_seconds=outcome.seconds)
    plan = build_plan(inst, model.schedule(), model.staffing(settings.tolerance), [timing])
    set_bound(plan, model.in_objective_sense(outcome.bound))
    plan.status = "optimal" if outcome.proven_optimal else "feasible"
    plan.solve_seconds = outcome.seconds
    return plan

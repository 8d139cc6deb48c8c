"""What more budget would buy, year by year (SPEC §3 explanations), when the planner asks.

The portfolio stage's budget rows have no useful dual at the plan: with the starts held
fixed, spend is fixed too, so every budget's dual is 0 however tightly it binds; with the
starts free, the LP relaxation's duals price fractions of trials, which no plan can run.
What a planner can act on is a step: "with 10 % more budget in 2028, what would the plan
gain?". That is answered by solving the portfolio stage (round 0's model, still loaded in
HiGHS) again with the year's budget raised, and comparing with the same stage solved
without the raise for the same time, both from the plan's own schedule, so that the
difference is what the raise buys rather than what more search would have found anyway.
The raised run starts from the unraised run's schedule, which still fits, so the gain is
never negative.

Both runs are the portfolio stage, which prices staffing optimistically (a relaxation of
rosters by named people), run to a tenth of the solve's ``mip_gap`` or their share of time:
the gain found is what the raise bought in that search, and the raised run's bound says
the most it could buy over the unraised plan (``objective_gain_bound``). Raising a year's budget raises the total
budget by as much (money given to that year). The runs share the time left under the
planner's limit equally, each at most as long as round 0 took (``BUDGET_RUN_FACTOR``); a year
whose run has no time left is not estimated (null).
"""

from __future__ import annotations

import time
from dataclasses import replace

from models.contract.plan import Explanation, Plan
from models.formulation.portfolio import PortfolioResult, Reserve, solve_portfolio
from models.pipeline.clock import BUDGET_RUN_FACTOR, MIN_SOLVER_SECONDS, timing
from models.pipeline.state import SolveState
from models.solver.highs import Watch

#: The stage name the runs report their timings under.
STAGE = "budget-values"
#: The runs' relative gap, as a share of the solve's ``mip_gap``: the gain is a difference
#: of two objectives, each known only to its run's gap. On the reference (objective about
#: 2.2e9, value of trials run less spend) a 1 % gap is 22 million, as large as the gains
#: a 10 % raise found, and two solves of the same raise differed by a factor of two.
GAP_SHARE = 0.1


def add_budget_values(s: SolveState, plan: Plan, schedule: dict[str, tuple[str, int]]) -> None:
    """Fill each budgeted year's ``extra_budget``, ``objective_gain`` and ``marginal_value``
    (only with ``settings.budget_step``), and say in plain words which raises would pay."""
    first, step = s.first, s.settings.budget_step
    years = [y for y in plan.budget.per_year if y.budget]
    if step is None or first is None or first.model is None or not years:
        return
    model, monitor = first.model, s.monitor
    cap = BUDGET_RUN_FACTOR * max(MIN_SOLVER_SECONDS, first.outcome.build_seconds + first.outcome.seconds)
    base = _run(s, first, Reserve(), schedule, len(years) + 1, cap)
    if base is None:
        return
    plan.stages.append(timing(f"{STAGE}[base]", base.outcome))
    # The runs leave their reserve in round 0's model, which stays loaded: restore it whatever happens.
    try:
        unraised = model.in_objective_sense(base.outcome.objective) if base.outcome.has_solution else None
        better = 1.0 if s.problem.objective.kind == "value" else -1.0
        for index, year in enumerate(years):
            if monitor.stopped() or unraised is None:
                break
            extra = step * (year.budget or 0.0)
            raised = _run(s, first, Reserve(budget={year.year: -extra}), base.schedule, len(years) - index, cap)
            if raised is None:
                break
            plan.stages.append(timing(f"{STAGE}[{year.year}]", raised.outcome))
            found = model.in_objective_sense(raised.outcome.objective) if raised.outcome.has_solution else None
            if found is None:
                continue
            gain = max(0.0, better * (found - unraised))
            most = None if raised.bound is None else max(gain, better * (raised.bound - unraised))
            year.extra_budget, year.objective_gain, year.objective_gain_bound, year.marginal_value = extra, gain, most, gain / extra
            if gain > 0:
                at_most = "" if most is None else f" (at most {most:,.0f} by its bound)"
                plan.explanations.append(
                    Explanation(reason=f"budget {year.year}: {extra:,.0f} more ({step:.0%} of it) gave a plan better by {gain:,.0f}{at_most}")
                )
    finally:
        model.apply(Reserve())


def _run(s: SolveState, first: PortfolioResult, reserve: Reserve, warm: dict[str, tuple[str, int]], runs_left: int, cap: float) -> PortfolioResult | None:
    """The portfolio stage under ``reserve`` from ``warm``, with an equal share of the time
    left but at most ``cap`` (None, not run, when that is under ``MIN_SOLVER_SECONDS``)."""
    seconds = min(cap, (s.clock.deadline - time.perf_counter()) / runs_left)
    if seconds < MIN_SOLVER_SECONDS:
        return None
    watch = Watch(s.monitor, STAGE, report=False)
    finer = replace(s.settings, mip_gap=s.settings.mip_gap * GAP_SHARE)
    return solve_portfolio(s.inst, finer, seconds, reserve, watch, warm=warm, previous=first)

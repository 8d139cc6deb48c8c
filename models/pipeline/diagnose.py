"""Which rule makes a portfolio infeasible: each family of rules relaxed in turn.

When the portfolio stage proves that no plan exists, a planner needs to know what to
change. Each family of rules of §2 is relaxed on its own (budgets dropped, demand allowed
to go uncovered, services unlimited, windows and deadlines open, predecessors dropped,
pins dropped, no limit on concurrent trials) and the portfolio stage solved again for any
schedule at all: a family whose relaxation alone admits one is named as what makes the
portfolio infeasible. Stage 1 is a relaxation of the whole problem, so the verdict is the
same one the engine reached: it says what stage 1 needs relaxed, which the full problem
needs at least.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from models.formulation.instance import compile_instance
from models.contract.plan import Explanation
from models.formulation.portfolio import Reserve, solve_portfolio
from models.contract.problem import Problem
from models.solver.settings import EngineSettings

#: Price per uncovered FTE-month when the capacity rules are relaxed (any price will do: only feasibility is asked).
_ANY_PRICE = 1.0


def _no_budget(p: Problem) -> None:
    p.budget.per_year = {}
    p.budget.total = None


def _uncovered_allowed(p: Problem) -> None:
    p.objective.weights.shortfall = _ANY_PRICE


def _unlimited_services(p: Problem) -> None:
    for svc in p.services:
        svc.capacity = 1e9


def _open_windows(p: Problem) -> None:
    for t in p.trials:
        t.latest_start = None
        t.deadline = None


def _no_predecessors(p: Problem) -> None:
    for t in p.trials:
        t.predecessors = []


def _no_pins(p: Problem) -> None:
    p.pins.trials = []
    p.pins.assignments = []
    p.pins.frozen_until = None


def _unlimited_concurrency(p: Problem) -> None:
    for s in p.staff:
        s.max_concurrent_trials = max(1, len(p.trials))


#: (what is relaxed, how to say it binds, the relaxation), in the order they are tried.
RELAXATIONS: tuple[tuple[str, str, Callable[[Problem], None]], ...] = (
    ("budget", "the budget: with no yearly or total cap a plan exists", _no_budget),
    ("capacity", "covering all demand with named people and flex: with demand allowed to go uncovered, a plan exists", _uncovered_allowed),
    ("services", "service capacity: with unlimited services a plan exists", _unlimited_services),
    ("windows", "start windows and deadlines: with no latest start or deadline a plan exists", _open_windows),
    ("predecessors", "predecessors: without them a plan exists", _no_predecessors),
    ("pins", "pins: without the pinned trials, assignments and frozen months a plan exists", _no_pins),
    ("concurrency", "limits of concurrent trials: without them a plan exists", _unlimited_concurrency),
)


def infeasibility(problem: Problem, settings: EngineSettings, deadline: float) -> list[Explanation]:
    """What makes ``problem`` infeasible, one explanation per rule family whose relaxation
    alone admits a plan of the portfolio stage (each is a way out: a budget too small for
    the mandatory trials is named, and so is covering all their demand, where leaving some
    uncovered would fit the budget); a note that none alone does otherwise. The families
    share the time left until ``deadline``; one not tried in time is not named."""
    found: list[Explanation] = []
    tried = 0
    for index, (_, reason, relax) in enumerate(RELAXATIONS):
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        relaxed = problem.model_copy(deep=True)
        relax(relaxed)
        tried += 1
        if _feasible(relaxed, settings, left / (len(RELAXATIONS) - index)):
            found.append(Explanation(reason=f"infeasible because of {reason}"))
    if not found and tried == len(RELAXATIONS):
        found.append(Explanation(reason="no single family of rules makes it infeasible on its own: several bind together"))
    return found


def _feasible(problem: Problem, settings: EngineSettings, seconds: float) -> bool:
    inst = compile_instance(problem)
    if any(not any(inst.starts[(t, o.id)] for o in inst.trials[t].options) for t in inst.forced_run):
        return False
    # Any schedule will do: the first one HiGHS finds ends the run.
    result = solve_portfolio(inst, replace(settings, mip_gap=1.0, bound_search=False), seconds, Reserve())
    return result.outcome.has_solution

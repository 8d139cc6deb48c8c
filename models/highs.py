"""One way to hand a Pyomo model to HiGHS and read back what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from models.settings import EngineSettings


@dataclass(frozen=True)
class SolveOutcome:
    """What one HiGHS run gave: a solution is loaded into the model iff ``has_solution``."""

    has_solution: bool
    proven_optimal: bool
    infeasible: bool
    objective: float | None
    bound: float | None
    seconds: float
    variables: int
    constraints: int
    solver_seconds: float = 0.0
    build_seconds: float = 0.0


def solve(model: pyo.ConcreteModel, settings: EngineSettings, time_limit: float, gap: float) -> SolveOutcome:
    """Solve ``model`` with HiGHS within ``time_limit`` seconds and relative ``gap``.

    ``seconds`` covers handing the model over, HiGHS and reading the solution back;
    ``solver_seconds`` is HiGHS's own run time.
    """
    began = time.perf_counter()
    if model.nvariables() == 0:
        return SolveOutcome(True, True, False, 0.0, 0.0, 0.0, 0, model.nconstraints())
    opt = Highs()
    results = opt.solve(
        model,
        time_limit=max(0.1, time_limit),
        rel_gap=gap,
        threads=settings.threads,
        solver_options=settings.highs_options(),
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
    )
    has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if has_solution:
        results.solution_loader.load_vars()
    condition = results.termination_condition
    return SolveOutcome(
        has_solution=has_solution,
        proven_optimal=condition == TerminationCondition.convergenceCriteriaSatisfied,
        infeasible=condition
        in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded),
        objective=results.incumbent_objective,
        bound=results.objective_bound,
        seconds=time.perf_counter() - began,
        variables=model.nvariables(),
        constraints=model.nconstraints(),
        solver_seconds=results.timing_info.highs_time,
    )


class TriviallyInfeasible(Exception):
    """A row with no variables left that cannot hold (e.g. a budget already overspent by fixed costs)."""


#: What a model that cannot even be built feasibly reports.
PROVEN_INFEASIBLE = SolveOutcome(False, False, True, None, None, 0.0, 0, 0)


def add_row(rows: pyo.ConstraintList, expr: object) -> None:
    """Add a row unless it has no variables: a constant row either holds (skip) or proves infeasibility."""
    if isinstance(expr, bool):
        if not expr:
            raise TriviallyInfeasible(rows.name)
        return
    rows.add(expr)

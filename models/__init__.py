"""PACE Planner engine, in rooms whose imports point down only:

``contract`` (problem, plan, validation, checker) <- ``solver`` (settings, progress, the
HiGHS bridge, bound search, the executor abstraction) <- ``formulation`` (compiled
instance, stage models, objective, plan assembly) <- ``heuristics`` (constructive
schedules, rosters, shedding, insertion) <- ``pipeline`` (the stages of a solve).
``tools`` (generator, PSPLIB importer, batches) sit beside and never import the engine.
This package's root is the front door above both: it is the one place that hands the
engine's ``solve`` to the tools' ``solve_many``.

Scripts and notebooks use::

    from models import parse_problem, solve, solve_many
    plan = solve(parse_problem(json_text))
    plans = solve_many(problems, executor=distributed.Client("tcp://scheduler:8786"))
"""

from __future__ import annotations

from collections.abc import Iterable

from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.pipeline import solve
from models.solver.executor import ExecutorLike
from models.tools import batch


def solve_many(problems: Iterable[Problem], executor: ExecutorLike | None = None) -> list[Plan]:
    """Solve every problem and return the plans in the problems' order.

    ``executor``: any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``, ...) or a
    ``distributed.Client`` (the solves then run on its Dask cluster, whose workers need this
    package installed); None runs them on this machine's cores, each in a process of its
    own (:class:`models.tools.batch.LocalPool`). A solve that raises or whose worker dies is
    a plan with status ``error`` and the reason; the others go on. This is
    :func:`models.tools.batch.solve_many` with the engine's :func:`solve` bound, here
    because the tools never import the engine.
    """
    return batch.solve_many(solve, problems, executor)


__all__ = ["Plan", "Problem", "ProblemInvalid", "parse_problem", "solve", "solve_many"]

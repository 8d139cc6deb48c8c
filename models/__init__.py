"""PACE Planner engine, in rooms whose imports point down only:

``contract`` (problem, plan, validation, checker) <- ``solver`` (settings, progress, the
HiGHS bridge, bound search) <- ``formulation`` (compiled instance, stage models, objective,
plan assembly) <- ``heuristics`` (constructive schedules, rosters, shedding, insertion)
<- ``pipeline`` (the stages of a solve). ``tools`` (generator, PSPLIB importer) sit beside.

Scripts and notebooks use::

    from models import parse_problem, solve
    plan = solve(parse_problem(json_text))
"""

from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.pipeline import solve

__all__ = ["Plan", "Problem", "ProblemInvalid", "parse_problem", "solve"]

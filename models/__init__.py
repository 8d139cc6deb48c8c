"""PACE Planner engine: problem and plan types, formulations, solve pipeline, plan checker.

Scripts and notebooks use::

    from models import parse_problem, solve
    plan = solve(parse_problem(json_text))
"""

from models.pipeline import solve
from models.plan import Plan
from models.problem import Problem, ProblemInvalid, parse_problem

__all__ = ["Plan", "Problem", "ProblemInvalid", "parse_problem", "solve"]

"""Validate a problem and check a plan: no solve, so both answer in the request."""

from __future__ import annotations

from pydantic import ValidationError

from app.api.errors import invalid_input
from app.api.schemas import CheckOut, ValidateOut
from app.services.capacity import capacity_summary
from app.services.limits import limit_errors
from app.settings import ServiceSettings
from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.problem import FieldError, Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.contract.validation import semantic_errors


def validate(body: bytes, settings: ServiceSettings) -> ValidateOut:
    """Every error of a problem (both layers, as ``pace validate``), or the capacity summary.

    A valid problem that breaches this server's limits is still valid; the breaches are
    listed apart so the client knows a job would be refused. They are listed for any
    problem whose structure parses, so a client sees both lists at once.
    """
    try:
        problem = parse_problem(body)
    except ProblemInvalid as exc:
        try:
            structure = Problem.model_validate_json(body)
        except ValidationError:
            return ValidateOut(valid=False, errors=exc.errors)
        return ValidateOut(valid=False, errors=exc.errors, limits=limit_errors(structure, settings, settings.max_time_limit))
    breached = limit_errors(problem, settings, settings.max_time_limit)
    return ValidateOut(valid=True, limits=breached, summary=capacity_summary(problem))


def check(problem: Problem, plan: Plan) -> CheckOut:
    """The independent checker's verdict; 422 if the problem itself is invalid."""
    errors = semantic_errors(problem)
    if errors:
        raise invalid_input([FieldError(path=f"problem.{e.path}", message=e.message) for e in errors])
    violations = check_plan(problem, plan)
    return CheckOut(valid=not violations, violations=violations)

"""Validate a problem and check a plan: no solve, so both answer in the request."""

from __future__ import annotations

from app.api.errors import invalid_input
from app.api.schemas import CheckIn, CheckOut, ValidateOut
from app.services.capacity import capacity_summary
from app.services.limits import limit_errors
from app.settings import ServiceSettings
from models.contract.check import check_plan
from models.contract.identity import portfolio_mismatch, version_note
from models.contract.problem import FieldError, ProblemInvalid
from models.contract.validation import parse_strict, parse_structure, semantic_errors, with_rule_errors


def validate(body: bytes, settings: ServiceSettings) -> ValidateOut:
    """Every error of a problem (both layers, as ``pace validate``), or the capacity summary.

    A valid problem that breaches this server's limits is still valid; the breaches are
    listed apart so the client knows a job would be refused. They are listed for any
    problem whose structure parses, so a client sees both lists at once.
    """
    try:
        problem = parse_structure(body)
    except ProblemInvalid as exc:
        return ValidateOut(valid=False, errors=with_rule_errors(exc))
    breached = limit_errors(problem, settings, settings.max_time_limit)
    errors = semantic_errors(problem)
    if errors:
        return ValidateOut(valid=False, errors=errors, limits=breached)
    return ValidateOut(valid=True, limits=breached, summary=capacity_summary(problem))


def check(body: bytes) -> CheckOut:
    """The independent checker's verdict on ``{"problem": ..., "plan": ...}``; 422 if either is not valid input."""
    try:
        request = parse_strict(CheckIn, body)
    except ProblemInvalid as exc:
        raise invalid_input(exc.errors) from None
    errors = semantic_errors(request.problem)
    if errors:
        raise invalid_input([FieldError(path=f"problem.{e.path}", message=e.message) for e in errors])
    if (other := portfolio_mismatch(request.problem, request.plan)) is not None:
        return CheckOut(valid=False, other_portfolio=other, violations=[])
    violations = check_plan(request.problem, request.plan)
    return CheckOut(valid=not violations, note=version_note(request.problem, request.plan), violations=violations)

"""A problem from a request body: structure, this server's limits, then semantics.

The order matters: the structure must parse before anything can be counted, and a
problem over the server's limits is refused before its (linear, but not free) semantic
validation runs. Each step raises the API error the client sees.
"""

from __future__ import annotations

from app.api.errors import invalid_input, limits_exceeded
from app.services.limits import limit_errors
from app.settings import ServiceSettings
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_structure, semantic_errors, with_rule_errors


def read_problem(body: bytes, settings: ServiceSettings, max_time_limit: float | None) -> Problem:
    """The valid problem in ``body``; 422 ``invalid-input`` or ``limit-exceeded`` otherwise."""
    try:
        problem = parse_structure(body)
    except ProblemInvalid as exc:
        raise invalid_input(with_rule_errors(exc)) from None
    breached = limit_errors(problem, settings, max_time_limit)
    if breached:
        raise limits_exceeded(breached)
    errors = semantic_errors(problem)
    if errors:
        raise invalid_input(errors)
    return problem

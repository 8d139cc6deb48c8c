"""Server limits on what one problem may ask for, reported like validation errors.

Each limit breached is one entry naming the field (``staff``, ``trials``,
``horizon.months``, ``settings.time_limit``), the size asked for and this server's
limit, so a client sees at once what to shrink.
"""

from __future__ import annotations

from app.settings import ServiceSettings
from models.contract.problem import FieldError, Problem


def limit_errors(problem: Problem, settings: ServiceSettings, max_time_limit: float | None) -> list[FieldError]:
    """Limits ``problem`` breaches; the time limit only counts when ``max_time_limit`` is given."""
    errors: list[FieldError] = []
    sizes = [
        ("staff", len(problem.staff), settings.max_staff, "staff"),
        ("trials", len(problem.trials), settings.max_trials, "trials"),
        ("horizon.months", problem.horizon.months, settings.max_months, "months"),
    ]
    for path, size, limit, noun in sizes:
        if size > limit:
            errors.append(FieldError(path=path, message=f"{size} {noun} exceed this server's limit of {limit}"))
    if max_time_limit is not None and problem.settings.time_limit > max_time_limit:
        errors.append(
            FieldError(
                path="settings.time_limit",
                message=f"{problem.settings.time_limit:g} s exceeds this server's limit of {max_time_limit:g} s",
            )
        )
    return errors

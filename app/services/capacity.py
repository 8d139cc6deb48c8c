"""A quick capacity-versus-demand summary per role, computed without solving.

It answers the planner's first question about a problem, "is there enough of each
role at all?", in milliseconds. Capacity is what people whose primary role it is can
give over the horizon (secondary roles are left out: the same person cannot be counted
twice) plus the most flex the role may buy; demand is, per trial, that of the option
needing the fewest FTE-months of the role, so it is a lower bound on what any plan needs.
"""

from __future__ import annotations

from collections import defaultdict

from app.api.schemas import CapacitySummary, RoleCapacity
from models.contract.problem import Problem, Staff, Trial


def capacity_summary(problem: Problem) -> CapacitySummary:
    months = problem.horizon.months
    headcount: dict[str, int] = defaultdict(int)
    available: dict[str, float] = defaultdict(float)
    for person in problem.staff:
        headcount[person.role] += 1
        available[person.role] += person.fte * _available_months(problem, person)
    flex = {f.role: f.max_fte * months for f in problem.flex}
    mandatory: dict[str, float] = defaultdict(float)
    every: dict[str, float] = defaultdict(float)
    for trial in problem.trials:
        for role, need in _least_demand(trial).items():
            every[role] += need
            if trial.mandatory:
                mandatory[role] += need
    roles = [
        RoleCapacity(
            role=role,
            staff=headcount[role],
            available=round(available[role], 6),
            flex=round(flex.get(role, 0.0), 6),
            mandatory_demand=round(mandatory[role], 6),
            all_demand=round(every[role], 6),
            covers_mandatory=available[role] + flex.get(role, 0.0) >= mandatory[role] - 1e-9,
        )
        for role in problem.roles
    ]
    return CapacitySummary(
        staff=len(problem.staff),
        trials=len(problem.trials),
        mandatory_trials=sum(1 for t in problem.trials if t.mandatory),
        months=months,
        roles=roles,
    )


def _available_months(problem: Problem, person: Staff) -> int:
    first = max(0, problem.index(person.available_from)) if person.available_from else 0
    last = min(problem.horizon.months - 1, problem.index(person.available_to)) if person.available_to else problem.horizon.months - 1
    leave = {problem.index(m) for m in person.leave}
    return sum(1 for m in range(first, last + 1) if m not in leave)


def _least_demand(trial: Trial) -> dict[str, float]:
    """Per role, the FTE-months of the trial's option that needs the fewest of that role."""
    per_option: list[dict[str, float]] = []
    for option in trial.options:
        need: dict[str, float] = defaultdict(float)
        for stage in option.stages:
            for role, fte in stage.demand.items():
                need[role] += fte * stage.months
        per_option.append(need)
    roles = {role for need in per_option for role in need}
    return {role: min(need.get(role, 0.0) for need in per_option) for role in roles}

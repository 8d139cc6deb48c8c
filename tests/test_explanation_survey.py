"""Every explanation of a survey plan holds on the plan's own tables: each member of the
family survey (every objective, multi-skilled pools, tight budgets, services, pins, scarce
roles) solved, its plan checked, and each fact of each explanation recomputed by the
independent explanation checker (models.contract.check_explanations)."""

from __future__ import annotations

import pytest

from bench.families import FAMILIES, family_problem
from models.contract.check import check_plan
from models.contract.check_explanations import check_explanations
from models.pipeline import solve

#: The survey's members solved here (the 5x member and the PSPLIB portfolio take a solve of
#: their own time each; bench/families.py runs them).
SURVEYED = [f for f in FAMILIES if f not in ("size_5x", "psplib_portfolio")]


@pytest.mark.parametrize("family", SURVEYED)
def test_every_explanation_of_a_survey_plan_holds_on_the_plans_own_tables(family: str) -> None:
    problem = family_problem(family, 0)
    problem.settings.time_limit = 5
    plan = solve(problem)
    assert plan.status in ("optimal", "feasible", "infeasible"), plan.message
    assert check_plan(problem, plan) == []
    violations = check_explanations(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    for explanation in plan.explanations:
        if explanation.trial is not None:
            assert explanation.facts, f"{explanation.trial}: {explanation.reason} rests on no fact"

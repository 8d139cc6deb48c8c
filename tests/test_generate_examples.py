"""The small example shipped for newcomers solves to a plan the checker accepts."""

from __future__ import annotations

from models.contract.validation import parse_problem
from tests.conftest import ROOT, solve_checked


def test_small_example_problem_solves_to_a_checked_plan():
    problem = parse_problem((ROOT / "data" / "example-small.json").read_bytes())
    plan = solve_checked(problem)
    assert plan.status in ("optimal", "feasible")
    assert plan.kpis.trials_run >= sum(t.mandatory for t in problem.trials)

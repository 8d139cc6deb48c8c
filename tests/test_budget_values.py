"""What more budget per year would buy (§3 explanations): the portfolio stage re-solved with
the year's budget raised by ``settings.budget_step``, on a problem whose answer is derived by hand.

Two optional trials, each 500,000 fixed cost plus 0.5 FTE of ana (10,000 a month) for three
months: 515,000 each. A is worth 2,000,000 and B 1,500,000; 2027's budget of 800,000 fits one,
so the plan runs A (objective 2,000,000 - 515,000 = 1,485,000). Raising the budget by half
(400,000) fits B too: the objective gains 1,500,000 - 515,000 = 985,000.
"""

from __future__ import annotations

import io
from typing import Any

import openpyxl

from models.contract.validation import parse_problem
from models.tools.report import render_report
from models.tools.xlsx import plan_to_xlsx
from tests.conftest import base_problem, solve_checked


def _problem(budget: float, step: float | None) -> dict[str, Any]:
    def trial(trial_id: str, value: float) -> dict[str, Any]:
        return {
            "id": trial_id,
            "value": value,
            "mandatory": False,
            "options": [{"id": "std", "fixed_cost": 500_000, "stages": [{"months": 3, "demand": {"CRA": 0.5}}]}],
        }

    return base_problem(
        trials=[trial("A", 2_000_000), trial("B", 1_500_000)],
        budget={"per_year": {"2027": budget}},
        settings={"time_limit": 30, "budget_step": step},
    )


def test_a_binding_budget_raised_enough_to_run_another_trial_gains_that_trials_net_value():
    plan = solve_checked(_problem(800_000, 0.5))
    assert [t.id for t in plan.trials if t.run] == ["A"]
    year = plan.budget.per_year[0]
    assert (year.extra_budget, year.objective_gain) == (400_000, 985_000)
    assert year.marginal_value == 985_000 / 400_000
    assert 985_000 <= year.objective_gain_bound <= 985_000 * 1.01
    assert any(e.reason.startswith("budget 2027: 400,000 more (50% of it) gave a plan better by 985,000") for e in plan.explanations)


def test_the_gain_is_what_solving_with_the_raised_budget_gives():
    raised = solve_checked(_problem(1_200_000, None))
    plan = solve_checked(_problem(800_000, 0.5))
    assert raised.objective == plan.objective + plan.budget.per_year[0].objective_gain


def test_a_raise_too_small_to_run_another_trial_gains_nothing():
    year = solve_checked(_problem(800_000, 0.1)).budget.per_year[0]
    assert (year.extra_budget, year.objective_gain, year.marginal_value) == (80_000, 0.0, 0.0)


def test_a_budget_with_room_for_every_trial_gains_nothing_from_more():
    plan = solve_checked(_problem(5_000_000, 0.5))
    assert all(t.run for t in plan.trials)
    assert plan.budget.per_year[0].objective_gain == 0.0
    assert not any(e.reason.startswith("budget 2027:") for e in plan.explanations)


def test_more_budget_is_estimated_only_when_the_planner_asks():
    plan = solve_checked(_problem(800_000, None))
    year = plan.budget.per_year[0]
    assert (year.extra_budget, year.objective_gain, year.marginal_value) == (None, None, None)
    assert not any(s.stage.startswith("budget-values") for s in plan.stages)


def test_what_more_budget_bought_reaches_the_workbook_and_the_report():
    problem = _problem(800_000, 0.5)
    plan = solve_checked(problem)
    sheet = openpyxl.load_workbook(io.BytesIO(plan_to_xlsx(plan)))["Budget"]
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, (c.value for c in sheet[2])))
    assert (row["year"], row["extra_budget"], row["objective_gain"]) == ("2027", 400_000, 985_000)
    assert "400,000 more gave a plan better by 985,000" in render_report(plan, parse_problem(problem))

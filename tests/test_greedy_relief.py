"""The greedy roster's relief pass: demand flex cannot take is moved onto time freed elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from models.contract.check import check_plan
from models.heuristics.greedy import greedy_staffing
from models.formulation.instance import compile_instance
from models.formulation.assemble import build_plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from tests.conftest import base_problem, solve_checked


def _trial(trial_id: str, role: str, fte: float, months: int) -> dict[str, Any]:
    return {
        "id": trial_id,
        "value": 1_000_000,
        "mandatory": True,
        "options": [{"id": "std", "stages": [{"months": months, "demand": {role: fte}}]}],
    }


def _rostered(problem: Problem, schedule: dict[str, tuple[str, int]]):
    """The greedy roster of a fixed schedule, and its plan after the independent checker."""
    inst = compile_instance(problem)
    staffing = greedy_staffing(inst, schedule)
    plan = build_plan(inst, schedule, staffing, [])
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    return staffing


def _two_roles() -> Problem:
    # ana is a CRA who also does site start-up; CRA flex has room, SSU has none.
    return parse_problem(
        base_problem(
            roles=["CRA", "SSU"],
            staff=[{"id": "ana", "role": "CRA", "secondary_roles": ["SSU"], "monthly_cost": 10000}],
            flex=[{"role": "CRA", "monthly_rate": 20000, "max_fte": 1.0}],
            trials=[_trial("T1", "CRA", 1.0, 3), _trial("T2", "SSU", 1.0, 3)],
        )
    )


def test_a_person_holding_two_roles_moves_to_the_one_flex_cannot_cover():
    # The primary-role pass gives ana to T1; only she can do T2's start-up, so she moves
    # there and CRA flex takes T1.
    staffing = _rostered(_two_roles(), {"T1": ("std", 0), "T2": ("std", 0)})
    assert staffing.shortfall == {}
    assert staffing.flex == {("T1", "CRA", m): pytest.approx(1.0) for m in range(3)}
    assert [(b.staff, b.trial, b.role, b.first, b.last, b.fte) for b in staffing.blocks] == [("ana", "T2", "SSU", 0, 2, 1.0)]


def test_a_person_at_their_limit_of_trials_leaves_one_for_a_trial_flex_cannot_cover():
    # cleo (1 FTE, at most 2 trials at once) takes A (0.5) and B (0.25) first; C (0.75)
    # starts a month later when she is at her limit, and CTA flex (0.5) cannot take all of
    # it. Leaving A or B for C in those months, with flex on what she left, covers everything.
    problem = parse_problem(
        base_problem(
            roles=["CTA"],
            staff=[{"id": "cleo", "role": "CTA", "monthly_cost": 8000, "max_concurrent_trials": 2}],
            flex=[{"role": "CTA", "monthly_rate": 9000, "max_fte": 0.5}],
            trials=[_trial("A", "CTA", 0.5, 3), _trial("B", "CTA", 0.25, 3), _trial("C", "CTA", 0.75, 2)],
        )
    )
    staffing = _rostered(problem, {"A": ("std", 0), "B": ("std", 0), "C": ("std", 1)})
    assert staffing.shortfall == {}
    assert sum(v for (t, _, m), v in staffing.flex.items() if m in (1, 2)) == pytest.approx(2 * 0.5)


def test_relief_is_not_needed_where_flex_takes_what_people_leave():
    # With SSU flex of its own, T2's start-up goes to flex and ana stays on T1 whole.
    problem = _two_roles().model_copy(deep=True)
    problem.flex[0].role = "SSU"
    staffing = _rostered(problem, {"T1": ("std", 0), "T2": ("std", 0)})
    assert staffing.shortfall == {}
    assert [(b.trial, b.role, b.first, b.last) for b in staffing.blocks] == [("T1", "CRA", 0, 2)]


def test_the_whole_solve_staffs_both_trials_of_the_two_role_case():
    plan = solve_checked(_two_roles())
    assert {t.id for t in plan.trials if t.run} == {"T1", "T2"}
    assert all(rm.shortfall == 0 for rm in plan.role_months)

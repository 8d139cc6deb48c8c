"""An infeasible problem is answered ``infeasible``, proven, also where only named people
make it so (SPEC §3): the portfolio stage pools each role's people and finds schedules,
the rounds staff none, and on a small portfolio the exact model proves that none exists.

By hand: T1 needs a CRA with skill derm and T2 one with skill onc, both 0.5 FTE for the
same three months (their starts are pinned by their windows). Only ana holds either
skill, and she may work on one trial a month: no roster covers both. Allowed two trials,
she covers both.
"""

from __future__ import annotations

from typing import Any

from models.contract.check import check_plan
from models.contract.validation import parse_problem
from models.pipeline import solve
from models.pipeline.run import PEOPLE_BIND
from tests.conftest import base_problem, solve_checked


def _problem(ana_trials_at_once: int) -> dict[str, Any]:
    def trial(trial_id: str, skill: str) -> dict[str, Any]:
        return {
            "id": trial_id,
            "value": 1_000_000,
            "mandatory": True,
            "earliest_start": "2027-02",
            "latest_start": "2027-02",
            "required_skills": {"CRA": [skill]},
            "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 0.5}}]}],
        }

    return base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000, "max_concurrent_trials": ana_trials_at_once, "skills": ["derm", "onc"]},
            {"id": "ben", "role": "CRA", "monthly_cost": 12000},
        ],
        trials=[trial("T1", "derm"), trial("T2", "onc")],
    )


def test_a_problem_only_named_people_make_infeasible_is_proven_infeasible():
    problem = parse_problem(_problem(1))
    plan = solve(problem)
    assert check_plan(problem, plan) == []
    assert plan.status == "infeasible"
    assert plan.message == "no plan satisfies every rule (the exact model proved it)"
    assert [e.reason for e in plan.explanations] == [PEOPLE_BIND]
    assert any(s.stage == "exact" and s.status == "infeasible" for s in plan.stages)
    assert any(s.stage == "portfolio[0]" and s.status == "optimal" for s in plan.stages), "the portfolio stage alone finds schedules"


def test_the_same_problem_with_one_more_trial_at_once_for_ana_is_planned():
    plan = solve_checked(_problem(2))
    assert plan.status == "optimal"
    assert all(t.run for t in plan.trials)

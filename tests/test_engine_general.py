"""The engine off the reference path: shapes of portfolio it once got wrong, each derived by hand.

Every plan goes through the independent checker (``solve_checked``).
"""

from __future__ import annotations

import pytest

from models.heuristic import constructive_schedule, serial_plan
from models.instance import compile_instance
from models.problem import parse_problem
from models.sgs import applies
from tests.conftest import base_problem, solve_checked


def _multi_skilled(**overrides: object) -> dict:
    """Three people whose primary role (A) no trial asks for: B and C are only ever secondary
    roles, and nobody may work on two trials in one month. T1 needs B 1.0 and C 0.5, T2 needs
    B 0.5 and C 1.0, two months each. Together they need 3 FTE, all three people, and the one
    covering both a B and a C share would be on two trials at once: they must run one after the other."""
    problem = base_problem(
        roles=["A", "B", "C"],
        staff=[
            {"id": "p1", "role": "A", "secondary_roles": ["B"], "monthly_cost": 1000, "max_concurrent_trials": 1},
            {"id": "p2", "role": "A", "secondary_roles": ["C"], "monthly_cost": 1000, "max_concurrent_trials": 1},
            {"id": "p3", "role": "A", "secondary_roles": ["B", "C"], "monthly_cost": 1000, "max_concurrent_trials": 1},
        ],
        trials=[
            {"id": "T1", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 1.0, "C": 0.5}}]}]},
            {"id": "T2", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 0.5, "C": 1.0}}]}]},
        ],
        horizon={"start": "2027-01", "months": 6},
        objective={"kind": "makespan", "weights": {"fragmentation": 0}},
        settings={"time_limit": 20},
    )
    problem.update(overrides)
    return problem


def test_trials_that_fit_one_after_another_get_a_plan_where_only_secondary_roles_can_staff_them():
    problem = parse_problem(_multi_skilled())
    inst = compile_instance(problem)
    assert constructive_schedule(inst) is None  # role capacity counted in primary roles: none for B or C
    serial = serial_plan(inst)
    assert serial is not None and serial.staffing.shortfall == {}
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 4  # one after the other: 2 + 2 months


def test_a_schedule_search_on_role_capacity_does_not_cut_windows_where_concurrency_limits_can_bind():
    """The makespan shortcut (a serial schedule's length caps every start) holds only where
    a schedule fitting role capacity can always be staffed."""
    inst = compile_instance(parse_problem(_multi_skilled()))
    assert not applies(inst)
    whole = _multi_skilled()
    for person in whole["staff"]:
        person["secondary_roles"] = []
        person["role"] = "B"
    whole["roles"] = ["A", "B"]
    whole["trials"] = [
        {"id": t, "mandatory": True, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"B": 1.0}}]}]} for t in ("T1", "T2")
    ]
    # Whole FTE demands, full-time people: one person per trial and month always exists.
    assert applies(compile_instance(parse_problem(whole)))


def test_demand_is_left_uncovered_where_its_price_is_below_every_persons_cost():
    """Under ``cost`` with shortfall priced at 3,000 per FTE-month, covering T1's 3 FTE-months
    costs 10,000 each (plus the fragmentation penalty); leaving them uncovered costs 9,000."""
    problem = base_problem(objective={"kind": "cost", "weights": {"shortfall": 3000, "fragmentation": 1000}})
    plan = solve_checked(problem)
    assert plan.objective == pytest.approx(9000)
    assert plan.assignments == []
    assert plan.kpis.shortfall_fte_months == pytest.approx(3.0)
    assert plan.status == "optimal"


def test_the_bound_counts_the_fragmentation_every_roster_pays():
    """T1 needs 2 FTE for 3 months from people of FTE 1: any roster names at least two
    people, so at a fragmentation weight of 50,000 every plan costs at least
    2 x 3 x 10,000 + 2 x 50,000 = 160,000, which the cheapest plan (ana and ben) costs."""
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
            {"id": "cy", "role": "CRA", "monthly_cost": 10000},
        ],
        trials=[{"id": "T1", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 2.0}}]}]}],
        objective={"kind": "cost", "weights": {"fragmentation": 50000}},
    )
    plan = solve_checked(problem)
    assert plan.objective == pytest.approx(160_000)
    assert plan.best_bound == pytest.approx(160_000)
    assert plan.status == "optimal"

"""The schedule core (CP-SAT beside HiGHS): small resource-constrained schedules whose
optimal makespan is derived by hand, solved through the whole engine and checked."""

from __future__ import annotations

from typing import Any

from models.contract.validation import parse_problem
from models.formulation.instance import compile_instance
from models.heuristics.cp_schedule import STAGE, configured_solver, solve_schedule
from models.solver.settings import EngineSettings
from tests.conftest import base_problem, solve_checked, trial_plan


def _trial(tid: str, months: int, cra: float, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "mandatory": True, "options": [{"id": "std", "stages": [{"months": months, "demand": {"CRA": cra}}]}], **extra}


def _makespan_problem(trials: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    return base_problem(
        trials=trials,
        objective={"kind": "makespan", "weights": {"fragmentation": 0}},
        settings={"time_limit": 10},
        **overrides,
    )


def _core_status(plan) -> str:
    return next(s.status for s in plan.stages if s.stage == STAGE)


def test_a_lag_after_a_trial_is_filled_by_another_and_the_energy_bound_is_reached():
    """Two CRAs. A (2 months x 2 FTE), B and C (3 months x 1 FTE), D (1 month x 2 FTE) at
    least one whole month after B ends: 12 FTE-months on 2 FTE take at least 6 months, and
    6 is reached only with B and C first, A in the month of D's lag and D last."""
    problem = _makespan_problem(
        [
            _trial("A", 2, 2.0),
            _trial("B", 3, 1.0),
            _trial("C", 3, 1.0),
            _trial("D", 1, 2.0, predecessors=[{"trial": "B", "lag": 1}]),
        ]
    )
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 6
    assert plan.best_bound is not None and plan.best_bound >= 6 - 1e-9
    assert _core_status(plan) == "optimal"
    assert [(trial_plan(plan, t).start, trial_plan(plan, t).end) for t in "ABCD"] == [
        ("2027-04", "2027-05"),
        ("2027-01", "2027-03"),
        ("2027-01", "2027-03"),
        ("2027-06", "2027-06"),
    ]


def test_trial_never_starts_before_its_predecessor_ends_plus_the_lag():
    problem = _makespan_problem([_trial("A", 2, 1.0), _trial("B", 2, 1.0, predecessors=[{"trial": "A", "lag": 2}])])
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    # A in months 0-1, two idle months, B in months 4-5.
    assert trial_plan(plan, "B").start == "2027-05"
    assert plan.kpis.makespan_months == 6


def test_capacity_lost_to_leave_in_some_months_holds_back_the_trial_that_needs_everyone():
    """Ben is on leave in the first two months: A (2 months x 2 FTE) cannot run until month
    2, and B (2 months x 1 FTE) fits in the months before: makespan 4."""
    problem = _makespan_problem([_trial("A", 2, 2.0), _trial("B", 2, 1.0)])
    problem["staff"][1]["leave"] = ["2027-01", "2027-02"]
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 4
    assert trial_plan(plan, "A").start == "2027-03"
    assert _core_status(plan) == "optimal"


def test_fractional_demand_fits_two_trials_at_a_time_and_not_three():
    """One person at 1.0 FTE, three trials of 2 months at 0.4 FTE: two fit at once, three
    (1.2 FTE) do not, so no schedule ends within 3 months (each month would need two trials
    running and the first two end together); 4 months it is."""
    problem = _makespan_problem([_trial(t, 2, 0.4) for t in ("A", "B", "C")])
    problem["staff"] = [{"id": "ana", "role": "CRA", "monthly_cost": 10000, "max_concurrent_trials": 10}]
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 4
    assert _core_status(plan) == "optimal"


def test_the_option_that_shortens_the_schedule_is_chosen():
    """Y takes both CRAs for 2 months; X runs 4 months at 1 FTE (which cannot overlap Y:
    6 months) or 1 month at 2 FTE (3 months)."""
    fast_or_standard = {
        "id": "X",
        "mandatory": True,
        "options": [
            {"id": "standard", "stages": [{"months": 4, "demand": {"CRA": 1.0}}]},
            {"id": "fast", "stages": [{"months": 1, "demand": {"CRA": 2.0}}]},
        ],
    }
    plan = solve_checked(_makespan_problem([fast_or_standard, _trial("Y", 2, 2.0)]))
    assert plan.status == "optimal"
    assert trial_plan(plan, "X").option == "fast"
    assert plan.kpis.makespan_months == 3


def test_trials_whose_windows_force_them_to_overlap_beyond_capacity_make_the_problem_infeasible():
    """One CRA; two trials of 3 months at 1 FTE must both start by 2027-02, so they overlap."""
    problem = _makespan_problem(
        [_trial("A", 3, 1.0, latest_start="2027-02"), _trial("B", 3, 1.0, latest_start="2027-02")],
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
    )
    plan = solve_checked(problem)
    assert plan.status == "infeasible"
    assert _core_status(plan) == "infeasible"
    reasons = " | ".join(e.reason for e in plan.explanations)
    assert "no schedule of the trials that must run fits role capacity" in reasons
    assert any("CRA short by" in e.reason for e in plan.explanations), "the elastic stage names the scarce role"


def test_the_core_proves_its_makespan_and_gives_it_as_the_lower_bound():
    problem = parse_problem(_makespan_problem([_trial("A", 2, 2.0), _trial("B", 3, 1.0), _trial("C", 3, 1.0)]))
    found = solve_schedule(compile_instance(problem), EngineSettings.from_problem(problem.settings), 5.0, 5.0)
    # A alone, then B and C side by side: 5 months; 10 FTE-months on 2 FTE need 5.
    assert (found.status, found.makespan, found.lower_bound) == ("optimal", 5, 5)
    assert found.schedule is not None and found.schedule["A"][1] in (0, 3)


def test_the_core_claims_no_bound_where_people_also_serve_a_second_role():
    """With a secondary role a person adds capacity the core does not count, so its
    makespan bounds no plan."""
    problem = _makespan_problem([_trial("A", 2, 2.0), _trial("B", 2, 1.0)], roles=["CRA", "CTM"])
    problem["staff"].append({"id": "cat", "role": "CTM", "secondary_roles": ["CRA"], "monthly_cost": 9000})
    parsed = parse_problem(problem)
    found = solve_schedule(compile_instance(parsed), EngineSettings.from_problem(parsed.settings), 5.0, 5.0)
    assert found.lower_bound is None and found.status == "feasible"
    assert found.makespan == 4


def test_reproducible_mode_gives_the_same_schedule_every_time():
    problem = _makespan_problem([_trial(t, 1 + i % 3, 1.0 + i % 2) for i, t in enumerate("ABCDEFGH")])
    problem["settings"] = {"time_limit": 10, "reproducible": True}
    parsed = parse_problem(problem)
    settings = EngineSettings.from_problem(parsed.settings)
    runs = [solve_schedule(compile_instance(parsed), settings, 5.0, 1.0).schedule for _ in range(3)]
    assert runs[0] is not None and runs[0] == runs[1] == runs[2]


def test_the_core_searches_on_no_more_threads_than_the_planner_allows():
    assert configured_solver(EngineSettings(threads=1), 1.0, 1.0).parameters.num_workers == 1
    assert configured_solver(EngineSettings(reproducible=True), 1.0, 1.0).parameters.num_workers == 1

"""Hand-made problems, one per objective and one per constraint family, optima derived by hand.

Every plan goes through the independent checker (``solve_checked``).
"""

from __future__ import annotations

import pytest

from models.contract.check import check_plan
from models.pipeline import solve
from models.contract.validation import parse_problem
from tests.conftest import base_problem, solve_checked, trial_plan


def _stage(months: int, **demand: float) -> dict:
    return {"months": months, "demand": demand}


def _trial(tid: str, months: int = 3, fte: float = 1.0, **extra) -> dict:
    trial = {"id": tid, "options": [{"id": "std", "stages": [_stage(months, CRA=fte)]}]}
    trial.update(extra)
    return trial


# -- objectives -------------------------------------------------------------------------


def test_value_objective_runs_trial_worth_more_than_it_costs_and_drops_the_rest():
    # T1 costs 3 months x 10k (ana) = 30k for value 1M; T2 is worth 20k but costs 30k+.
    problem = base_problem(
        trials=[_trial("T1", value=1_000_000, mandatory=True), _trial("T2", value=20_000)],
        objective={"kind": "value", "discount_rate": 0.0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert trial_plan(plan, "T1").run and not trial_plan(plan, "T2").run
    assert plan.objective == pytest.approx(1_000_000 - 30_000)


def test_value_objective_discounts_each_month_of_delay():
    # One person (ana), two 3-month trials needing 1 FTE: one starts at once, the other
    # 3 months later. The more valuable goes first: 1M + 0.5M * 0.9^3 - 60k.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[_trial("A", value=500_000), _trial("B", value=1_000_000)],
        objective={"kind": "value", "discount_rate": 0.1, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "B").start == "2027-01"
    assert trial_plan(plan, "A").start == "2027-04"
    assert plan.objective == pytest.approx(1_000_000 + 500_000 * 0.9**3 - 60_000)


def test_cost_objective_picks_the_cheapest_option_and_skips_optional_trials():
    problem = base_problem(
        trials=[
            {
                "id": "T1",
                "mandatory": True,
                "options": [
                    {"id": "std", "stages": [_stage(4, CRA=1.0)]},
                    {"id": "fso", "stages": [_stage(4, CRA=0.1)], "fixed_cost": 50_000},
                ],
            },
            _trial("T2", value=10_000_000),
        ],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    t1 = trial_plan(plan, "T1")
    assert t1.option == "std"
    assert not trial_plan(plan, "T2").run
    assert plan.objective == pytest.approx(4 * 10_000)


def test_makespan_objective_sequences_trials_that_share_one_person():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 0}],
        trials=[_trial("A", months=2, mandatory=True), _trial("B", months=3, mandatory=True)],
        objective={"kind": "makespan"},
    )
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == 5
    assert plan.objective == pytest.approx(5, abs=1e-3)


def test_weighted_completion_finishes_the_heavier_trial_first():
    # Same one person; A weighs 1, B weighs 3, both 2 months: B then A gives 3*2 + 1*4 = 10.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 0}],
        trials=[_trial("A", months=2, mandatory=True, value=1), _trial("B", months=2, mandatory=True, value=3)],
        objective={"kind": "weighted_completion"},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "B").start == "2027-01"
    assert trial_plan(plan, "A").start == "2027-03"
    assert plan.objective == pytest.approx(10, abs=1e-3)


# -- constraint families ------------------------------------------------------------------


def test_trial_never_starts_before_predecessor_ends_plus_lag():
    problem = base_problem(
        trials=[
            _trial("P2", months=3, mandatory=True),
            _trial("P3", months=2, mandatory=True, predecessors=[{"trial": "P2", "lag": 2}]),
        ],
        objective={"kind": "makespan"},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "P2").end == "2027-03"
    assert trial_plan(plan, "P3").start == "2027-06"
    assert plan.kpis.makespan_months == 7


def test_successor_cannot_run_when_its_predecessor_does_not():
    # P2 is worth less than it costs, P3 is worth a lot: running P3 forces P2 to run too.
    problem = base_problem(
        trials=[
            _trial("P2", months=2, value=1_000),
            _trial("P3", months=2, value=500_000, predecessors=[{"trial": "P2"}]),
        ],
        objective={"kind": "value", "discount_rate": 0.0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "P2").run and trial_plan(plan, "P3").run
    assert plan.objective == pytest.approx(501_000 - 40_000)


def test_trial_starts_inside_its_window():
    problem = base_problem(
        trials=[_trial("T1", mandatory=True, earliest_start="2027-04", latest_start="2027-06")],
        objective={"kind": "makespan"},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "T1").start == "2027-04"


def test_cost_objective_keeps_mandatory_trials_on_time():
    # One person; both 3 months; A due 2027-03, B due 2027-06: A must go first.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 1000}],
        trials=[
            _trial("B", mandatory=True, deadline="2027-06"),
            _trial("A", mandatory=True, deadline="2027-03"),
        ],
        objective={"kind": "cost"},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "A").end == "2027-03"
    assert trial_plan(plan, "B").end == "2027-06"
    assert all(t.months_late == 0 for t in plan.trials)


def test_late_trial_pays_its_tardiness_penalty_under_value():
    # Two mandatory 3-month trials, one person, both due 2027-03: one is 3 months late.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 1000}],
        trials=[
            _trial("A", mandatory=True, deadline="2027-03", tardiness_penalty=100),
            _trial("B", mandatory=True, deadline="2027-03", tardiness_penalty=500),
        ],
        objective={"kind": "value", "discount_rate": 0.0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "A").months_late == 3
    assert trial_plan(plan, "B").months_late == 0
    assert plan.objective == pytest.approx(-6_000 - 300)


def test_part_time_person_never_works_more_than_their_fte():
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 5000, "fte": 0.5},
            {"id": "ben", "role": "CRA", "monthly_cost": 12000},
        ],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    by_person = {a.staff: a.fte for a in plan.assignments}
    assert by_person == {"ana": 0.5, "ben": 0.5}
    assert plan.objective == pytest.approx(3 * (5000 + 6000))


def test_person_on_leave_is_not_assigned_and_flex_covers_the_month():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000, "leave": ["2027-02"]}],
        flex=[{"role": "CRA", "monthly_rate": 15000, "max_fte": 1.0}],
        trials=[_trial("T1", mandatory=True, earliest_start="2027-01", latest_start="2027-01")],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    months = sorted((a.start, a.end) for a in plan.assignments)
    assert months == [("2027-01", "2027-01"), ("2027-03", "2027-03")]
    assert plan.kpis.flex_fte_months == pytest.approx(1.0)
    assert plan.objective == pytest.approx(2 * 10000 + 15000)


def test_person_outside_availability_window_is_not_assigned():
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 1000, "available_from": "2027-06"},
            {"id": "ben", "role": "CRA", "monthly_cost": 9000},
        ],
        trials=[_trial("T1", mandatory=True, latest_start="2027-01")],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert {a.staff for a in plan.assignments} == {"ben"}


def test_only_people_with_the_required_skill_work_in_that_role():
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 1000, "skills": []},
            {"id": "ben", "role": "CRA", "monthly_cost": 9000, "skills": ["psoriasis"]},
        ],
        trials=[_trial("T1", mandatory=True, required_skills={"CRA": ["psoriasis"]})],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert {a.staff for a in plan.assignments} == {"ben"}


def test_regional_role_is_staffed_from_the_trials_regions():
    problem = base_problem(
        regional_roles=["CRA"],
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 1000, "region": "APAC"},
            {"id": "ben", "role": "CRA", "monthly_cost": 9000, "region": "EU"},
        ],
        trials=[_trial("T1", mandatory=True, regions=["EU", "NA"])],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert {a.staff for a in plan.assignments} == {"ben"}


def test_secondary_role_lets_a_person_cover_another_role():
    problem = base_problem(
        roles=["CRA", "CTA"],
        staff=[{"id": "ana", "role": "CTA", "secondary_roles": ["CRA"], "monthly_cost": 4000}],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert [(a.staff, a.role) for a in plan.assignments] == [("ana", "CRA")]


def test_person_works_on_at_most_their_concurrent_trial_limit():
    # ana (cheap, max 1 trial) could cover both 0.5-FTE trials but may take only one.
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 1000, "max_concurrent_trials": 1},
            {"id": "ben", "role": "CRA", "monthly_cost": 9000},
        ],
        trials=[
            _trial("A", fte=0.5, mandatory=True, latest_start="2027-01"),
            _trial("B", fte=0.5, mandatory=True, latest_start="2027-01"),
        ],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    ana = {a.trial for a in plan.assignments if a.staff == "ana"}
    assert len(ana) == 1
    assert plan.objective == pytest.approx(3 * 0.5 * 1000 + 3 * 0.5 * 9000)


def test_flex_covers_demand_up_to_its_monthly_limit_at_its_rate():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        flex=[{"role": "CRA", "monthly_rate": 20000, "max_fte": 0.5}],
        trials=[_trial("T1", fte=1.5, mandatory=True)],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert plan.kpis.flex_fte_months == pytest.approx(1.5)
    assert plan.objective == pytest.approx(3 * 10000 + 3 * 0.5 * 20000)
    assert all(rm.flex <= 0.5 + 1e-9 for rm in plan.role_months)


def test_demand_beyond_staff_and_flex_makes_a_mandatory_trial_infeasible():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[_trial("T1", fte=2.0, mandatory=True)],
    )
    parsed = parse_problem(problem)
    plan = solve(parsed)
    assert plan.status == "infeasible"
    assert plan.trials == [] and plan.assignments == []
    assert check_plan(parsed, plan) == []


def test_shortfall_is_allowed_and_priced_when_a_weight_is_set():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[_trial("T1", fte=1.5, mandatory=True)],
        objective={"kind": "cost", "weights": {"fragmentation": 0, "shortfall": 50000}},
    )
    plan = solve_checked(problem)
    assert plan.kpis.shortfall_fte_months == pytest.approx(1.5)
    assert plan.objective == pytest.approx(3 * 10000 + 1.5 * 50000)


def test_trials_that_would_overload_a_service_do_not_overlap():
    service = {"id": "lab", "kind": "central_lab", "capacity": 10, "unit_cost": 100}
    trial = lambda tid: {  # noqa: E731
        "id": tid,
        "mandatory": True,
        "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.1}, "services": {"lab": 6}}]}],
    }
    problem = base_problem(services=[service], trials=[trial("A"), trial("B")], objective={"kind": "makespan"})
    plan = solve_checked(problem)
    assert plan.kpis.makespan_months == 4
    assert max(sm.used for sm in plan.service_months) == pytest.approx(6)


def test_yearly_budget_leaves_out_the_trial_it_cannot_afford():
    # Each trial costs 30k in 2027 (3 months x 10k, one person each); the 2027 budget is 50k.
    problem = base_problem(
        horizon={"start": "2027-01", "months": 12},
        trials=[
            _trial("A", value=100_000, latest_start="2027-01"),
            _trial("B", value=200_000, latest_start="2027-01"),
        ],
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
        ],
        budget={"per_year": {"2027": 50_000}},
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert [t.id for t in plan.trials if t.run] == ["B"]
    assert plan.budget.per_year[0].spend == pytest.approx(30_000)


def test_fixed_cost_counts_in_the_budget_spread_over_the_active_months():
    problem = base_problem(
        horizon={"start": "2027-11", "months": 6},
        trials=[
            {
                "id": "T1",
                "mandatory": True,
                "earliest_start": "2027-11",
                "latest_start": "2027-11",
                "options": [{"id": "fso", "stages": [_stage(4, CRA=0.0)], "fixed_cost": 40_000}],
            }
        ],
        objective={"kind": "cost"},
    )
    plan = solve_checked(problem)
    spend = {y.year: y.spend for y in plan.budget.per_year}
    assert spend == pytest.approx({"2027": 20_000, "2028": 20_000})


def test_pinned_start_and_option_are_kept():
    problem = base_problem(
        trials=[
            {
                "id": "T1",
                "mandatory": True,
                "options": [
                    {"id": "std", "stages": [_stage(3, CRA=1.0)]},
                    {"id": "dct", "stages": [_stage(2, CRA=1.0)]},
                ],
            }
        ],
        pins={"trials": [{"trial": "T1", "option": "std", "start": "2027-05"}]},
        objective={"kind": "makespan"},
    )
    plan = solve_checked(problem)
    t1 = trial_plan(plan, "T1")
    assert (t1.option, t1.start) == ("std", "2027-05")


def test_pinned_assignment_appears_in_the_plan():
    problem = base_problem(
        pins={"assignments": [{"staff": "ben", "trial": "T1", "role": "CRA", "start": "2027-01", "end": "2027-03", "fte": 1.0}]},
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert [(a.staff, a.start, a.end, a.fte) for a in plan.assignments] == [("ben", "2027-01", "2027-03", 1.0)]
    assert trial_plan(plan, "T1").start == "2027-01"


def test_frozen_months_keep_the_previous_plan():
    first = base_problem(trials=[_trial("T1", months=6, mandatory=True)], objective={"kind": "makespan"})
    previous = solve_checked(first)
    replan = base_problem(
        trials=[_trial("T1", months=6, mandatory=True), _trial("T2", months=2, value=10, mandatory=True)],
        pins={"frozen_until": "2027-03", "previous_plan": previous.model_dump(mode="json")},
        objective={"kind": "makespan"},
    )
    plan = solve_checked(replan)
    assert trial_plan(plan, "T1").start == trial_plan(previous, "T1").start
    assert trial_plan(plan, "T2").start >= "2027-03"
    kept = {(a.staff, a.trial) for a in previous.assignments}
    assert kept <= {(a.staff, a.trial) for a in plan.assignments}


def test_fragmentation_weight_prefers_one_person_over_two():
    # ana and ben cost the same; with a fragmentation price the trial gets one of them.
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
        ],
        objective={"kind": "cost", "weights": {"fragmentation": 500}},
    )
    plan = solve_checked(problem)
    assert len({a.staff for a in plan.assignments}) == 1
    assert plan.objective == pytest.approx(30_000 + 500)


def test_optimal_plan_reports_a_bound_within_the_gap():
    plan = solve_checked(base_problem())
    assert plan.status == "optimal"
    assert plan.best_bound is not None and plan.gap is not None and plan.gap <= 0.01
    assert plan.best_bound >= plan.objective - 1e-6  # value is maximised: the bound is above


def test_left_out_trial_is_explained_by_the_role_that_binds():
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 1000}],
        trials=[_trial("T1", months=12, mandatory=True), _trial("T2", months=3, value=500_000)],
    )
    plan = solve_checked(problem)
    reasons = {e.trial: e.reason for e in plan.explanations}
    assert not trial_plan(plan, "T2").run
    assert "role CRA short in 2027-01..2027-03" in reasons["T2"]


def test_left_out_trial_is_explained_by_the_budget_year_that_binds():
    problem = base_problem(
        trials=[_trial("A", value=100_000, latest_start="2027-01"), _trial("B", value=200_000, latest_start="2027-01")],
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
        ],
        budget={"per_year": {"2027": 50_000}},
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    reasons = {e.trial: e.reason for e in plan.explanations}
    assert "budget 2027 exceeded by at least 10,000" in reasons["A"]

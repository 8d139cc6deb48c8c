"""The independent plan checker (SPEC §4) against hand-made problems and plans.

One tiny problem (4 months across a year boundary, 5 people, 3 trials, 1 service, flex
for one role) and one valid plan written by hand, with every reported number (including
the objective, bound, gap and KPIs) worked out by hand (see ``BASE_PLAN``). Each rule is then broken by a minimal change to the
plan's *decisions*; :func:`consistent` rewrites the plan's reported numbers from the
checker's recomputation so that only the rule under test can fire. That recomputation
is itself pinned by :func:`test_recomputation_matches_the_hand_computed_reports`.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from models.contract.check import Violation, check_plan, recompute
from models.contract.plan import Plan, RoleMonth, ServiceMonth, TrialCost, TrialCoverage, YearSpend
from models.contract.problem import Problem

# Months: index 0 = 2026-11, 1 = 2026-12, 2 = 2027-01, 3 = 2027-02.
BASE_PROBLEM: dict[str, Any] = {
    "name": "checker-fixture",
    "horizon": {"start": "2026-11", "months": 4},
    "roles": ["CRA", "DM"],
    "regional_roles": ["CRA"],
    "staff": [
        {"id": "ana", "role": "CRA", "region": "EU", "fte": 1.0, "monthly_cost": 1000,
         "max_concurrent_trials": 1},
        {"id": "ben", "role": "DM", "secondary_roles": ["CRA"], "region": "NA", "skills": ["DMX"],
         "fte": 0.5, "monthly_cost": 600, "leave": ["2027-01"]},
        {"id": "cy", "role": "CRA", "region": "EU", "fte": 1.0, "monthly_cost": 800, "available_from": "2026-12"},
        {"id": "dee", "role": "CRA", "region": "NA", "skills": ["DMX"], "fte": 1.0, "monthly_cost": 900},
        {"id": "eve", "role": "DM", "region": "EU", "fte": 1.0, "monthly_cost": 700},
    ],
    "services": [{"id": "lab", "kind": "central_lab", "capacity": 10, "unit_cost": 5}],
    "flex": [{"role": "DM", "monthly_rate": 2000, "max_fte": 0.5}],
    "trials": [
        {
            "id": "T1", "value": 100000, "mandatory": True, "regions": ["EU"], "required_skills": {"DM": ["DMX"]},
            "earliest_start": "2026-11", "latest_start": "2026-12", "deadline": "2027-01",
            "options": [
                {"id": "std", "fixed_cost": 300, "stages": [
                    {"months": 2, "demand": {"CRA": 0.5, "DM": 0.5}, "services": {"lab": 4}},
                    {"months": 1, "demand": {"DM": 0.5}}]},
                {"id": "dct", "fixed_cost": 300, "stages": [
                    {"months": 2, "demand": {"CRA": 0.5, "DM": 0.5}, "services": {"lab": 8}},
                    {"months": 1, "demand": {"DM": 0.5}}]},
                {"id": "premium", "fixed_cost": 1200, "stages": [
                    {"months": 2, "demand": {"CRA": 0.5, "DM": 0.5}, "services": {"lab": 4}},
                    {"months": 1, "demand": {"DM": 0.5}}]},
            ],
        },
        {
            "id": "T2", "value": 50000, "mandatory": True, "earliest_start": "2026-12", "latest_start": "2026-12",
            "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.5}, "services": {"lab": 3}}]}],
        },
        {
            "id": "T3", "value": 20000, "predecessors": [{"trial": "T1", "lag": 0}],
            "options": [
                {"id": "std", "stages": [{"months": 1}]},
                {"id": "fso", "fixed_cost": 5000, "stages": [{"months": 1}]},
            ],
        },
    ],
    "budget": {"per_year": {"2026": 3400}, "total": 6000},
}


def _role_month(role: str, month: str, capacity: tuple[float, float], demand: float, assigned: float, flex: float,
                utilisation: float, spare: float) -> dict[str, Any]:
    """``capacity``: (primary, secondary) FTE of the people able to work the role."""
    return {"role": role, "month": month, "capacity": sum(capacity), "capacity_primary": capacity[0],
            "capacity_secondary": capacity[1], "demand": demand, "assigned": assigned, "spare": spare,
            "flex": flex, "shortfall": 0.0, "utilisation": utilisation}


# Worked by hand. Staff cost: ana 0.5 * 1000 = 500/month; ben 0.5 FTE of a 0.5-FTE person
# at 600 = 600/month; cy 0.5 * 800 = 400/month. Flex DM 2027-01: 0.5 * 2000 = 1000. Lab 5/unit:
# T1 4 units in 2026-11..12 (20/month), T2 3 units in 2026-12..2027-01 (15/month). T1 fixed
# 300 over 3 months = 100/month. 2026: 1000 + 1200 + 400 + 40 + 15 + 200 = 2855;
# 2027: 400 + 1000 + 15 + 100 = 1515; total 4370.
# Objective `value` (discount 0.01, default weights: tardiness 1, fragmentation 1000, no shortfall
# price): T1 starts at its earliest start (delay 0) -> 100000; T2 starts at its earliest start
# 2026-12 (delay 0, though one month after the horizon start) -> 50000; no month late; 3 distinct
# (person, trial) pairs (ana-T1, ben-T1, cy-T2) -> fragmentation 3000. Objective = 150000 - 4370
# - 3000 = 142630. Bound 144056.3: gap = 1426.3 / max(1, 142630) = 0.01.
# KPIs: 2 trials run, both on time (T1 ends 2027-01 = its deadline; T2 has none), makespan 3
# (both end 2027-01, index 2), flex 0.5 FTE-months, no shortfall; mean utilisation: 3 FTE-months
# assigned (ana, ben, cy 0.5 for 2 months each) of 16.5 available (ana 4, ben 0.5 x 3 off
# leave, cy 3 from 2026-12, dee 4, eve 4) = 2/11.
# Role-months count everyone able to work the role: CRA is ana, cy, dee (primary) and ben
# (secondary, 0.5 FTE, on leave 2027-01); DM is ben and eve. Spare is what those people have on
# no trial: CRA 2026-11 = ana 0.5 + ben 0 (busy on DM) + dee 1 = 1.5.
BASE_PLAN: dict[str, Any] = {
    "status": "optimal",
    "objective": 142630, "best_bound": 144056.3, "gap": 0.01,
    "kpis": {"total_cost": 4370, "value_delivered": 150000, "trials_run": 2, "trials_on_time": 2,
             "mean_utilisation": 2 / 11, "makespan_months": 3, "flex_fte_months": 0.5,
             "shortfall_fte_months": 0.0},
    "trials": [
        {"id": "T1", "run": True, "option": "std", "start": "2026-11", "end": "2027-01", "months_late": 0,
         "cost": 3540, "cost_split": {"staff": 2200, "flex": 1000, "services": 40, "external": 300},
         "coverage": {"named": 2.0, "flex": 0.5, "uncovered": 0.0}, "value": 100000},
        {"id": "T2", "run": True, "option": "std", "start": "2026-12", "end": "2027-01", "months_late": 0,
         "cost": 830, "cost_split": {"staff": 800, "services": 30},
         "coverage": {"named": 1.0, "flex": 0.0, "uncovered": 0.0}, "value": 50000},
        {"id": "T3", "run": False},
    ],
    "assignments": [
        {"staff": "ana", "trial": "T1", "role": "CRA", "start": "2026-11", "end": "2026-12", "fte": 0.5},
        {"staff": "ben", "trial": "T1", "role": "DM", "start": "2026-11", "end": "2026-12", "fte": 0.5},
        {"staff": "cy", "trial": "T2", "role": "CRA", "start": "2026-12", "end": "2027-01", "fte": 0.5},
    ],
    "role_months": [
        _role_month("CRA", "2026-11", (2.0, 0.5), 0.5, 0.5, 0.0, 0.2, 1.5),
        _role_month("CRA", "2026-12", (3.0, 0.5), 1.0, 1.0, 0.0, 2 / 7, 2.0),
        _role_month("CRA", "2027-01", (3.0, 0.0), 0.5, 0.5, 0.0, 1 / 6, 2.5),
        _role_month("CRA", "2027-02", (3.0, 0.5), 0.0, 0.0, 0.0, 0.0, 3.5),
        _role_month("DM", "2026-11", (1.5, 0.0), 0.5, 0.5, 0.0, 1 / 3, 1.0),
        _role_month("DM", "2026-12", (1.5, 0.0), 0.5, 0.5, 0.0, 1 / 3, 1.0),
        _role_month("DM", "2027-01", (1.0, 0.0), 0.5, 0.0, 0.5, 0.0, 1.0),
        _role_month("DM", "2027-02", (1.5, 0.0), 0.0, 0.0, 0.0, 0.0, 1.5),
    ],
    "service_months": [
        {"service": "lab", "month": "2026-11", "used": 4, "capacity": 10},
        {"service": "lab", "month": "2026-12", "used": 7, "capacity": 10},
        {"service": "lab", "month": "2027-01", "used": 3, "capacity": 10},
        {"service": "lab", "month": "2027-02", "used": 0, "capacity": 10},
    ],
    "budget": {"per_year": [{"year": "2026", "spend": 2855, "budget": 3400}, {"year": "2027", "spend": 1515}],
               "total": 4370, "total_budget": 6000},
}


def problem_of(data: dict[str, Any] | None = None) -> Problem:
    return Problem.model_validate(data if data is not None else BASE_PROBLEM)


def plan_of(data: dict[str, Any] | None = None) -> Plan:
    return Plan.model_validate(data if data is not None else BASE_PLAN)


def codes(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def consistent(problem: Problem, plan: Plan) -> Plan:
    """The plan with every reported number (ends, months late, costs, coverage, values,
    role- and service-months, budget, KPIs, objective; the bound moved to keep the reported
    gap) rewritten from the checker's recomputation; decisions untouched."""
    out = recompute(problem, plan)
    plan = plan.model_copy(deep=True)
    for trial in plan.trials:
        if trial.id in out.trial_end:
            trial.end = problem.month(out.trial_end[trial.id])
        trial.months_late = out.trial_months_late.get(trial.id, 0)
        trial.cost_split = out.trial_cost.get(trial.id, TrialCost())
        trial.cost = trial.cost_split.total
        trial.coverage = out.trial_coverage.get(trial.id, TrialCoverage())
        trial.value = out.trial_value.get(trial.id, 0.0)
    plan.kpis = out.kpis.model_copy()
    if plan.objective is not None:
        plan.objective = out.objective
        if plan.best_bound is not None:
            sense = 1.0 if problem.objective.kind == "value" else -1.0
            plan.best_bound = out.objective + sense * (plan.gap or 0.0) * max(1.0, abs(out.objective))
    flex = {(rm.role, rm.month): rm.flex for rm in plan.role_months}
    plan.role_months = []
    for role in problem.roles:
        for index in range(problem.horizon.months):
            key = (role, index)
            capacity, assigned = out.role_capacity.get(key, 0.0), out.role_assigned.get(key, 0.0)
            primary = out.role_capacity_primary.get(key, 0.0)
            plan.role_months.append(RoleMonth(
                role=role, month=problem.month(index), capacity=capacity, capacity_primary=primary,
                capacity_secondary=capacity - primary, demand=out.role_demand.get(key, 0.0),
                assigned=assigned, assigned_secondary=out.role_assigned_secondary.get(key, 0.0),
                spare=out.role_spare.get(key, 0.0), flex=flex.get((role, problem.month(index)), 0.0),
                shortfall=out.role_shortfall.get(key, 0.0), utilisation=assigned / capacity if capacity else 0.0))
    plan.service_months = [
        ServiceMonth(service=service.id, month=problem.month(index), capacity=out.service_capacity[(service.id, index)],
                     used=out.service_used.get((service.id, index), 0.0))
        for service in problem.services for index in range(problem.horizon.months)]
    plan.budget.per_year = [YearSpend(year=year, spend=spend, budget=problem.budget.per_year.get(year))
                            for year, spend in sorted(out.spend_by_year.items())]
    plan.budget.total = out.total_spend
    plan.budget.total_budget = problem.budget.total
    return plan


def mutated(change: Callable[[dict[str, Any]], None], problem: Problem | None = None) -> Plan:
    """The base plan after ``change`` to its decisions, its reports made consistent again."""
    data = copy.deepcopy(BASE_PLAN)
    change(data)
    problem = problem or problem_of()
    return consistent(problem, plan_of(data))


def trial_entry(data: dict[str, Any], trial: str) -> dict[str, Any]:
    return next(t for t in data["trials"] if t["id"] == trial)


def assignment(data: dict[str, Any], staff: str) -> dict[str, Any]:
    return next(a for a in data["assignments"] if a["staff"] == staff)


def role_month(data: dict[str, Any], role: str, month: str) -> dict[str, Any]:
    return next(rm for rm in data["role_months"] if rm["role"] == role and rm["month"] == month)


def problem_with(change: Callable[[dict[str, Any]], None]) -> Problem:
    data = copy.deepcopy(BASE_PROBLEM)
    change(data)
    return problem_of(data)


# -- the valid plan --------------------------------------------------------------------


def test_hand_written_valid_plan_has_no_violations() -> None:
    assert check_plan(problem_of(), plan_of()) == []


def test_recomputation_matches_the_hand_computed_reports() -> None:
    """``consistent`` (used by every mutation below) leaves the hand-written plan unchanged."""
    problem, plan = problem_of(), plan_of()
    assert_same_numbers(consistent(problem, plan), plan)


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in flat(sub, f"{prefix}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in flat(sub, f"{prefix}[{i}]").items()}
    return {prefix: value}


def assert_same_numbers(a: Plan, b: Plan) -> None:
    """Field by field, floats to 1e-9 (the hand-written plan has 1/3 and friends)."""
    fa, fb = flat(a.model_dump()), flat(b.model_dump())
    assert fa.keys() == fb.keys()
    for key in fa:
        if isinstance(fa[key], float) or isinstance(fb[key], float):
            assert fa[key] == pytest.approx(fb[key], abs=1e-9), key
        else:
            assert fa[key] == fb[key], key


def only(rule: str, violations: list[Violation]) -> None:
    """The plan breaks exactly this rule (possibly in several places) and nothing else."""
    assert violations, f"expected a {rule!r} violation, got none"
    assert codes(violations) == {rule}, [f"{v.rule}: {v.message}" for v in violations]


def check(plan: Plan, problem: Problem | None = None) -> list[Violation]:
    return check_plan(problem or problem_of(), plan)


def run_trial(data: dict[str, Any], trial: str, option: str | None, start: str | None) -> None:
    entry = trial_entry(data, trial)
    entry.update(run=True, option=option, start=start, end=start)


def drop_trial(data: dict[str, Any], trial: str) -> None:
    trial_entry(data, trial).update(run=False, option=None, start=None, end=None)
    data["assignments"] = [a for a in data["assignments"] if a["trial"] != trial]


# -- staff: availability, leave, capacity, concurrency ----------------------------------


def test_person_on_leave_cannot_be_assigned() -> None:
    def change(data: dict[str, Any]) -> None:
        assignment(data, "ben")["end"] = "2027-01"  # ben is on leave in 2027-01
        role_month(data, "DM", "2027-01")["flex"] = 0.0
    violations = check(mutated(change))
    only("leave", violations)
    assert violations[0] == Violation("leave", violations[0].message, trial="T1", staff="ben", role="DM",
                                      month="2027-01")


def test_person_cannot_work_before_their_availability() -> None:
    only("availability", check(mutated(lambda d: assignment(d, "ana").update(staff="cy"))))


def test_person_cannot_work_after_their_availability() -> None:
    problem = problem_with(lambda p: p["staff"][2].update(available_to="2026-12"))
    only("availability", check(mutated(lambda d: None, problem), problem))


def test_person_cannot_work_more_than_their_fte_in_a_month() -> None:
    def change(data: dict[str, Any]) -> None:
        assignment(data, "cy")["start"] = "2027-01"
        data["assignments"].append(
            {"staff": "ben", "trial": "T2", "role": "CRA", "start": "2026-12", "end": "2026-12", "fte": 0.5})
    only("staff_capacity", check(mutated(change)))


def test_person_cannot_work_on_more_trials_at_once_than_allowed() -> None:
    def change(data: dict[str, Any]) -> None:
        assignment(data, "cy")["start"] = "2027-01"
        data["assignments"].append(
            {"staff": "ana", "trial": "T2", "role": "CRA", "start": "2026-12", "end": "2026-12", "fte": 0.5})
    only("max_concurrent_trials", check(mutated(change)))


# -- role, skills, region ---------------------------------------------------------------


def test_person_serves_only_their_primary_or_a_secondary_role() -> None:
    only("role_match", check(mutated(lambda d: assignment(d, "ben").update(staff="dee"))))


def test_person_may_serve_a_secondary_role() -> None:
    def change(data: dict[str, Any]) -> None:
        assignment(data, "ben").update(staff="eve")
        assignment(data, "cy").update(staff="ben", end="2026-12")
        data["assignments"].append(
            {"staff": "cy", "trial": "T2", "role": "CRA", "start": "2027-01", "end": "2027-01", "fte": 0.5})
    problem = problem_with(lambda p: p["trials"][0].update(required_skills={}))
    assert check(mutated(change, problem), problem) == []


def test_person_must_hold_every_skill_the_trial_requires_of_the_role() -> None:
    only("skill_match", check(mutated(lambda d: assignment(d, "ben").update(staff="eve"))))


def test_regional_role_is_staffed_from_the_trial_regions() -> None:
    only("region_match", check(mutated(lambda d: assignment(d, "ana").update(staff="dee"))))


def test_region_does_not_bind_when_the_trial_lists_no_regions() -> None:
    assert check(mutated(lambda d: assignment(d, "cy").update(staff="dee"))) == []


# -- demand, flex, shortfall ------------------------------------------------------------


def test_named_fte_cannot_exceed_the_trial_demand() -> None:
    only("over_assignment", check(mutated(lambda d: assignment(d, "ana").update(fte=0.75))))


def test_demand_must_be_covered_when_shortfall_has_no_price() -> None:
    violations = check(mutated(lambda d: d["assignments"].remove(assignment(d, "ben"))))
    only("demand_coverage", violations)
    assert [(v.role, v.month) for v in violations] == [("DM", "2026-11"), ("DM", "2026-12")]


def test_shortfall_is_allowed_when_it_has_a_price() -> None:
    problem = problem_with(lambda p: p.setdefault("objective", {}).update(weights={"shortfall": 100.0}))
    plan = mutated(lambda d: d["assignments"].remove(assignment(d, "ben")), problem)
    assert check(plan, problem) == []
    assert [rm.shortfall for rm in plan.role_months if rm.role == "DM"] == [0.5, 0.5, 0.0, 0.0]


def test_flex_cannot_exceed_the_demand_left_after_named_staff() -> None:
    only("demand_coverage", check(mutated(lambda d: role_month(d, "DM", "2026-12").update(flex=0.25))))


def test_flex_is_limited_to_its_max_fte() -> None:
    problem = problem_with(lambda p: p["flex"][0].update(max_fte=0.25))
    only("flex_limit", check(plan_of(), problem))


def test_role_without_flex_entry_has_no_flex() -> None:
    def change(data: dict[str, Any]) -> None:
        assignment(data, "ana")["end"] = "2026-11"
        role_month(data, "CRA", "2026-12")["flex"] = 0.5
    only("flex_limit", check(mutated(change)))


# -- services and budget ----------------------------------------------------------------


def test_service_use_cannot_exceed_its_capacity() -> None:
    only("service_capacity", check(mutated(lambda d: trial_entry(d, "T1").update(option="dct"))))


def test_service_capacity_may_vary_by_month() -> None:
    problem = problem_with(lambda p: p["services"][0].update(capacity=[10, 6, 10, 10]))
    violations = check(consistent(problem, plan_of()), problem)
    only("service_capacity", violations)
    assert violations[0].month == "2026-12"


def test_spend_in_a_calendar_year_cannot_exceed_its_budget() -> None:
    violations = check(mutated(lambda d: trial_entry(d, "T1").update(option="premium")))
    only("budget_year", violations)
    assert "2026" in violations[0].message


def test_total_spend_cannot_exceed_the_total_budget() -> None:
    only("budget_total", check(mutated(lambda d: run_trial(d, "T3", "fso", "2027-02"))))


# -- trials: running, options, schedule -------------------------------------------------


def test_mandatory_trial_must_run() -> None:
    only("mandatory", check(mutated(lambda d: drop_trial(d, "T2"))))


def test_optional_trial_may_run_under_the_value_objective() -> None:
    assert check(mutated(lambda d: run_trial(d, "T3", "std", "2027-02"))) == []


def test_optional_trials_do_not_run_under_the_cost_objective() -> None:
    problem = problem_with(lambda p: p.update(objective={"kind": "cost"}))
    only("optional_excluded", check(mutated(lambda d: run_trial(d, "T3", "std", "2027-02"), problem), problem))


def test_an_optional_trial_the_problem_makes_run_may_run_under_the_cost_objective() -> None:
    """Pinned to run, it must run: the cost objective's "optional trials are not run" is about
    the trials the plan may choose."""
    def pinned(p: dict[str, Any]) -> None:
        p.update(objective={"kind": "cost"})
        p["pins"] = {"trials": [{"trial": "T3", "run": True}]}
    problem = problem_with(pinned)
    plan = mutated(lambda d: run_trial(d, "T3", "std", "2027-02"), problem)
    assert [v for v in check(plan, problem) if v.rule == "optional_excluded"] == []


def test_running_trial_uses_one_of_its_options() -> None:
    only("option", check(mutated(lambda d: run_trial(d, "T3", "fast-track", "2027-02"))))


def test_trial_ends_at_start_plus_duration_minus_one() -> None:
    data = copy.deepcopy(BASE_PLAN)
    trial_entry(data, "T1")["end"] = "2027-02"
    only("schedule", check(plan_of(data)))


def test_running_trial_has_a_start() -> None:
    only("schedule", check(mutated(lambda d: run_trial(d, "T3", "std", None))))


def test_trial_lies_inside_the_horizon() -> None:
    only("horizon", check(mutated(lambda d: run_trial(d, "T3", "std", "2027-03"))))


def test_trial_starts_no_later_than_its_latest_start() -> None:
    def change(data: dict[str, Any]) -> None:
        trial_entry(data, "T2")["start"] = "2027-01"
        assignment(data, "cy").update(start="2027-01", end="2027-02")
    only("window", check(mutated(change)))


def test_successor_starts_after_the_predecessor_ends() -> None:
    only("predecessor", check(mutated(lambda d: run_trial(d, "T3", "std", "2027-01"))))


def test_successor_waits_the_lag_after_the_predecessor() -> None:
    problem = problem_with(lambda p: p["trials"][2]["predecessors"][0].update(lag=1))
    only("predecessor", check(mutated(lambda d: run_trial(d, "T3", "std", "2027-02"), problem), problem))


def test_successor_cannot_run_without_its_predecessor() -> None:
    problem = problem_with(lambda p: p["trials"][0].update(mandatory=False))

    def change(data: dict[str, Any]) -> None:
        drop_trial(data, "T1")
        role_month(data, "DM", "2027-01")["flex"] = 0.0
        run_trial(data, "T3", "std", "2027-02")
    only("predecessor", check(mutated(change, problem), problem))


def test_lateness_is_allowed_and_reported_under_the_value_objective() -> None:
    problem = problem_with(lambda p: p["trials"][0].update(deadline="2026-12"))
    plan = consistent(problem, plan_of())
    assert trial_entry(plan.model_dump(), "T1")["months_late"] == 1
    assert check(plan, problem) == []
    assert codes(check(plan_of(), problem)) == {"report_mismatch"}  # months_late 0 is now wrong


def test_mandatory_trial_is_on_time_under_the_cost_objective() -> None:
    problem = problem_with(lambda p: (p["trials"][0].update(deadline="2026-12"), p.update(objective={"kind": "cost"})))
    only("deadline", check(consistent(problem, plan_of()), problem))


def test_every_problem_trial_is_in_the_plan() -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["trials"].pop()
    only("missing_trial", check(plan_of(data)))


def test_a_trial_is_listed_only_once() -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["trials"].append({"id": "T3", "run": False})
    only("duplicate", check(plan_of(data)))


# -- assignments: references and months -------------------------------------------------


@pytest.mark.parametrize("field, value", [("staff", "zed"), ("trial", "T9"), ("role", "PM")])
def test_assignment_refers_to_known_staff_trials_and_roles(field: str, value: str) -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["assignments"].append({"staff": "dee", "trial": "T2", "role": "CRA", "start": "2026-12",
                                "end": "2026-12", "fte": 0.1} | {field: value})
    only("unknown_reference", check(plan_of(data)))


def test_plan_lists_only_problem_trials() -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["trials"].append({"id": "T9", "run": False})
    only("unknown_reference", check(plan_of(data)))


def test_assignment_lies_inside_the_trial_active_months() -> None:
    only("trial_inactive", check(mutated(lambda d: assignment(d, "cy").update(end="2027-02"))))


def test_assignment_to_a_trial_that_does_not_run() -> None:
    only("trial_inactive", check(mutated(lambda d: d["assignments"].append(
        {"staff": "dee", "trial": "T3", "role": "CRA", "start": "2027-02", "end": "2027-02", "fte": 0.5}))))


def test_assignment_lies_inside_the_horizon() -> None:
    data = copy.deepcopy(BASE_PLAN)
    assignment(data, "ana")["start"] = "2026-10"  # the horizon starts 2026-11; the rest is as before
    violations = check(plan_of(data))
    only("horizon", violations)
    assert (violations[0].staff, violations[0].month) == ("ana", "2026-10")


@pytest.mark.parametrize("start, end", [("2027-01", "2026-12"), ("2027-13", "2027-01"), ("Jan", "2027-01")])
def test_assignment_is_a_month_range(start: str, end: str) -> None:
    only("assignment_range", check(mutated(lambda d: d["assignments"].append(
        {"staff": "dee", "trial": "T2", "role": "CRA", "start": start, "end": end, "fte": 0.1}))))


# -- pins and frozen months -------------------------------------------------------------


@pytest.mark.parametrize("pin", [
    {"trial": "T2", "start": "2027-01"},
    {"trial": "T1", "option": "dct"},
    {"trial": "T3", "run": True},
], ids=["start", "option", "run"])
def test_pinned_trial_keeps_its_pinned_decision(pin: dict[str, Any]) -> None:
    problem = problem_with(lambda p: p.update(pins={"trials": [pin]}))
    only("pin", check(plan_of(), problem))


def test_satisfied_pins_are_no_violation() -> None:
    problem = problem_with(lambda p: p.update(pins={
        "trials": [{"trial": "T1", "run": True, "option": "std", "start": "2026-11"}, {"trial": "T3", "run": False}],
        "assignments": [{"staff": "ana", "trial": "T1", "role": "CRA", "start": "2026-12", "end": "2026-12",
                         "fte": 0.5}]}))
    assert check(plan_of(), problem) == []


@pytest.mark.parametrize("pinned", [
    {"staff": "ana", "trial": "T1", "role": "CRA", "start": "2026-11", "end": "2026-12", "fte": 0.75},
    {"staff": "ana", "trial": "T1", "role": "CRA", "start": "2026-11", "end": "2027-01", "fte": 0.5},
    {"staff": "dee", "trial": "T1", "role": "CRA", "start": "2026-11", "end": "2026-11", "fte": 0.5},
], ids=["more-fte", "longer", "other-person"])
def test_pinned_assignment_appears_in_the_plan(pinned: dict[str, Any]) -> None:
    problem = problem_with(lambda p: p.update(pins={"assignments": [pinned]}))
    only("pin", check(plan_of(), problem))


def frozen_problem(change_previous: Callable[[dict[str, Any]], None]) -> Problem:
    previous = copy.deepcopy(BASE_PLAN)
    change_previous(previous)
    return problem_with(lambda p: p.update(pins={"frozen_until": "2027-01", "previous_plan": previous}))


def test_replanning_that_keeps_the_frozen_months_is_valid() -> None:
    def previous(prev: dict[str, Any]) -> None:  # differs from the plan only from 2027-01 on
        assignment(prev, "cy").update(start="2027-01", end="2027-02", fte=0.9)
        prev["assignments"].append(
            {"staff": "cy", "trial": "T2", "role": "CRA", "start": "2026-12", "end": "2026-12", "fte": 0.5})
        run_trial(prev, "T3", "fso", "2027-02")
    assert check(plan_of(), frozen_problem(previous)) == []


def test_trial_started_before_the_freeze_keeps_option_and_start() -> None:
    only("frozen", check(plan_of(), frozen_problem(lambda prev: trial_entry(prev, "T2").update(start="2026-11"))))


def test_trial_not_started_by_the_freeze_cannot_start_before_it() -> None:
    only("frozen", check(plan_of(), frozen_problem(lambda prev: trial_entry(prev, "T2").update(start="2027-02"))))


def test_previous_assignments_are_kept_before_the_freeze() -> None:
    problem = frozen_problem(lambda prev: assignment(prev, "ana").update(fte=0.6))
    violations = check(plan_of(), problem)
    only("frozen", violations)
    assert (violations[0].staff, violations[0].month) == ("ana", "2026-11")


# -- what the plan reports --------------------------------------------------------------


@pytest.mark.parametrize("change", [
    lambda d: role_month(d, "CRA", "2026-11").update(demand=0.4),
    lambda d: role_month(d, "DM", "2026-12").update(assigned=1.0),
    lambda d: role_month(d, "DM", "2026-12").update(capacity=1.0),
    lambda d: role_month(d, "DM", "2027-01").update(shortfall=0.5),
    lambda d: role_month(d, "CRA", "2026-11").update(utilisation=0.5),
    lambda d: d["role_months"].remove(role_month(d, "CRA", "2026-12")),
    lambda d: d["service_months"][1].update(used=6),
    lambda d: d["budget"]["per_year"][0].update(spend=2800),
    lambda d: d["budget"]["per_year"].pop(),
    lambda d: d["budget"].update(total=4000),
    lambda d: trial_entry(d, "T1").update(cost=3500),
    lambda d: trial_entry(d, "T1")["cost_split"].update(staff=2100, flex=1100),
    lambda d: trial_entry(d, "T1")["coverage"].update(named=2.5, uncovered=-0.5),
    lambda d: trial_entry(d, "T1").update(months_late=1),
], ids=["demand", "assigned", "capacity", "shortfall", "utilisation", "missing-role-month", "service-used",
        "year-spend", "missing-year", "total-spend", "cost-not-sum-of-split", "cost-split", "coverage",
        "months-late"])
def test_reported_numbers_match_the_recomputation(change: Callable[[dict[str, Any]], None]) -> None:
    data = copy.deepcopy(BASE_PLAN)
    change(data)
    only("report_mismatch", check(plan_of(data)))


def test_reported_numbers_may_carry_rounding_noise() -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["budget"]["per_year"][0]["spend"] = 2855.0004
    role_month(data, "CRA", "2026-12")["utilisation"] = 0.2857
    assert check(plan_of(data)) == []


def test_money_is_read_to_the_cent() -> None:
    """Money is reported to the cent (models.contract.precision): half a cent off is rounding,
    two cents off is a mismatch."""
    data = copy.deepcopy(BASE_PLAN)
    data["budget"]["total"] = 4370.005
    assert check(plan_of(data)) == []
    data["budget"]["total"] = 4370.02
    only("report_mismatch", check(plan_of(data)))


# -- KPIs and trial values -------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"total_cost": 4370 - 1200},  # staff of one person left out
    {"value_delivered": 149500},  # T2 discounted from the horizon start instead of its earliest start
    {"trials_run": 3},
    {"trials_on_time": 1},
    {"makespan_months": 2},  # last end index, not months up to and including it
    {"flex_fte_months": 1.0},
    {"shortfall_fte_months": 0.5},
    {"mean_utilisation": 3.0 / 18.0},  # ben's 1.5 available FTE-months counted in both his roles
], ids=lambda c: next(iter(c)))
def test_reported_kpis_match_the_recomputation(change: dict[str, Any]) -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["kpis"].update(change)
    violations = check(plan_of(data))
    only("report_mismatch", violations)
    assert next(iter(change)) in violations[0].message


def test_mean_utilisation_is_the_pools_assigned_share_of_its_available_fte_months() -> None:
    """A role nobody holds (MW) adds role-months without capacity and leaves the pool as it
    was; the mean of the role-month utilisations (a figure that counts a two-role person twice)
    is a mismatch."""
    problem = problem_with(lambda p: p["roles"].append("MW"))
    data = copy.deepcopy(BASE_PLAN)
    data["role_months"] += [_role_month("MW", m, (0.0, 0.0), 0.0, 0.0, 0.0, 0.0, 0.0)
                            for m in ("2026-11", "2026-12", "2027-01", "2027-02")]
    assert check(plan_of(data), problem) == []
    data["kpis"]["mean_utilisation"] = (0.2 + 2 / 7 + 1 / 6 + 1 / 3 + 1 / 3) / 8
    only("report_mismatch", check(plan_of(data), problem))


def test_role_capacity_counts_people_who_hold_the_role_as_a_secondary_role() -> None:
    """ben (DM, secondary CRA) is CRA capacity: leaving him out of it, or counting his busy
    months as spare, is a mismatch."""
    for field, wrong in (("capacity", 2.0), ("capacity_secondary", 0.0), ("spare", 2.0)):
        data = copy.deepcopy(BASE_PLAN)
        role_month(data, "CRA", "2026-11")[field] = wrong
        violations = check(plan_of(data))
        only("report_mismatch", violations)
        assert field in violations[0].message


def test_assigned_secondary_is_the_work_done_in_a_secondary_role() -> None:
    data = copy.deepcopy(BASE_PLAN)
    data["assignments"][1]["role"] = "CRA"  # ben works T1 as CRA, his secondary role
    violations = check(plan_of(data))
    assert any(v.rule == "report_mismatch" and "assigned_secondary" in v.message for v in violations)


def test_reported_trial_value_is_the_discounted_value() -> None:
    data = copy.deepcopy(BASE_PLAN)
    trial_entry(data, "T2")["value"] = 49500  # discounted from the horizon start: wrong, T2 has an earliest start
    only("report_mismatch", check(plan_of(data)))
    data = copy.deepcopy(BASE_PLAN)
    trial_entry(data, "T3")["value"] = 20000  # T3 does not run: it delivers nothing
    only("report_mismatch", check(plan_of(data)))


# -- the objective ----------------------------------------------------------------------
#
# One plan family for every objective kind: the base plan without ben (so DM is short
# 0.5 FTE in 2026-11 and 2026-12, priced), optionally with T3 ('std': no demand, no cost)
# run in 2027-02. Weights: shortfall 3000, tardiness 2, fragmentation 1000; T1's tardiness
# penalty is 700 per month.
#
# Money common to every case: spend 4370 - ben's 2 * 600 = 3170; shortfall 1.0 FTE-month
# * 3000 = 3000; 2 (person, trial) pairs (ana-T1, cy-T2) * 1000 = 2000. Without lateness
# C = 3170 + 3000 + 2000 = 8170.
# Mean utilisation without ben's work: 2 FTE-months assigned (ana, cy) of the pool's 16.5
# available (ben still in it) = 4/33.

WEIGHTS = {"shortfall": 3000, "tardiness": 2, "fragmentation": 1000}


def objective_problem(objective: dict[str, Any], *, late: bool = False, zero_values: bool = False) -> Problem:
    def change(p: dict[str, Any]) -> None:
        p["objective"] = {"weights": WEIGHTS} | objective
        p["trials"][0]["tardiness_penalty"] = 700
        if late:
            p["trials"][0]["deadline"] = "2026-12"  # T1 ends 2027-01: 1 month late
        if zero_values:
            for trial in p["trials"]:
                trial["value"] = 0
    return problem_with(change)


def objective_plan(problem: Problem, *, run_t3: bool, objective: float, kpis: dict[str, Any],
                   values: dict[str, float], bound: float | None = None, gap: float | None = None) -> Plan:
    """The plan's decisions with role-, service-month, cost and budget reports from
    ``consistent`` (pinned by the base plan); objective, KPIs, values and bound as written."""
    def change(data: dict[str, Any]) -> None:
        data["assignments"].remove(assignment(data, "ben"))
        if run_t3:
            run_trial(data, "T3", "std", "2027-02")
    plan = mutated(change, problem)
    for trial in plan.trials:
        trial.value = values.get(trial.id, 0.0)
    return plan.model_copy(update={"objective": objective, "best_bound": bound, "gap": gap,
                                   "kpis": plan.kpis.model_validate(kpis)})


# value: T1 100000 (delay 0); T2 50000 (starts at its earliest start: delay 0); T3, no earliest
# start, starts 3 months after the horizon start: 20000 * 0.99 ** 3 = 20000 * 0.970299 = 19405.98.
# Delivered 169405.98. T1 1 month late: 1 * 700 * 2 = 1400. C = 3170 + 1400 + 3000 + 2000 = 9570.
# Objective = 169405.98 - 9570 = 159835.98.
VALUE_CASE = {
    "objective": 159835.98,
    "kpis": {"total_cost": 3170, "value_delivered": 169405.98, "trials_run": 3, "trials_on_time": 2,
             "makespan_months": 4, "flex_fte_months": 0.5, "shortfall_fte_months": 1.0,
             "mean_utilisation": 4 / 33},
    "values": {"T1": 100000, "T2": 50000, "T3": 19405.98},
}
# Without T3 and on time: 2 trials, both on time, makespan 3 (both end 2027-01, index 2).
MANDATORY_KPIS = {"total_cost": 3170, "value_delivered": 150000, "trials_run": 2, "trials_on_time": 2,
                  "makespan_months": 3, "flex_fte_months": 0.5, "shortfall_fte_months": 1.0,
                  "mean_utilisation": 4 / 33}
MANDATORY_VALUES = {"T1": 100000, "T2": 50000}
T3_KPIS = MANDATORY_KPIS | {"value_delivered": 169405.98, "trials_run": 3, "trials_on_time": 3, "makespan_months": 4}
T3_VALUES = MANDATORY_VALUES | {"T3": 19405.98}

OBJECTIVE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], Any]] = {
    # name: (objective, problem options, plan options); the plan's "objective" is the hand-derived value
    "value": ({"kind": "value", "discount_rate": 0.01}, {"late": True}, dict(run_t3=True, **VALUE_CASE)),
    # cost: C = 8170 (nothing late; optional T3 may not run)
    "cost": ({"kind": "cost"}, {}, dict(run_t3=False, objective=8170, kpis=MANDATORY_KPIS,
                                         values=MANDATORY_VALUES)),
    # makespan: last end index 2 -> 3 months, + 1e-4 * 8170 = 3.817
    "makespan": ({"kind": "makespan", "penalty_scale": 1e-4}, {},
                 dict(run_t3=False, objective=3.817, kpis=MANDATORY_KPIS, values=MANDATORY_VALUES)),
    # weighted_completion, T3 left out: T1 100000 * (2 + 1) + T2 50000 * (2 + 1) + T3 counts as
    # ending one month after the 4-month horizon (index 4): 20000 * 5 = 300000 + 150000 + 100000
    # = 550000, + 0.01 * 8170 = 81.7 -> 550081.7
    "weighted_completion": ({"kind": "weighted_completion", "penalty_scale": 0.01}, {},
                            dict(run_t3=False, objective=550081.7, kpis=MANDATORY_KPIS,
                                 values=MANDATORY_VALUES)),
    # weighted_completion, every value 0 so every weight is 1; T3 runs in 2027-02 (index 3):
    # (2 + 1) + (2 + 1) + (3 + 1) = 10, + 0.01 * 8170 = 81.7 -> 91.7
    "weighted_completion-unit-weights": (
        {"kind": "weighted_completion", "penalty_scale": 0.01}, {"zero_values": True},
        dict(run_t3=True, objective=91.7, kpis=T3_KPIS | {"value_delivered": 0.0}, values={})),
}


def objective_case(name: str, **override: Any) -> tuple[Problem, Plan]:
    objective, problem_options, plan_options = OBJECTIVE_CASES[name]
    problem = objective_problem(objective, **problem_options)
    return problem, objective_plan(problem, **(plan_options | override))


@pytest.mark.parametrize("name", list(OBJECTIVE_CASES))
def test_hand_derived_objective_has_no_violations(name: str) -> None:
    problem, plan = objective_case(name)
    assert check(plan, problem) == []
    assert recompute(problem, plan).objective == pytest.approx(plan.objective, abs=1e-9)


@pytest.mark.parametrize("name, wrong", [
    ("value", 159835.98 + 2000),  # fragmentation left out
    ("value", 159835.98 - 500),  # T2 discounted from the horizon start (49500), not its earliest start
    ("value", 159835.98 + 700),  # tardiness without its weight 2
    ("value", 159835.98 + 3000),  # shortfall not priced
    ("value", 159835.98 + 594.02),  # T3 undiscounted (20000 instead of 19405.98)
    ("cost", 8170 - 2000),  # fragmentation left out
    ("cost", 8170 - 3000),  # shortfall left out
    ("makespan", 3.0),  # the scaled costs left out
    ("makespan", 2.817),  # the last end index instead of the months up to it
    ("weighted_completion", 530081.7),  # T3 left out counted as ending in the horizon's last month
    ("weighted_completion", 450081.7),  # T3 left out counted as nothing
    ("weighted_completion-unit-weights", 81.7),  # the values (all 0) as weights instead of 1
], ids=["value-no-fragmentation", "value-discount-from-horizon", "value-unweighted-tardiness",
        "value-unpriced-shortfall", "value-undiscounted", "cost-no-fragmentation", "cost-no-shortfall",
        "makespan-unscaled-costs-missing", "makespan-end-index", "weighted-left-out-at-horizon-end",
        "weighted-left-out-ignored", "weighted-unit-weights"])
def test_wrong_objective_is_reported(name: str, wrong: float) -> None:
    problem, plan = objective_case(name, objective=wrong)
    violations = check(plan, problem)
    only("objective_mismatch", violations)
    assert problem.objective.kind in violations[0].message


def test_objective_may_carry_rounding_noise() -> None:
    problem, plan = objective_case("value", objective=159835.98 + 0.0009)
    assert check(plan, problem) == []
    problem, plan = objective_case("makespan", objective=3.817 + 0.0009)
    assert check(plan, problem) == []


def test_penalty_scale_makes_costs_invisible_at_the_default() -> None:
    """Under makespan with the default scale 1e-9, 8170 adds 8.17e-6 months: below the tolerance."""
    problem = objective_problem({"kind": "makespan"})
    plan = objective_plan(problem, run_t3=False, objective=3.0, kpis=MANDATORY_KPIS, values=MANDATORY_VALUES)
    assert check(plan, problem) == []
    assert recompute(problem, plan).objective == pytest.approx(3 + 8170e-9, abs=1e-12)


@pytest.mark.parametrize("status", ["infeasible", "no_solution", "error"])
def test_objective_is_checked_only_for_solved_plans(status: str) -> None:
    problem, plan = objective_case("cost", objective=1.0, bound=5.0, gap=0.5)
    assert codes(check(plan.model_copy(update={"status": status}), problem)) == set()
    assert codes(check(plan, problem)) == {"objective_mismatch", "bound_mismatch"}


def test_plan_without_objective_has_no_objective_check() -> None:
    problem, plan = objective_case("cost", objective=None)
    assert check(plan, problem) == []


# -- bound and gap ----------------------------------------------------------------------


def with_bound(bound: float | None, gap: float | None) -> Plan:
    data = copy.deepcopy(BASE_PLAN)
    data.update(best_bound=bound, gap=gap)
    return plan_of(data)


def test_consistent_bound_and_gap_are_no_violation() -> None:
    # the base plan (objective 142630, bound 144056.3, gap 0.01); a proven optimum (bound =
    # objective, gap 0); a bound within rounding noise under the objective
    assert check(with_bound(144056.3, 0.01)) == []
    assert check(with_bound(142630, 0.0)) == []
    assert check(with_bound(142629.9995, 0.0)) == []
    assert check(with_bound(None, None)) == []


@pytest.mark.parametrize("bound, gap", [
    (141203.7, 0.01),  # value is maximised: a bound 1 % below the objective is on the wrong side
    (144056.3, 0.0099),  # |142630 - 144056.3| / 142630 = 0.01, not 0.0099
    (144056.3, 1426.3 / 144056.3),  # relative to the bound (0.009901), not to the objective
    (144056.3, 1.0),  # a percentage (1 %) reported as a fraction would read 0.01
    (144056.3, None),  # a bound without its gap
    (None, 0.01),  # a gap without a bound
], ids=["bound-below-max", "gap-wrong", "gap-relative-to-bound", "gap-in-percent", "no-gap", "no-bound"])
def test_inconsistent_bound_or_gap_is_reported(bound: float | None, gap: float | None) -> None:
    only("bound_mismatch", check(with_bound(bound, gap)))


def test_minimised_objective_has_its_bound_below() -> None:
    # cost 8170: a bound of 8088.3 gives gap 81.7 / 8170 = 0.01; 8251.7 is above a minimised objective
    problem, plan = objective_case("cost", bound=8088.3, gap=0.01)
    assert check(plan, problem) == []
    problem, plan = objective_case("cost", bound=8251.7, gap=0.01)
    only("bound_mismatch", check(plan, problem))
    # makespan 3.817, bound 3: gap 0.817 / max(1, 3.817) = 0.214042...
    problem, plan = objective_case("makespan", bound=3.0, gap=0.817 / 3.817)
    assert check(plan, problem) == []
    problem, plan = objective_case("makespan", bound=3.0, gap=0.817)  # relative to 1, not to 3.817
    only("bound_mismatch", check(plan, problem))


def test_gap_denominator_is_at_least_one() -> None:
    """|objective| < 1: the gap is |objective - bound| / 1 (a relative gap would divide by 0)."""
    problem = problem_with(lambda p: (p.update(objective={"kind": "makespan"}),
                                      [t.update(mandatory=False) for t in p["trials"]]))
    data = copy.deepcopy(BASE_PLAN)
    for trial in ("T1", "T2"):
        trial_entry(data, trial).update(run=False, option=None, start=None, end=None)
    data["assignments"] = []
    role_month(data, "DM", "2027-01")["flex"] = 0.0
    # nothing runs: makespan 0, no money -> objective 0; bound -0.5 gives gap 0.5 / max(1, 0) = 0.5
    plan = consistent(problem, plan_of(data)).model_copy(update={"objective": 0.0, "best_bound": -0.5, "gap": 0.5})
    assert check(plan, problem) == []
    only("bound_mismatch", check(plan.model_copy(update={"gap": 1.0}), problem))


def test_optimal_status_is_not_tied_to_the_mip_gap() -> None:
    """The plan contract does not say that `optimal` means a gap within settings.mip_gap
    (0.01 here), so a 5 % gap under status optimal is not a violation of the checker."""
    assert check(with_bound(142630 * 1.05, 0.05)) == []


# -- failed plans -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["infeasible", "no_solution", "error"])
def test_failed_plan_that_claims_nothing_is_not_checked(status: str) -> None:
    plan = Plan(status=status, trials=[{"id": t, "run": False} for t in ("T1", "T2", "T3")])
    assert check(plan) == []
    assert check(Plan(status=status)) == []


def test_failed_plan_with_assignments_is_checked() -> None:
    plan = Plan(status="no_solution", assignments=BASE_PLAN["assignments"])
    assert {"missing_trial", "trial_inactive"} <= codes(check(plan))


def test_feasible_plan_that_runs_nothing_breaks_mandatory() -> None:
    plan = Plan(status="feasible", trials=[{"id": t, "run": False} for t in ("T1", "T2", "T3")])
    assert codes(check(consistent(problem_of(), plan))) == {"mandatory"}


# -- robustness: dropping named staff only ever uncovers demand --------------------------


def test_removing_any_assignments_only_uncovers_demand() -> None:
    rng = random.Random(7)
    for _ in range(20):
        def change(data: dict[str, Any]) -> None:
            data["assignments"] = [a for a in data["assignments"] if rng.random() < 0.5]
        assert codes(check(mutated(change))) <= {"demand_coverage"}


# -- scale ------------------------------------------------------------------------------


def test_checks_a_large_plan_in_linear_time() -> None:
    """5,000 staff, 300 trials, 36 months, 20,000 assignments: a guard against quadratic loops
    (a generous bound, not a benchmark)."""
    rng = random.Random(1)
    roles = [f"R{i}" for i in range(10)]
    problem = Problem.model_validate({
        "horizon": {"start": "2027-01", "months": 36}, "roles": roles, "regional_roles": roles[:3],
        "flex": [{"role": r, "monthly_rate": 9000, "max_fte": 50} for r in roles],
        "services": [{"id": "lab", "capacity": 1e6, "unit_cost": 1}],
        "staff": [{"id": f"s{i}", "role": roles[i % 10], "monthly_cost": 8000, "leave": ["2028-08"],
                   "max_concurrent_trials": 5} for i in range(5000)],
        "trials": [{"id": f"t{j}", "regions": ["EU"], "options": [{"id": "o", "fixed_cost": 1e5, "stages": [
            {"months": 12, "demand": {r: 2.0 for r in roles}, "services": {"lab": 10}},
            {"months": 12, "demand": {r: 1.0 for r in roles}}]}]} for j in range(300)],
    })
    starts = {f"t{j}": rng.randrange(0, 13) for j in range(300)}
    assignments = []
    for k in range(20000):
        trial = f"t{k % 300}"
        first = starts[trial] + rng.randrange(0, 12)
        assignments.append({"staff": f"s{k % 5000}", "trial": trial, "role": roles[k % 10],
                            "start": problem.month(first), "end": problem.month(first + rng.randrange(0, 12)),
                            "fte": 0.2})
    plan = Plan.model_validate({
        "status": "feasible", "assignments": assignments,
        "trials": [{"id": t, "run": True, "option": "o", "start": problem.month(s), "end": problem.month(s + 23)}
                   for t, s in starts.items()],
    })
    began = time.perf_counter()
    violations = check_plan(problem, plan)
    assert time.perf_counter() - began < 10.0
    assert violations  # the synthetic plan is not feasible; only the time is under test

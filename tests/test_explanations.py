"""Explanations (§3): what binds for each trial left out or late, and for an infeasible
problem the least change that makes it feasible, checked by solving again with it applied."""

from __future__ import annotations

from typing import Any

import pytest

from models.contract.plan import ExtraFte, Fact, Plan, Relaxation
from models.contract.validation import parse_problem
from models.formulation.elastic import apply_relaxation, scaled
from models.pipeline.diagnose import relaxation_explanation
from tests.conftest import base_problem, solve_checked, trial_plan


def _trial(tid: str, months: int, demand: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"id": tid, "options": [{"id": "std", "stages": [{"months": months, "demand": demand}]}], **extra}


def _reasons(plan: Plan) -> dict[str | None, str]:
    return {e.trial: e.reason for e in plan.explanations}


def _facts(plan: Plan, trial: str) -> list[Fact]:
    return next(e.facts for e in plan.explanations if e.trial == trial)


def _two_roles(**overrides: Any) -> dict[str, Any]:
    """Two CRAs (ana, ben) and one DM (dee), 10,000 a month each."""
    defaults: dict[str, Any] = {
        "roles": ["CRA", "DM"],
        "staff": [
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 10000},
            {"id": "dee", "role": "DM", "monthly_cost": 10000},
        ],
        "objective": {"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    }
    return base_problem(**(defaults | overrides))


def test_trial_dropped_only_for_one_roles_capacity_names_that_role_and_those_months():
    # T1 (mandatory, fixed to 2027-02..2027-04) takes both CRAs; T2 may only start in
    # 2027-02 and needs a CRA and the DM for 3 months. The DM is free: only CRA binds.
    problem = _two_roles(
        trials=[
            _trial("T1", 3, {"CRA": 2.0}, mandatory=True, value=1_000_000, earliest_start="2027-02", latest_start="2027-02"),
            _trial("T2", 3, {"CRA": 1.0, "DM": 1.0}, value=900_000, earliest_start="2027-02", latest_start="2027-02"),
        ]
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "T1").run and not trial_plan(plan, "T2").run
    reason = _reasons(plan)["T2"]
    assert "role CRA short in 2027-02..2027-04" in reason
    assert "DM" not in reason and "budget" not in reason


def test_late_trial_names_the_predecessor_that_keeps_it_from_starting_on_time():
    # A runs 2027-01..2027-06 (one CRA); B follows A and must end by 2027-08, but needs 3
    # months after A: it ends 2027-09 at the earliest, one month late.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}, {"id": "ben", "role": "CRA", "monthly_cost": 10000}],
        trials=[
            _trial("A", 6, {"CRA": 1.0}, mandatory=True, value=1_000_000),
            _trial("B", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, deadline="2027-08",
                   tardiness_penalty=1000, predecessors=[{"trial": "A"}]),
        ],
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "B").months_late == 1
    reason = _reasons(plan)["B"]
    assert reason.startswith("1 month(s) late against deadline 2027-08, all of it unavoidable")
    assert "end 2027-09 at the earliest" in reason
    fact = _facts(plan, "B")[0]
    assert (fact.kind, fact.months, fact.amount) == ("late_unavoidable", ["2027-09"], 1.0)


def test_late_trial_names_the_role_that_keeps_it_from_starting_on_time():
    # One CRA: T1 (mandatory, worth more, fixed to 2027-01..2027-04) holds her; T2 must end
    # by 2027-04 but can only run after T1 for lack of a CRA.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[
            _trial("T1", 4, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
            _trial("T2", 2, {"CRA": 1.0}, mandatory=True, value=1_000_000, deadline="2027-04", tardiness_penalty=10),
        ],
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "T2").months_late == 2
    reason = _reasons(plan)["T2"]
    assert "on time needs option std from 2027-03" in reason
    assert "role CRA short in 2027-03..2027-04" in reason


def _check_relaxation_fixes(problem_dict: dict[str, Any], kind: str) -> Plan:
    """Solve, find the relaxation of ``kind``, apply it and solve again: a checker-clean plan."""
    plan = solve_checked(problem_dict)
    assert plan.status == "infeasible"
    relaxation = next(r for r in plan.relaxations if r.kind == kind)
    assert relaxation.verified is True
    assert any(relaxation.summary in e.reason for e in plan.explanations)
    fixed = solve_checked(apply_relaxation(parse_problem(problem_dict), relaxation))
    assert fixed.status in ("optimal", "feasible")
    return plan


def test_a_budget_too_small_reports_the_least_extra_budget_and_that_fixes_it():
    # T1 costs at least 3 x 10,000 (ana); the 2027 budget is 25,000: 5,000 short.
    problem = base_problem(budget={"per_year": {"2027": 25_000}}, objective={"kind": "cost", "weights": {"fragmentation": 0}})
    plan = _check_relaxation_fixes(problem, "budget")
    relaxation = next(r for r in plan.relaxations if r.kind == "budget")
    assert relaxation.budget_per_year == {"2027": pytest.approx(5_000)}
    assert "budget 2027 short by 5,000" in relaxation.summary


def test_too_few_people_report_the_extra_fte_per_month_and_that_fixes_it():
    # T1 needs 3 CRA for 4 months from 2027-02 at the latest; ana and ben give 2: 1 FTE short
    # in each of its 4 months, bought at the dearest CRA's 12,000.
    problem = base_problem(
        trials=[_trial("T1", 4, {"CRA": 3.0}, mandatory=True, value=1_000_000, earliest_start="2027-02", latest_start="2027-02")]
    )
    plan = _check_relaxation_fixes(problem, "capacity")
    relaxation = next(r for r in plan.relaxations if r.kind == "capacity")
    assert [(e.month, e.fte) for e in relaxation.extra_fte] == [(m, pytest.approx(1.0)) for m in ("2027-02", "2027-03", "2027-04", "2027-05")]
    assert relaxation.summary == "CRA short by 1 FTE in 2027-02..2027-05 (4 FTE-months, bought at 12,000 each)"


def test_a_deadline_that_cannot_be_met_reports_the_least_slip_and_that_fixes_it():
    # Under cost, mandatory deadlines are hard. One CRA: A holds her 2027-01..2027-04, so B
    # (3 months) ends 2027-07 at the earliest against its 2027-05 deadline: a 2-month slip.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[
            _trial("A", 4, {"CRA": 1.0}, mandatory=True, latest_start="2027-01"),
            _trial("B", 3, {"CRA": 1.0}, mandatory=True, deadline="2027-05"),
        ],
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = _check_relaxation_fixes(problem, "deadlines")
    relaxation = next(r for r in plan.relaxations if r.kind == "deadlines")
    assert relaxation.deadline_slips == {"B": 2}
    assert "B's deadline 2027-05 moved 2 month(s) later (to 2027-07)" in relaxation.summary


def test_when_no_single_change_suffices_budget_and_people_are_relaxed_together():
    # Capacity alone would need a 4th CRA bought at 12,000 a month, which the 2027 budget
    # (40,000) cannot pay; the budget alone cannot create people. Together they fix it.
    problem = base_problem(
        trials=[_trial("T1", 2, {"CRA": 3.0}, mandatory=True, value=1_000_000, latest_start="2027-01")],
        budget={"per_year": {"2027": 40_000}},
        objective={"kind": "cost", "weights": {"fragmentation": 0}},
    )
    plan = _check_relaxation_fixes(problem, "combined")
    relaxation = next(r for r in plan.relaxations if r.kind == "combined")
    assert relaxation.budget_per_year and relaxation.extra_fte


def test_a_change_scaled_for_staffing_keeps_its_slips_and_says_how_far_above_the_least_it_is():
    problem = parse_problem(base_problem(trials=[_trial("T1", 3, {"CRA": 1.0}, mandatory=True, deadline="2027-06")]))
    least = Relaxation(
        kind="combined", summary="", budget_per_year={"2027": 1000.0}, extra_fte=[ExtraFte(role="CRA", month="2027-02", fte=0.5)],
        flex_rate={"CRA": 12000.0}, deadline_slips={"T1": 2},
    )
    change = scaled(problem, least, 1.1)
    assert change.scale == 1.1 and change.budget_per_year == {"2027": 1100.0}
    assert change.extra_fte[0].fte == pytest.approx(0.55) and change.deadline_slips == {"T1": 2}
    assert change.summary.startswith("budget 2027 short by 1,100; CRA short by 0.55 FTE in 2027-02")
    change.verified = True
    reason = relaxation_explanation(change).reason
    assert reason.startswith("infeasible as stated; change of budget, FTE, services and deadlines together that makes a plan possible")
    assert reason.endswith("(checked: with it the engine finds a plan; with 91% of it, the least the portfolio stage needs, staffing found none)")


def test_a_person_working_a_secondary_role_counts_in_its_capacity_and_keeps_utilisation_at_most_full():
    # One CRA (ana) and one DM who can also work as CRA (dee): T1 needs 2 CRA for 3 months,
    # so dee works as CRA. CRA capacity is both of them; nobody is spare.
    problem = _two_roles(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "dee", "role": "DM", "secondary_roles": ["CRA"], "monthly_cost": 10000},
        ],
        trials=[_trial("T1", 3, {"CRA": 2.0}, mandatory=True, value=1_000_000, latest_start="2027-01")],
    )
    plan = solve_checked(problem)
    cra = next(rm for rm in plan.role_months if rm.role == "CRA" and rm.month == "2027-01")
    assert (cra.capacity, cra.capacity_primary, cra.capacity_secondary) == (2.0, 1.0, 1.0)
    assert (cra.assigned, cra.assigned_secondary, cra.spare, cra.utilisation) == (2.0, 1.0, 0.0, 1.0)
    assert all(rm.utilisation <= 1.0 for rm in plan.role_months)


def test_a_role_with_secondary_people_to_spare_is_not_called_short():
    # T2 needs a CRA, and the only CRA (ana) is on T1; dee (DM, secondary CRA) is free but T2
    # is worth less than it costs. Its explanation must not blame CRA: dee could serve it.
    problem = _two_roles(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "dee", "role": "DM", "secondary_roles": ["CRA"], "monthly_cost": 10000},
        ],
        trials=[
            _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
            _trial("T2", 3, {"CRA": 1.0}, value=20_000, earliest_start="2027-01", latest_start="2027-01"),
        ],
    )
    plan = solve_checked(problem)
    assert not trial_plan(plan, "T2").run
    facts = _facts(plan, "T2")
    assert "CRA" not in _reasons(plan)["T2"]
    assert [f.kind for f in facts] == ["fits", "not_worth"]
    assert facts[1].amount == pytest.approx(20_000 - 30_000)


@pytest.mark.parametrize("kind", ["cost", "makespan"])
def test_optional_trials_left_out_under_cost_and_makespan_are_explained_by_the_objectives_rule(kind: str):
    problem = _two_roles(
        trials=[
            _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000),
            _trial("T2", 3, {"CRA": 1.0}, value=900_000),
        ],
        objective={"kind": kind},
    )
    plan = solve_checked(problem)
    assert not trial_plan(plan, "T2").run
    assert _facts(plan, "T2") == [Fact(kind="objective_rule", rule=kind)]
    assert f"under the {kind} objective" in _reasons(plan)["T2"]


def test_a_trial_that_fits_and_pays_is_said_to_be_worth_a_better_plan():
    # T2 is pinned out; explained against the same problem without the pin, it fits (ben is
    # free) and would gain 900,000 - 3 x 10,000 = 870,000: the explanation says a plan with it
    # may be better, and by how much at most.
    from models.formulation.explain import explain
    from models.formulation.instance import compile_instance

    unpinned = _two_roles(trials=[
        _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
        _trial("T2", 3, {"CRA": 1.0}, value=900_000, earliest_start="2027-01", latest_start="2027-01"),
    ])
    pinned = {**unpinned, "pins": {"trials": [{"trial": "T2", "run": False}]}}
    plan = solve_checked(pinned)
    assert _facts(plan, "T2") == [Fact(kind="pinned")]
    inst = compile_instance(parse_problem(unpinned))
    schedule = {t.id: (t.option, inst.problem.index(t.start)) for t in plan.trials if t.run and t.option and t.start}
    why = {e.trial: e for e in explain(inst, schedule, plan)}["T2"]
    assert [f.kind for f in why.facts] == ["fits", "may_pay"]
    assert why.facts[1].amount == pytest.approx(870_000)
    assert "may be better" in why.reason


def test_a_late_trial_says_how_much_lateness_is_unavoidable_and_what_holds_the_rest():
    # A (2027-01..2027-03) precedes B (3 months, deadline 2027-04): B ends 2027-06 at the
    # earliest, 2 months late whatever happens. One CRA, held by the mandatory, dearer-to-delay
    # T1 in 2027-04..2027-06, pushes B to 2027-07..2027-09: 5 months late, 3 of them avoidable
    # only with a CRA free in 2027-04..2027-06.
    problem = base_problem(
        staff=[{"id": "ana", "role": "CRA", "monthly_cost": 10000}],
        trials=[
            _trial("A", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
            _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, earliest_start="2027-04", latest_start="2027-04"),
            _trial("B", 3, {"CRA": 1.0}, mandatory=True, value=10_000, deadline="2027-04", tardiness_penalty=10,
                   predecessors=[{"trial": "A"}]),
        ],
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = solve_checked(problem)
    assert trial_plan(plan, "B").months_late == 5
    reason, facts = _reasons(plan)["B"], _facts(plan, "B")
    assert reason.startswith("5 month(s) late against deadline 2027-04; 2 of them unavoidable (it cannot end before 2027-06)")
    assert facts[0] == Fact(kind="late_unavoidable", months=["2027-06"], amount=2.0)
    short = next(f for f in facts if f.kind == "roles_short")
    assert short.roles == ["CRA"] and short.start == "2027-04" and short.months == ["2027-04", "2027-05", "2027-06"]


def test_deadline_slips_are_not_part_of_a_budget_change_where_deadlines_are_soft():
    # Under value, lateness is priced, not forbidden: T1 cannot end by its deadline, and the
    # budget is too small. The least change is money alone, with no deadline moved.
    problem = base_problem(
        trials=[_trial("T1", 4, {"CRA": 1.0}, mandatory=True, value=1_000_000, deadline="2027-02", tardiness_penalty=100)],
        budget={"per_year": {"2027": 20_000}},
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
    )
    plan = _check_relaxation_fixes(problem, "budget")
    budget = next(r for r in plan.relaxations if r.kind == "budget")
    assert budget.deadline_slips == {} and budget.budget_per_year == {"2027": 20_000.0}


def test_a_trial_made_mandatory_beyond_service_capacity_gets_a_least_change_naming_the_service():
    problem = base_problem(
        services=[{"id": "lab", "capacity": 10, "unit_cost": 1}],
        trials=[
            {"id": "T1", "mandatory": True, "value": 1_000_000, "latest_start": "2027-01",
             "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 1.0}, "services": {"lab": 14}}]}]},
        ],
    )
    plan = _check_relaxation_fixes(problem, "services")
    services = next(r for r in plan.relaxations if r.kind == "services")
    assert [(u.service, u.month, u.units) for u in services.extra_units] == [("lab", "2027-01", 4.0), ("lab", "2027-02", 4.0)]
    assert "service lab short by 4 units in 2027-01..2027-02 (8 units)" in services.summary


def test_making_a_trial_mandatory_names_whom_it_lacks_and_a_change_that_is_checked_to_work():
    # data/example-small.json with T01 mandatory: nobody holds MM with T01's skill (only flex
    # can serve it, and flex serves every trial's MM), and the services it needs are full.
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).resolve().parent.parent / "data" / "example-small.json").read_text())
    next(t for t in data["trials"] if t["id"] == "T01")["mandatory"] = True
    plan = solve_checked(data)
    assert plan.status == "infeasible"
    assert any("T01 must run and needs MM with skill(s) prurigo_nodularis: nobody in the pool" in e.reason for e in plan.explanations)
    checked = [r for r in plan.relaxations if r.verified]
    assert checked and any(u.service == "central-lab" for r in checked for u in r.extra_units)
    fixed = solve_checked(apply_relaxation(parse_problem(data), checked[0]))
    assert fixed.status in ("optimal", "feasible")


def test_an_explanation_the_checker_does_not_find_in_the_plan_is_withdrawn():
    from models.formulation.instance import compile_instance
    from models.pipeline.finish import withdraw_unfounded

    problem = _two_roles(trials=[
        _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
        _trial("T2", 3, {"CRA": 1.0}, value=900_000, earliest_start="2027-01", latest_start="2027-01"),
    ], pins={"trials": [{"trial": "T2", "run": False}]})
    plan = solve_checked(problem)
    wrong = Fact(kind="roles_short", option="std", start="2027-01", roles=["CRA"], months=["2027-01"], amount=1.0)
    plan.explanations = [plan.explanations[0].model_copy(update={"reason": "role CRA short", "facts": [wrong]})]
    withdraw_unfounded(compile_instance(parse_problem(problem)), plan)
    assert plan.explanations[0].facts == []
    assert plan.explanations[0].reason == "what keeps it out or late could not be established from the plan"


def test_with_no_time_left_to_check_them_the_explanations_go_out_unchecked_and_the_plan_says_so(monkeypatch):
    import models.pipeline.finish as finish

    monkeypatch.setattr(finish, "EXPLANATION_CHECK_SECONDS", 1e9)  # never time enough before the limit
    problem = _two_roles(trials=[
        _trial("T1", 3, {"CRA": 1.0}, mandatory=True, value=1_000_000, latest_start="2027-01"),
        _trial("T2", 3, {"CRA": 1.0}, value=900_000, earliest_start="2027-01", latest_start="2027-01"),
    ], pins={"trials": [{"trial": "T2", "run": False}]})
    plan = solve_checked(problem)
    assert _facts(plan, "T2") == [Fact(kind="pinned")]
    assert "the explanations were not checked against the plan: the time limit came first" in plan.message

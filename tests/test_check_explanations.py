"""The independent explanation checker against a hand-made problem and plan whose facts are
worked out by hand: for each fact kind one claim that holds and claims that do not.

Months: index 0 = 2026-11, 1 = 2026-12, 2 = 2027-01, 3 = 2027-02, 4 = 2027-03, 5 = 2027-04.

The plan runs A (2026-11..12, ana 0.5 CRA) and L (2027-01..02, one month late: ben 0.5 DM and
0.5 DM flex) and leaves B, C and E out. Spend: A = ana 500 x 2 + lab 60 x 2 + fixed 400 = 1520
(2026); L = ben 1000 x 2 + flex 1500 x 2 = 5000 (2027); total 6520.

B waits for A (ends 2026-12, lag 1), so it can start 2027-02 or 2027-03 (2 months):

* 2027-02: DM is short in 2027-02 (ben's 0.5 is on L and the flex is used up): 0.5 FTE.
* 2027-03: fits. Least cost: fixed 1000 + lab 5 x 10 x 2 = 100 + CRA 1.0 x ana's 1000 x 2
  + DM 0.5 x ben's 2000/FTE x 2 (below flex at 3000) = 5100, all in 2027. Value 5000 x
  0.99^4 = 4802.98005 (no earliest start: 4 months of delay), so the gain is -297.01995.

At 2026-11 (outside its window) B would find the lab with room 4 against its 5 units, and no
one for CRA: ana has 0.5 spare but already works her one trial, cy starts in 2027-01 and ben,
who holds CRA as a secondary role, is in NA while CRA is regional and B runs in the EU.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from models.contract.check import check_plan
from models.contract.check_explanations import check_explanations
from models.contract.plan import Plan
from models.contract.problem import Problem
from tests.test_check import consistent

PROBLEM: dict[str, Any] = {
    "name": "explanation-fixture",
    "horizon": {"start": "2026-11", "months": 6},
    "roles": ["CRA", "DM"],
    "regional_roles": ["CRA"],
    "staff": [
        {"id": "ana", "role": "CRA", "region": "EU", "fte": 1.0, "monthly_cost": 1000, "max_concurrent_trials": 1},
        {"id": "ben", "role": "DM", "secondary_roles": ["CRA"], "region": "NA", "skills": ["onc"], "fte": 0.5,
         "monthly_cost": 1000},
        {"id": "cy", "role": "CRA", "region": "EU", "fte": 1.0, "monthly_cost": 1500, "available_from": "2027-01",
         "leave": ["2027-03"]},
    ],
    "services": [{"id": "lab", "capacity": 10, "unit_cost": 10}],
    "flex": [{"role": "DM", "monthly_rate": 3000, "max_fte": 0.5}],
    "trials": [
        {"id": "A", "value": 10000, "mandatory": True, "regions": ["EU"], "earliest_start": "2026-11",
         "latest_start": "2026-11", "deadline": "2026-12",
         "options": [{"id": "std", "fixed_cost": 400,
                      "stages": [{"months": 2, "demand": {"CRA": 0.5}, "services": {"lab": 6}}]}]},
        {"id": "L", "value": 20000, "mandatory": True, "earliest_start": "2027-01", "deadline": "2027-01",
         "tardiness_penalty": 100,
         "options": [{"id": "std", "stages": [{"months": 2, "demand": {"DM": 1.0}}]}]},
        {"id": "B", "value": 5000, "regions": ["EU"], "required_skills": {"DM": ["onc"]},
         "predecessors": [{"trial": "A", "lag": 1}],
         "options": [{"id": "std", "fixed_cost": 1000,
                      "stages": [{"months": 2, "demand": {"CRA": 1.0, "DM": 0.5}, "services": {"lab": 5}}]}]},
        {"id": "C", "value": 1000, "predecessors": [{"trial": "B", "lag": 0}],
         "options": [{"id": "std", "stages": [{"months": 1}]}]},
        {"id": "E", "value": 1000, "earliest_start": "2027-03", "latest_start": "2027-03",
         "options": [{"id": "std", "stages": [{"months": 4}]}]},
    ],
    "budget": {"per_year": {"2026": 3000, "2027": 12000}, "total": 20000},
}


def _role_month(role: str, month: str, flex: float = 0.0) -> dict[str, Any]:
    """A role-month carrying only its flex decision; ``consistent`` fills in the rest."""
    return {"role": role, "month": month, "capacity": 0, "demand": 0, "assigned": 0, "flex": flex, "shortfall": 0}


PLAN: dict[str, Any] = {
    "status": "feasible",
    "objective": 0,
    "trials": [
        {"id": "A", "run": True, "option": "std", "start": "2026-11", "end": "2026-12"},
        {"id": "L", "run": True, "option": "std", "start": "2027-01", "end": "2027-02"},
        {"id": "B", "run": False},
        {"id": "C", "run": False},
        {"id": "E", "run": False},
    ],
    "assignments": [
        {"staff": "ana", "trial": "A", "role": "CRA", "start": "2026-11", "end": "2026-12", "fte": 0.5},
        {"staff": "ben", "trial": "L", "role": "DM", "start": "2027-01", "end": "2027-02", "fte": 0.5},
    ],
    "role_months": [_role_month("DM", "2027-01", 0.5), _role_month("DM", "2027-02", 0.5)],
}


def problem_of(change: Callable[[dict[str, Any]], None] | None = None) -> Problem:
    data = copy.deepcopy(PROBLEM)
    if change is not None:
        change(data)
    return Problem.model_validate(data)


def trial_of(data: dict[str, Any], trial: str) -> dict[str, Any]:
    return next(t for t in data["trials"] if t["id"] == trial)


def explained(problem: Problem, trial: str, *facts: dict[str, Any], plan_data: dict[str, Any] = PLAN) -> Plan:
    """The plan (the fixture's by default), its reports consistent with the problem, explaining
    ``trial`` by ``facts``."""
    plan = consistent(problem, Plan.model_validate(plan_data))
    data = plan.model_dump()
    data["explanations"] = [{"trial": trial, "reason": "explained by hand", "facts": list(facts)}]
    return Plan.model_validate(data)


def rules(problem: Problem, trial: str, *facts: dict[str, Any]) -> list[str]:
    return [v.rule for v in check_explanations(problem, explained(problem, trial, *facts))]


def test_the_fixture_plan_is_valid() -> None:
    """The facts below are about a plan the plan checker accepts."""
    problem = problem_of()
    plan = explained(problem, "B")
    assert check_plan(problem, plan) == []
    assert plan.budget.total == pytest.approx(6520)
    assert [(line.year, line.spend) for line in plan.budget.per_year] == [("2026", 1520), ("2027", 5000)]
    assert next(t for t in plan.trials if t.id == "L").months_late == 1


def _value(trial: str, value: float) -> Callable[[dict[str, Any]], None]:
    return lambda data: trial_of(data, trial).update(value=value)


def _objective(kind: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data.update(objective={"kind": kind})


def _budget(**budget: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["budget"].update(budget)


def _staff(person: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: next(p for p in data["staff"] if p["id"] == person).update(fields)


B_FITS = {"option": "std", "start": "2027-03"}
B_SHORT = {"option": "std", "start": "2027-02"}
B_OUTSIDE = {"option": "std", "start": "2026-11"}

# (case, problem change, trial explained, fact): each fact holds.
HOLDS: list[tuple[str, Callable[[dict[str, Any]], None] | None, str, dict[str, Any]]] = [
    ("predecessor not run", None, "C", {"kind": "predecessor_not_run", "trial": "B"}),
    ("no start inside the horizon", None, "E", {"kind": "no_start"}),
    ("pinned out", lambda data: data.setdefault("pins", {}).update(trials=[{"trial": "B", "run": False}]), "B",
     {"kind": "pinned"}),
    ("late L held by a pin of its start", lambda data: data.setdefault("pins", {}).update(
        trials=[{"trial": "L", "start": "2027-01"}]), "L", {"kind": "pinned"}),
    ("makespan runs no optional trial", _objective("makespan"), "B", {"kind": "objective_rule", "rule": "makespan"}),
    ("predecessor ends, lag holds the start", None, "B",
     {"kind": "predecessor_ends", "trial": "A", "start": "2027-01", "months": ["2026-12"], "amount": 1}),
    ("DM short where L uses ben and the flex", None, "B",
     {"kind": "roles_short", **B_SHORT, "roles": ["DM"], "months": ["2027-02"], "amount": 0.5}),
    ("CRA short: ana at her one trial, cy not yet there, ben not in the EU", None, "B",
     {"kind": "roles_short", **B_OUTSIDE, "roles": ["CRA"], "months": ["2026-11", "2026-12"], "amount": 1.0}),
    ("lab full while A uses it", None, "B",
     {"kind": "service_full", **B_OUTSIDE, "service": "lab", "months": ["2026-11", "2026-12"], "amount": 1}),
    ("2027 spend 5000 + least cost 5100 over 10000", _budget(per_year={"2026": 3000, "2027": 10000}), "B",
     {"kind": "budget_year", **B_FITS, "year": "2027", "amount": 100}),
    ("total 6520 + 5100 over 11000", _budget(total=11000), "B",
     {"kind": "budget_total", **B_FITS, "amount": 620}),
    ("B fits after A's lag", None, "B", {"kind": "fits", **B_FITS}),
    ("L fits at its own start, its work, flex and spend given back",
     _budget(per_year={"2026": 3000, "2027": 5000}, total=6520), "L", {"kind": "fits", "option": "std", "start": "2027-01"}),
    ("B's best start loses 297.02", None, "B", {"kind": "not_worth", **B_FITS, "amount": -297.01995}),
    ("worth 10000: gains 9605.9601 - 5100", _value("B", 10000), "B", {"kind": "may_pay", **B_FITS, "amount": 4505.9601}),
    ("weighted completion: one month saved at weight 5000, less 1e-9 x 5100", _objective("weighted_completion"), "B",
     {"kind": "may_pay", **B_FITS, "amount": 5000 - 5100e-9}),
    ("L cannot end before 2027-02", None, "L", {"kind": "late_unavoidable", "months": ["2027-02"], "amount": 1}),
]

# (case, problem change, trial explained, fact, rule): each fact does not hold.
REFUTED: list[tuple[str, Callable[[dict[str, Any]], None] | None, str, dict[str, Any], str]] = [
    ("A runs", None, "B", {"kind": "predecessor_not_run", "trial": "A"}, "fact_predecessor_not_run"),
    ("A is not C's predecessor", None, "C", {"kind": "predecessor_not_run", "trial": "A"}, "fact_predecessor_not_run"),
    ("B can start 2027-02", None, "B", {"kind": "no_start"}, "fact_no_start"),
    ("value runs optional trials", None, "B", {"kind": "objective_rule", "rule": "value"}, "fact_objective_rule"),
    ("no pin keeps B out", None, "B", {"kind": "pinned"}, "fact_pinned"),
    ("no pin holds the late L", None, "L", {"kind": "pinned"}, "fact_pinned"),
    ("the rule is not the objective", _objective("makespan"), "B", {"kind": "objective_rule", "rule": "cost"},
     "fact_objective_rule"),
    ("2027-02 is after A's end plus lag", None, "B",
     {"kind": "predecessor_ends", "trial": "A", "start": "2027-02", "months": ["2026-12"], "amount": 1},
     "fact_predecessor_ends"),
    ("the lag is 1", None, "B",
     {"kind": "predecessor_ends", "trial": "A", "start": "2027-01", "months": ["2026-12"], "amount": 0},
     "fact_predecessor_ends"),
    ("DM is not short in 2027-03", None, "B",
     {"kind": "roles_short", **B_SHORT, "roles": ["DM"], "months": ["2027-03"], "amount": 0.5}, "fact_roles_short"),
    ("CRA and DM together are not short", None, "B",
     {"kind": "roles_short", **B_SHORT, "roles": ["CRA", "DM"], "months": ["2027-02"], "amount": 0.5},
     "fact_roles_short"),
    ("short by 0.5, not 0.25", None, "B",
     {"kind": "roles_short", **B_SHORT, "roles": ["DM"], "months": ["2027-02"], "amount": 0.25}, "fact_roles_short"),
    ("the lab has room in 2027-02", None, "B",
     {"kind": "service_full", **B_SHORT, "service": "lab", "months": ["2027-02"], "amount": 1}, "fact_service_full"),
    ("2027 has room", None, "B", {"kind": "budget_year", **B_FITS, "year": "2027", "amount": 100}, "fact_budget_year"),
    ("over by 100, not 50", _budget(per_year={"2026": 3000, "2027": 10000}), "B",
     {"kind": "budget_year", **B_FITS, "year": "2027", "amount": 50}, "fact_budget_year"),
    ("the total has room", None, "B", {"kind": "budget_total", **B_FITS, "amount": 620}, "fact_budget_total"),
    ("L's own spend is given back", _budget(total=7000), "L",
     {"kind": "budget_total", "option": "std", "start": "2027-01", "amount": 3520}, "fact_budget_total"),
    ("DM is short at 2027-02", None, "B", {"kind": "fits", **B_SHORT}, "fact_fits"),
    ("the 2027 budget binds", _budget(per_year={"2026": 3000, "2027": 10000}), "B", {"kind": "fits", **B_FITS},
     "fact_fits"),
    ("worth 10000, B pays", _value("B", 10000), "B", {"kind": "not_worth", **B_FITS, "amount": 4505.9601},
     "fact_not_worth"),
    ("the best start does not fit", None, "B", {"kind": "not_worth", **B_SHORT, "amount": -297.01995},
     "fact_not_worth"),
    ("B loses money", None, "B", {"kind": "may_pay", **B_FITS, "amount": 100}, "fact_may_pay"),
    ("B does not fit at 2027-02", _value("B", 10000), "B", {"kind": "may_pay", **B_SHORT, "amount": 4505.9601},
     "fact_may_pay"),
    ("L can end 2027-02", None, "L", {"kind": "late_unavoidable", "months": ["2027-03"], "amount": 2},
     "fact_late_unavoidable"),
    ("B is not late, it does not run", None, "B", {"kind": "late_unavoidable", "months": ["2027-02"], "amount": 1},
     "fact_late_unavoidable"),
    ("L runs: no left-out fact", None, "L", {"kind": "no_start"}, "fact_no_start"),
    ("ana may work two trials: short by 0.5", _staff("ana", max_concurrent_trials=2), "B",
     {"kind": "roles_short", **B_OUTSIDE, "roles": ["CRA"], "months": ["2026-11"], "amount": 1.0}, "fact_roles_short"),
    ("CRA not regional: ben counts", lambda data: data.update(regional_roles=[]), "B",
     {"kind": "roles_short", **B_OUTSIDE, "roles": ["CRA"], "months": ["2026-11"], "amount": 1.0}, "fact_roles_short"),
    ("ben without the skill B needs: DM at the flex rate", _staff("ben", skills=[]), "B",
     {"kind": "not_worth", **B_FITS, "amount": -297.01995}, "fact_not_worth"),
]


@pytest.mark.parametrize(("case", "change", "trial", "fact"), HOLDS, ids=[c[0] for c in HOLDS])
def test_a_fact_that_holds_passes(case: str, change: Callable[[dict[str, Any]], None] | None, trial: str,
                                  fact: dict[str, Any]) -> None:
    problem = problem_of(change)
    plan = explained(problem, trial, fact)
    assert check_plan(problem, plan) == [], case
    assert [v.message for v in check_explanations(problem, plan)] == []


@pytest.mark.parametrize(("case", "change", "trial", "fact", "rule"), REFUTED, ids=[c[0] for c in REFUTED])
def test_a_fact_that_does_not_hold_is_named(case: str, change: Callable[[dict[str, Any]], None] | None, trial: str,
                                            fact: dict[str, Any], rule: str) -> None:
    problem = problem_of(change)
    plan = explained(problem, trial, fact)
    assert check_plan(problem, plan) == [], case
    violations = check_explanations(problem, plan)
    assert [v.rule for v in violations] == [rule], [v.message for v in violations]
    assert violations[0].trial == trial
    assert fact["kind"] in violations[0].message


def test_a_trial_run_on_time_is_not_explained() -> None:
    assert rules(problem_of(), "A") == ["explanation_trial"]


def test_an_unknown_trial_is_not_explained() -> None:
    assert rules(problem_of(), "Z", {"kind": "no_start"}) == ["explanation_trial"]


def test_an_explanation_without_a_trial_is_not_checked() -> None:
    problem = problem_of()
    plan = explained(problem, "B", {"kind": "no_start"})  # B can start: the fact is wrong of B
    plan.explanations[0].trial = None
    assert check_explanations(problem, plan) == []


def test_every_refuted_fact_of_an_explanation_is_reported() -> None:
    facts = [fact for _, change, trial, fact, _ in REFUTED if change is None and trial == "B"]
    assert len(rules(problem_of(), "B", *facts)) == len(facts)


def test_a_late_trial_gives_back_its_flex_share_pro_rata() -> None:
    """M (DM 0.5, 2027-01..04) shares the DM flex with L: 1.0 FTE in 2027-01..02, where each has
    0.5 left after named staff, so L's share is 0.5 (1500 a month); ben works M in 2027-03..04.
    2027 spend: L 2000 + 3000, M 2000 + 3000 = 10000, its budget. L from 2027-03 finds ben busy
    and the flex unused: least cost 1.0 x 3000 x 2 = 6000, so 10000 - 5000 + 6000 is 1000 over
    (giving back all the flex, 8000, would leave room; giving back none would be 4000 over)."""
    def change(data: dict[str, Any]) -> None:
        data["trials"].append({"id": "M", "mandatory": True, "earliest_start": "2027-01", "latest_start": "2027-01",
                               "options": [{"id": "std", "stages": [{"months": 4, "demand": {"DM": 0.5}}]}]})
        data["flex"][0]["max_fte"] = 1.0
        data["budget"]["per_year"]["2027"] = 10000
    plan_data = copy.deepcopy(PLAN)
    plan_data["trials"].append({"id": "M", "run": True, "option": "std", "start": "2027-01", "end": "2027-04"})
    plan_data["assignments"].append(
        {"staff": "ben", "trial": "M", "role": "DM", "start": "2027-03", "end": "2027-04", "fte": 0.5})
    plan_data["role_months"] = [_role_month("DM", "2027-01", 1.0), _role_month("DM", "2027-02", 1.0)]
    problem = problem_of(change)
    fact = {"kind": "budget_year", "option": "std", "start": "2027-03", "year": "2027"}
    plan = explained(problem, "L", {**fact, "amount": 1000}, plan_data=plan_data)
    assert check_plan(problem, plan) == []
    assert check_explanations(problem, plan) == []
    wrong = explained(problem, "L", {**fact, "amount": 4000}, plan_data=plan_data)
    assert [v.rule for v in check_explanations(problem, wrong)] == ["fact_budget_year"]

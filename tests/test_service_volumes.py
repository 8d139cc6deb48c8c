"""Contracted service volumes (issue 21): a service may cap its units over the whole horizon,
and an option may state units as a total in no particular month."""

from __future__ import annotations

from typing import Any

import pytest

from models.contract.check import check_plan
from models.contract.problem import ProblemInvalid
from models.contract.validation import parse_problem
from tests.conftest import base_problem, solve_checked, trial_plan


def _options_with_visits(fast_visits: float, slow_visits: float) -> list[dict[str, Any]]:
    """A fast option (1 month, 2 CRA) and a slow one (3 months, 1 CRA), each using home visits."""
    return [
        {"id": "fast", "stages": [{"months": 1, "demand": {"CRA": 2.0}}], "service_totals": {"visits": fast_visits}},
        {"id": "slow", "stages": [{"months": 3, "demand": {"CRA": 1.0}}], "service_totals": {"visits": slow_visits}},
    ]


def _problem(volume: float | None, **overrides: Any) -> dict[str, Any]:
    # Two mandatory trials, two CRAs. Both fast end by 2027-02 (one after the other), but
    # their visits (3 + 3) overrun a volume of 5. Then both slow, side by side, end by
    # 2027-03 (2 visits); one of each would take 4 months (the fast one needs both CRAs).
    return base_problem(
        services=[{"id": "visits", "capacity": 0, "unit_cost": 100, "contract_volume": volume}],
        trials=[
            {"id": "T1", "mandatory": True, "options": _options_with_visits(3, 1)},
            {"id": "T2", "mandatory": True, "options": _options_with_visits(3, 1)},
        ],
        objective={"kind": "makespan", "weights": {"fragmentation": 0}},
        **overrides,
    )


def test_options_are_chosen_so_the_units_over_the_horizon_fit_the_contract_volume():
    unlimited = solve_checked(_problem(None))
    capped = solve_checked(_problem(5))
    assert {trial_plan(unlimited, t).option for t in ("T1", "T2")} == {"fast"}
    assert [trial_plan(capped, t).option for t in ("T1", "T2")] == ["slow", "slow"]
    assert capped.kpis.makespan_months == 3
    assert [(v.service, v.used, v.contract_volume) for v in capped.service_volumes] == [("visits", 2.0, 5.0)]
    assert unlimited.service_volumes == [], "no volume, nothing to report against"


def test_units_stated_as_a_total_cost_their_unit_price_in_the_trials_services_cost():
    plan = solve_checked(_problem(5))
    for t in ("T1", "T2"):
        entry = trial_plan(plan, t)
        units = 3 if entry.option == "fast" else 1
        assert entry.cost_split.services == pytest.approx(100 * units)


def test_the_checker_rejects_a_plan_whose_units_overrun_the_contract_volume():
    problem = parse_problem(_problem(None))
    plan = solve_checked(problem)  # both fast: 6 units
    tightened = parse_problem(_problem(5))
    plan.service_volumes = []
    rules = {v.rule for v in check_plan(tightened, plan)}
    assert "service_volume" in rules
    assert "report_mismatch" in rules, "the volume report is missing"


def test_the_checker_rejects_a_misreported_volume():
    problem = parse_problem(_problem(5))
    plan = solve_checked(problem)
    plan.service_volumes[0].used += 1
    assert [v.rule for v in check_plan(problem, plan)] == ["report_mismatch"]


def test_mandatory_trials_needing_more_than_the_volume_are_proven_infeasible_and_the_service_named():
    plan = solve_checked(_problem(1.5))  # the least the two need is 1 + 1
    assert plan.status == "infeasible"
    reasons = " | ".join(e.reason for e in plan.explanations)
    assert "service visits: the trials that must run need at least 2 units over the horizon, its contract volume is 1.5" in reasons


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"contract_volume": -1}, "services[0].contract_volume", "greater than or equal to 0"),
        ({"contract_volume": 2e12}, "services[0].contract_volume", "above the supported maximum"),
    ],
)
def test_a_contract_volume_out_of_range_is_refused(change: dict[str, Any], path: str, message: str):
    problem = _problem(5)
    problem["services"][0].update(change)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(problem)
    assert any(e.path == path and message in e.message for e in caught.value.errors), caught.value.errors


def test_service_totals_must_name_a_known_service():
    problem = _problem(5)
    problem["trials"][0]["options"][0]["service_totals"] = {"nurses": 1}
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(problem)
    assert [e.path for e in caught.value.errors] == ["trials[0].options[0].service_totals.nurses"]
    assert "unknown service 'nurses'" in caught.value.errors[0].message

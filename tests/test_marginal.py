"""The marginal value of one more FTE per role and month (§3 explanations), read from LP duals."""

from __future__ import annotations

from tests.conftest import base_problem, solve_checked


def _problem(demand: float, latest: str = "2027-02") -> dict:
    # ana costs 10,000 a month and ben 12,000; flex costs 20,000 for up to one FTE.
    return base_problem(
        flex=[{"role": "CRA", "monthly_rate": 20000, "max_fte": 1}],
        trials=[
            {
                "id": "T1",
                "value": 1_000_000,
                "mandatory": True,
                "earliest_start": "2027-02",
                "latest_start": latest,
                "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": demand}}]}],
            }
        ],
    )


def _marginal(plan) -> dict[str, float | None]:
    return {rm.month: rm.marginal_value for rm in plan.role_months if rm.role == "CRA"}


def test_marginal_value_is_the_flex_rate_where_flex_covers_the_last_fte():
    plan = solve_checked(_problem(2.5))
    values = _marginal(plan)
    assert [values[m] for m in ("2027-02", "2027-03", "2027-04")] == [20000.0] * 3
    assert any(s.stage == "marginal-values" and s.status == "optimal" for s in plan.stages)


def test_marginal_value_is_the_dearest_persons_rate_when_named_staff_suffice():
    """ben has 0.5 FTE to spare, yet one more free FTE would still replace his 12,000 a month:
    the value is what the last FTE-month in use costs (README), not the dual of idle capacity."""
    values = _marginal(solve_checked(_problem(1.5)))
    assert [values[m] for m in ("2027-02", "2027-03", "2027-04")] == [12000.0] * 3


def test_marginal_value_is_zero_where_the_role_has_slack_and_unknown_where_no_trial_can_need_it():
    # T1 may start Feb to Apr, so the model has rows for Feb to Jun; the plan runs it Feb to Apr.
    plan = solve_checked(_problem(1.5, latest="2027-04"))
    values = _marginal(plan)
    assert plan.trials[0].start == "2027-02"
    assert values["2027-05"] == 0.0 and values["2027-06"] == 0.0
    assert values["2027-01"] is None and values["2027-07"] is None

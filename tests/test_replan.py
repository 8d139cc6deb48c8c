"""The monthly reforecast (SPEC §3 "Re-planning"): every plan comes back in as a previous
plan, plans know their portfolio, and a diff measures churn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import cli
from models.contract.churn import churn
from models.contract.identity import fingerprint, plans_mismatch, portfolio_mismatch, version_note
from models.contract.plan import FTE_DECIMALS, Assignment, Plan, TrialPlan
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.tools.diff import OtherPortfolio, diff_plans
from models.tools.generate import generate
from tests.conftest import ROOT, base_problem, solve_checked

EXAMPLE = ROOT / "data" / "example-small.json"


@pytest.fixture(scope="module")
def example() -> tuple[Problem, Plan]:
    problem = parse_problem(EXAMPLE.read_bytes())
    return problem, solve_checked(problem)


def _replan(problem: Problem, plan: Plan, frozen_until: str, **changes: object) -> Problem:
    data = problem.model_dump(mode="json")
    data.update(changes)
    data["pins"] = {**data["pins"], "frozen_until": frozen_until, "previous_plan": plan.model_dump(mode="json")}
    return parse_problem(data)


def test_plan_fte_is_written_to_its_precision_and_never_above_the_persons_fte(example):
    problem, plan = example
    fte = {s.id: s.fte for s in problem.staff}
    for a in plan.assignments:
        assert a.fte == round(a.fte, FTE_DECIMALS)
        assert a.fte <= fte[a.staff]


def test_plan_carries_its_portfolios_name_and_fingerprint(example):
    problem, plan = example
    assert plan.portfolio is not None
    assert plan.portfolio.name == problem.name and plan.portfolio.fingerprint == fingerprint(problem)
    assert (plan.portfolio.trials, plan.portfolio.staff) == (len(problem.trials), len(problem.staff))


def test_fingerprint_ignores_pins_and_settings_but_not_the_portfolio(example):
    problem, plan = example
    asked = problem.model_copy(deep=True)
    asked.settings.time_limit = 5
    asked.pins.frozen_until = "2027-04"
    asked.pins.previous_plan = plan
    assert fingerprint(asked) == fingerprint(problem)
    changed = problem.model_copy(deep=True)
    changed.staff[0].available_to = "2027-06"
    assert fingerprint(changed) != fingerprint(problem)


def test_previous_plan_with_float_noise_in_its_fte_re_plans_at_every_freeze(example):
    """A plan written before plans rounded FTE carried 1.0000000000000002 for a full-time person."""
    problem, plan = example
    noisy = plan.model_copy(deep=True)
    fte = {s.id: s.fte for s in problem.staff}
    for a in noisy.assignments:
        if abs(a.fte - fte[a.staff]) < 1e-12:
            a.fte = fte[a.staff] + 2e-16 if fte[a.staff] < 1 else 1.0000000000000002
    assert any(a.fte > fte[a.staff] for a in noisy.assignments)
    for month in ("2027-02", "2027-05", "2027-09"):
        solve_checked(_replan(problem, noisy, month))


def test_previous_plan_with_a_real_excess_in_a_frozen_month_is_refused_at_the_block(example):
    problem, plan = example
    fte = {s.id: s.fte for s in problem.staff}
    bad = plan.model_copy(deep=True)
    index = next(i for i, a in enumerate(bad.assignments) if a.start < "2027-05" and fte[a.staff] < 1)
    bad.assignments[index].fte = fte[bad.assignments[index].staff] + 0.05
    with pytest.raises(ProblemInvalid) as caught:
        _replan(problem, bad, "2027-05")
    assert [e.path for e in caught.value.errors] == [f"pins.previous_plan.assignments[{index}].fte"]


def test_previous_plan_of_another_portfolio_is_refused_in_one_line(example):
    problem, _ = example
    other = solve_checked(base_problem())
    with pytest.raises(ProblemInvalid) as caught:
        _replan(problem, other, "2027-03")
    assert [e.path for e in caught.value.errors] == ["pins.previous_plan"]
    assert "another portfolio" in caught.value.errors[0].message


def test_check_answers_a_plan_of_another_portfolio_with_that_verdict_alone(example, tmp_path: Path):
    problem, _ = example
    other = solve_checked(base_problem())
    assert portfolio_mismatch(problem, other) is not None
    (tmp_path / "other.json").write_text(other.model_dump_json())
    result = CliRunner().invoke(cli, ["check", str(EXAMPLE), str(tmp_path / "other.json")])
    assert result.exit_code == 5
    assert len(result.output.strip().splitlines()) == 1 and "another portfolio" in result.output


def test_check_notes_a_plan_of_another_version_of_the_portfolio(example):
    problem, plan = example
    changed = problem.model_copy(deep=True)
    changed.budget.per_year["2027"] *= 2
    assert portfolio_mismatch(changed, plan) is None
    assert "another version" in (version_note(changed, plan) or "")
    assert version_note(problem, plan) is None


def test_diff_refuses_two_plans_of_different_portfolios(example):
    _, plan = example
    other = solve_checked(base_problem())
    assert plans_mismatch(plan, other) is not None
    with pytest.raises(OtherPortfolio):
        diff_plans(plan, other)


def _plan(*blocks: tuple[str, str, str, str, float], trials: tuple[TrialPlan, ...] = ()) -> Plan:
    return Plan(
        status="feasible",
        trials=list(trials),
        assignments=[Assignment(staff=p, trial=t, role="CRA", start=a, end=b, fte=f) for p, t, a, b, f in blocks],
    )


def test_churn_counts_a_block_handed_over_after_the_freeze():
    """ana's T1 block (4 months at 0.5) is handed to ben from the freeze: 2 months at 0.5 move twice."""
    old = _plan(("ana", "T1", "2027-01", "2027-04", 0.5), ("cat", "T1", "2027-01", "2027-06", 1.0))
    new = _plan(("ana", "T1", "2027-01", "2027-02", 0.5), ("ben", "T1", "2027-03", "2027-04", 0.5),
                ("cat", "T1", "2027-01", "2027-06", 1.0))
    c = churn(old, new, "2027-03")
    assert (c.people_reassigned, c.people_with_work) == (2, 3)
    assert (c.blocks_previous, c.blocks_kept) == (2, 1)
    assert c.fte_months_previous == pytest.approx(1.0 + 4.0)
    assert c.fte_months_kept == pytest.approx(4.0)
    assert c.fte_months_moved == pytest.approx(2.0)
    assert churn(old, new).fte_months_moved == pytest.approx(2.0)


def test_churn_counts_a_trial_changed_only_for_its_run_option_or_start():
    same = TrialPlan(id="T1", run=True, option="std", start="2027-01", end="2027-04")
    later = TrialPlan(id="T1", run=True, option="std", start="2027-02", end="2027-05", months_late=1)
    dropped = TrialPlan(id="T2", run=False)
    added = TrialPlan(id="T2", run=True, option="std", start="2027-03", end="2027-04")
    assert churn(_plan(trials=(same, dropped)), _plan(trials=(same.model_copy(update={"months_late": 2}), dropped))).trials_changed == 0
    assert churn(_plan(trials=(same, dropped)), _plan(trials=(later, added))).trials == ["T1", "T2"]


def test_diff_headline_reports_churn_from_the_freeze(example, tmp_path: Path):
    _, plan = example
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    result = CliRunner().invoke(cli, ["diff", str(path), str(path), "--json", "--since", "2027-04"])
    assert result.exit_code == 0, result.output
    c = json.loads(result.output)["churn"]
    assert c["since"] == "2027-04" and c["people_reassigned"] == 0 and c["blocks_kept"] == c["blocks_previous"] > 0


def _post_freeze_fte_months(plan: Plan, person: str, since: str) -> float:
    from models.contract.problem import month_index

    return sum(a.fte * (month_index(a.end, max(a.start, since)) + 1) for a in plan.assignments if a.staff == person and a.end >= since)


@pytest.mark.parametrize("frozen_until", ["2027-01", "2027-04", "2027-08"])
def test_an_unchanged_world_gives_back_the_same_plan(example, frozen_until: str):
    problem, plan = example
    again = solve_checked(_replan(problem, plan, frozen_until))
    assert again.changes is not None
    assert (again.changes.trials_changed, again.changes.people_reassigned, again.changes.fte_months_moved) == (0, 0, 0.0)
    assert again.objective == pytest.approx(plan.objective, rel=1e-9)
    assert again.changes.chosen == "previous plan kept"


def test_a_leaver_changes_only_their_work_and_the_people_who_take_it_over(example):
    problem, plan = example
    since = "2027-05"
    role = {s.id: s.role for s in problem.staff}
    shared = {r for r in role.values() if list(role.values()).count(r) >= 3}
    work = {a.staff: _post_freeze_fte_months(plan, a.staff, since) for a in plan.assignments if role[a.staff] in shared}
    leaver = max(work, key=lambda p: (work[p], p))
    left = _replan(problem, plan, since)
    next(s for s in left.staff if s.id == leaver).available_to = "2027-04"
    again = solve_checked(left)
    c = again.changes
    assert c is not None and c.trials_changed == 0
    assert _post_freeze_fte_months(again, leaver, since) == 0
    assert c.people_reassigned <= 1 + 3  # the leaver and at most three who take the work over
    assert c.fte_months_moved <= 3 * work[leaver] + 1e-6


def test_a_replan_is_never_worse_than_the_previous_plan_where_it_still_holds(example):
    """More budget: the previous plan still holds, so the re-plan is at least as good."""
    problem, plan = example
    richer = _replan(problem, plan, "2027-03")
    richer.budget.per_year["2027"] *= 1.5
    again = solve_checked(richer)
    assert again.objective >= plan.objective - 1e-6


def test_stability_off_returns_the_best_re_plan_found(example):
    problem, plan = example
    free = _replan(problem, plan, "2027-03")
    free.budget.per_year["2027"] *= 1.5
    free.settings.stability = None
    again = solve_checked(free)
    assert again.changes is not None and again.changes.stability.startswith("off")
    assert again.objective == pytest.approx(again.changes.best_objective)
    assert again.changes.stability_cost == 0


def test_stability_prices_decide_between_change_and_gain(example):
    """Priced so high that no gain pays for one person reassigned, the previous plan stays."""
    problem, plan = example
    priced = _replan(problem, plan, "2027-03")
    priced.budget.per_year["2027"] *= 1.5
    priced.settings.stability = priced.settings.stability.model_copy(update={"tolerance": None, "person_reassigned": 1e12})
    again = solve_checked(priced)
    assert again.changes is not None and again.changes.people_reassigned == 0
    assert "per person reassigned" in again.changes.stability


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), share=st.sampled_from([0.0, 0.25, 0.5, 0.75]))
def test_every_plan_the_engine_emits_re_plans_at_any_freeze(seed: int, share: float):
    """Generated portfolios: the plan, fed back as the previous plan with a freeze anywhere, solves through the checker."""
    problem = generate(staff=40, trials=6, months=18, seed=seed)
    problem.settings.time_limit = 10
    plan = solve_checked(problem)
    assume(plan.status in ("optimal", "feasible"))
    frozen = problem.month(int(share * problem.horizon.months))
    again = solve_checked(_replan(problem, plan, frozen))
    assert again.status in ("optimal", "feasible")
    assert again.changes is not None and again.changes.trials_changed == 0 and again.changes.people_reassigned == 0

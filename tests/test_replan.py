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
from models.contract.check import check_plan
from models.contract.churn import churn
from models.contract.identity import fingerprint, plans_mismatch, portfolio_mismatch, version_note
from models.contract.plan import FTE_DECIMALS, Assignment, Plan, TrialPlan
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.formulation.instance import compile_instance
from models.formulation.portfolio import Reserve, fewest_changes, solve_portfolio
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings
from models.tools.diff import OtherPortfolio, diff_plans
from models.tools.generate import generate
from models.tools.reforecast import apply_reforecast, parse_reforecast
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
        again = solve_checked(_replan(problem, noisy, month))
        assert "float noise" in again.message


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


# --- reforecast events --------------------------------------------------------------------


def test_reforecast_events_apply_as_documented(example):
    problem, plan = example
    joiner = {"id": "CRA-NEW", "role": "CRA", "monthly_cost": 9000, "region": "EU"}
    added = {"id": "T99", "value": 1e6, "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.5}}]}]}
    running = next(t for t in plan.trials if t.run and t.start < "2027-04" and t.end >= "2027-06")
    waiting = next(t for t in plan.trials if not t.run)
    change = parse_reforecast({
        "frozen_until": "2027-04",
        "events": [
            {"kind": "staff_leaves", "staff": "CRA-001", "from": "2027-06"},
            {"kind": "staff_joins", "staff": joiner, "from": "2027-05"},
            {"kind": "trial_stops", "trial": running.id, "from": "2027-06"},
            {"kind": "trial_dropped", "trial": waiting.id},
            {"kind": "trial_added", "trial": added},
            {"kind": "budget", "year": "2027", "scale": 0.9},
            {"kind": "service_capacity", "service": problem.services[0].id, "from": "2027-07", "capacity": 3},
            {"kind": "deadline", "trial": "T04", "deadline": "2027-11"},
        ],
        "settings": {"time_limit": 20},
    })
    new = apply_reforecast(problem, plan, change)
    staff = {s.id: s for s in new.staff}
    trials = {t.id: t for t in new.trials}
    assert staff["CRA-001"].available_to == "2027-05" and staff["CRA-NEW"].available_from == "2027-05"
    assert trials[running.id].stopped_from == "2027-06"
    assert not trials[waiting.id].mandatory and any(p.trial == waiting.id and p.run is False for p in new.pins.trials)
    assert "T99" in trials and trials["T04"].deadline == "2027-11"
    assert new.budget.per_year["2027"] == pytest.approx(0.9 * problem.budget.per_year["2027"])
    capacity = new.services[0].capacity
    assert isinstance(capacity, list) and capacity[new.index("2027-06")] != 3 and capacity[new.index("2027-07"):] == [3] * 6
    assert new.pins.frozen_until == "2027-04" and new.pins.previous_plan == plan and new.settings.time_limit == 20
    again = solve_checked(new)
    assert again.status in ("optimal", "feasible")
    stopped = next(t for t in again.trials if t.id == running.id)
    assert stopped.run and stopped.end == "2027-05" and stopped.value == 0


@pytest.mark.parametrize(
    ("event", "path", "phrase"),
    [
        ({"kind": "staff_leaves", "staff": "nobody", "from": "2027-06"}, "events[0].staff", "unknown staff 'nobody'"),
        ({"kind": "staff_leaves", "staff": "CRA-001", "from": "2027-02"}, "events[0].from", "before the freeze"),
        ({"kind": "trial_stops", "trial": "T02", "from": "2027-02"}, "events[0].from", "before the freeze"),
        ({"kind": "trial_stops", "trial": "T01", "from": "2027-06"}, "events[0].trial", "does not run in the plan"),
        ({"kind": "trial_added", "trial": {"id": "T02", "options": [{"id": "a", "stages": [{"months": 1}]}]}},
         "events[0].trial.id", "already in the portfolio"),
        ({"kind": "trial_added", "trial": {"id": "T9", "options": [{"id": "a", "stages": [{"months": 1, "demand": {"CRX": 1}}]}]}},
         "events[0].trial.options[0].stages[0].demand.CRX", "unknown role 'CRX'"),
        ({"kind": "budget", "year": "2027"}, "events[0]", "exactly one of amount and scale"),
        ({"kind": "service_capacity", "service": "nope", "from": "2027-06", "capacity": 1}, "events[0].service", "unknown service"),
        ({"kind": "staff_quits", "staff": "CRA-001"}, "events[0]", "does not match any of the expected tags"),
    ],
)
def test_a_bad_reforecast_is_refused_at_its_path(example, event: dict, path: str, phrase: str):
    problem, plan = example
    with pytest.raises(ProblemInvalid) as caught:
        apply_reforecast(problem, plan, parse_reforecast({"frozen_until": "2027-04", "events": [event]}))
    assert [e.path for e in caught.value.errors] == [path]
    assert phrase in caught.value.errors[0].message


def test_a_stop_month_not_after_the_trials_start_is_refused(example):
    problem, plan = example
    late = next(t for t in plan.trials if t.run and t.start is not None and t.start > "2027-01")
    with pytest.raises(ProblemInvalid) as caught:
        apply_reforecast(problem, plan, parse_reforecast(
            {"frozen_until": "2027-01", "events": [{"kind": "trial_stops", "trial": late.id, "from": late.start}]}))
    assert [e.path for e in caught.value.errors] == ["events[0].from"] and "not after its start" in caught.value.errors[0].message


def _one_trial_stopped(stop: str | None, **pin: object) -> Problem:
    """One 6-month trial at 1 FTE of ana (10,000 a month) with a 60,000 fixed price, from 2027-01; T2 waits for it."""
    data = base_problem()
    data["trials"][0]["options"][0] = {"id": "std", "fixed_cost": 60_000, "stages": [{"months": 6, "demand": {"CRA": 1.0}}]}
    data["trials"][0]["stopped_from"] = stop
    data["trials"].append({"id": "T2", "value": 5e5, "predecessors": [{"trial": "T1"}],
                           "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 0.5}}]}]})
    data["pins"] = {"trials": [{"trial": "T1", "option": "std", "start": "2027-01", **pin}]}
    return parse_problem(data)


def test_a_stopped_trial_keeps_its_months_before_the_stop_and_loses_its_value():
    """Stopped from 2027-04: 3 of 6 months run, half the fixed price is due, no value, and T2 does not run."""
    plan = solve_checked(_one_trial_stopped("2027-04"))
    t1, t2 = plan.trials
    assert (t1.run, t1.start, t1.end, t1.value) == (True, "2027-01", "2027-03", 0.0)
    assert t1.cost_split.external == pytest.approx(30_000) and t1.cost_split.staff == pytest.approx(3 * 10_000)
    assert not t2.run
    assert plan.objective == pytest.approx(-(30_000 + 30_000))


def test_a_trial_that_has_not_started_cannot_be_stopped():
    data = _one_trial_stopped("2027-04").model_dump(mode="json")
    data["pins"] = {}
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    assert [e.path for e in caught.value.errors] == ["trials[0].stopped_from"]
    assert "has not started" in caught.value.errors[0].message


def test_a_mandatory_trial_waiting_for_a_stopped_one_is_refused():
    data = _one_trial_stopped("2027-04").model_dump(mode="json")
    data["trials"][1]["mandatory"] = True
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(data)
    assert [e.path for e in caught.value.errors] == ["trials[1].predecessors[0].trial"]


def test_pace_replan_writes_the_new_plan_and_next_months_problem(example, tmp_path: Path):
    problem, plan = example
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    (tmp_path / "changes.json").write_text(json.dumps(
        {"frozen_until": "2027-05", "events": [{"kind": "budget", "year": "2027", "scale": 1.2}]}))
    result = CliRunner().invoke(cli, ["replan", str(EXAMPLE), str(tmp_path / "plan.json"), str(tmp_path / "changes.json"),
                                      "-o", str(tmp_path / "new.json"), "--problem-out", str(tmp_path / "next.json")])
    assert result.exit_code == 0, result.output
    new_problem = parse_problem((tmp_path / "next.json").read_bytes())
    new_plan = Plan.model_validate_json((tmp_path / "new.json").read_bytes())
    assert check_plan(new_problem, new_plan) == []
    assert new_plan.changes is not None and new_plan.changes.since == "2027-05"
    bad = CliRunner().invoke(cli, ["replan", str(EXAMPLE), str(tmp_path / "plan.json"), str(tmp_path / "plan.json")])
    assert bad.exit_code == 2 and "frozen_until" in bad.output


def test_the_replan_endpoint_queues_a_new_job_and_stores_nothing_for_bad_changes(tmp_path: Path):
    from tests.service import client_for, finished, settings_for, wait_for_job

    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}")) as client:
        first = client.post("/v1/jobs", json=json.loads(EXAMPLE.read_text())).json()
        done = wait_for_job(lambda: client.get(first["links"]["self"]).json(), finished, timeout=120)
        assert done["state"] == "succeeded"
        bad = client.post(f"/v1/jobs/{first['id']}/replan", json={"frozen_until": "2027-04", "events": [
            {"kind": "staff_leaves", "staff": "nobody", "from": "2027-05"}]})
        assert bad.status_code == 422 and bad.json()["errors"] == [{"path": "events[0].staff", "message": bad.json()["errors"][0]["message"]}]
        assert client.get("/v1/jobs").json()["total"] == 1
        assert client.post("/v1/jobs/nope/replan", json={"frozen_until": "2027-04"}).status_code == 404
        good = client.post(f"/v1/jobs/{first['id']}/replan", json={"frozen_until": "2027-04", "events": [
            {"kind": "staff_leaves", "staff": "CRA-002", "from": "2027-05"}]})
        assert good.status_code == 202 and good.headers["location"] == good.json()["links"]["self"]
        again = wait_for_job(lambda: client.get(good.json()["links"]["self"]).json(), finished, timeout=120)
        assert again["state"] == "succeeded"
        plan = Plan.model_validate(client.get(good.json()["links"]["plan"]).json())
        problem = parse_problem(EXAMPLE.read_bytes())
        previous = Plan.model_validate(client.get(first["links"]["plan"]).json())
        new = apply_reforecast(problem, previous, parse_reforecast(
            {"frozen_until": "2027-04", "events": [{"kind": "staff_leaves", "staff": "CRA-002", "from": "2027-05"}]}))
        assert check_plan(new, plan) == []
        assert plan.changes is not None and plan.changes.trials_changed == 0
        diff = client.get(f"/v1/jobs/{good.json()['id']}/diff", params={"against": first["id"], "since": "2027-04"}).json()
        assert diff["churn"]["people_reassigned"] == plan.changes.people_reassigned


def test_a_budget_cut_leaves_out_what_it_must_and_keeps_every_other_trials_people(example):
    """A 30 % cut: an optional trial goes; the trials that still run as before keep their roster."""
    problem, plan = example
    cut = _replan(problem, plan, "2027-01")
    cut.budget.per_year["2027"] *= 0.7
    again = solve_checked(cut)
    assert again.changes is not None and again.changes.trials_changed >= 1
    assert again.budget.per_year[0].spend <= cut.budget.per_year["2027"] + 1e-6
    before = {t.id: (t.option, t.start) for t in plan.trials if t.run}
    same = {t.id for t in again.trials if t.run and before.get(t.id) == (t.option, t.start)}
    assert same, "some trial runs as before"

    def roster(p: Plan) -> set[tuple[str, str, str, str, str, float]]:
        return {(a.staff, a.trial, a.role, a.start, a.end, a.fte) for a in p.assignments if a.trial in same}

    assert roster(again) == roster(plan)


def test_a_stop_the_freeze_has_passed_re_plans_next_month(example):
    """Stopped from 2027-06 in May's re-plan, the trial stays stopped in July's, frozen past the stop."""
    problem, plan = example
    running = next(t for t in plan.trials if t.run and t.start < "2027-04" and t.end >= "2027-07")
    may = apply_reforecast(problem, plan, parse_reforecast(
        {"frozen_until": "2027-05", "events": [{"kind": "trial_stops", "trial": running.id, "from": "2027-06"}]}))
    stopped = solve_checked(may)
    july = apply_reforecast(may, stopped, parse_reforecast({"frozen_until": "2027-07"}))
    again = solve_checked(july)
    assert next(t for t in again.trials if t.id == running.id).end == "2027-05"
    bad = july.model_dump(mode="json")
    bad["pins"]["previous_plan"] = plan.model_dump(mode="json")  # a previous plan that still runs it past the stop
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(bad)
    assert any(e.path.endswith("stopped_from") and "before the freeze" in e.message for e in caught.value.errors)


def _changes(previous: dict[str, tuple[str, int] | None], schedule: dict[str, tuple[str, int]]) -> int:
    return sum(1 for t, before in previous.items() if schedule.get(t) != before)


def test_fewest_changes_keeps_the_previous_schedule_when_the_objective_allows_it(example):
    """Stage 1 again, changes minimised: with a target any schedule meets, the previous
    schedule (here the best one less an optional trial) comes back unchanged; with the best
    objective as the target, no more changes than the best schedule makes."""
    problem, _ = example
    inst = compile_instance(problem)
    settings = EngineSettings(mip_gap=0.0)
    result = solve_portfolio(inst, settings, 30, Reserve())
    best = result.schedule
    dropped = next(t for t in best if not inst.trials[t].mandatory)
    previous: dict[str, tuple[str, int] | None] = {t: best.get(t) for t in inst.trials}
    previous[dropped] = None
    objective = result.model.in_objective_sense(result.outcome.objective)
    loose, outcome = fewest_changes(result, previous, -1e15, best, objective, settings, 30, Monitor())
    assert outcome is not None and loose == {t: v for t, v in best.items() if t != dropped}
    tight, _ = fewest_changes(result, previous, result.bound, best, objective, settings, 30, Monitor())
    assert tight is not None and _changes(previous, tight) <= _changes(previous, best)
    assert result.model is not None and result.model.m.obj.active and not hasattr(result.model.m, "fewest")


def test_a_smaller_service_sheds_from_the_kept_plan_what_no_longer_fits(example):
    """The previous schedule's starts are each still allowed, but together they overrun a
    service cut below its peak use: the kept plan leaves a trial out rather than break the
    rule (no candidate is passed over by the checker)."""
    problem, plan = example
    peak = max(plan.service_months, key=lambda sm: sm.used)
    smaller = _replan(problem, plan, "2027-01")
    service = next(s for s in smaller.services if s.id == peak.service)
    service.capacity = 0.9 * peak.used
    again = solve_checked(smaller)
    assert again.status in ("optimal", "feasible")
    assert "passed over" not in again.message, again.message


def test_a_new_mandatory_trial_is_planned_and_the_rest_kept(example):
    """The previous plan cannot be kept as it is (a new trial must run): the re-plan runs it
    and changes no trial of the previous plan."""
    problem, plan = example
    added = {"id": "T99", "mandatory": True, "value": 1e6, "earliest_start": "2027-06",
             "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CTA": 0.2}}]}]}
    new = apply_reforecast(problem, plan, parse_reforecast(
        {"frozen_until": "2027-05", "events": [{"kind": "trial_added", "trial": added}]}))
    again = solve_checked(new)
    assert next(t for t in again.trials if t.id == "T99").run
    assert again.changes is not None and again.changes.trials_changed == 0
    assert "passed over" not in again.message, again.message


def test_the_check_and_diff_endpoints_answer_plans_of_another_portfolio_in_one_line(example, tmp_path: Path):
    from tests.service import client_for, finished, settings_for, wait_for_job

    problem, plan = example
    other = solve_checked(base_problem())
    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}")) as client:
        answer = client.post("/v1/check", json={"problem": problem.model_dump(mode="json"), "plan": other.model_dump(mode="json")}).json()
        assert answer["valid"] is False and answer["violations"] == [] and "another portfolio" in answer["other_portfolio"]
        same = client.post("/v1/check", json={"problem": problem.model_dump(mode="json"), "plan": plan.model_dump(mode="json")}).json()
        assert same == {"valid": True, "other_portfolio": None, "note": None, "violations": []}
        problems = (json.loads(EXAMPLE.read_text()), base_problem())
        jobs = [client.post("/v1/jobs", json=data).json() for data in problems]
        for job, data in zip(jobs, problems):
            assert wait_for_job(lambda job=job: client.get(job["links"]["self"]).json(), finished, timeout=120)["state"] == "succeeded"
            assert check_plan(parse_problem(data), Plan.model_validate(client.get(job["links"]["plan"]).json())) == []
        diff = client.get(f"/v1/jobs/{jobs[1]['id']}/diff", params={"against": jobs[0]["id"]})
        assert diff.status_code == 422 and diff.json()["type"] == "urn:pace:problem:other-portfolio"
        assert "different portfolios" in diff.json()["detail"]

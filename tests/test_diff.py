"""Comparing two plans of one portfolio: what a reforecast changed and why it matters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from models.contract.plan import Plan
from models.tools.diff import PlanDiff, diff_plans, render_diff
from tests.conftest import base_problem, solve_checked, trial_plan
from tests.service import assert_checker_clean, client_for, finished, settings_for, wait_for_job


def portfolio(**pins: Any) -> dict[str, Any]:
    """Two CRAs, a mandatory trial and a valuable optional one; ``pins`` re-plan it."""
    return base_problem(
        trials=[
            {"id": "T1", "value": 500_000, "mandatory": True, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
            {"id": "T2", "value": 2_000_000, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
        ],
        pins=pins,
    )


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {
        "base": solve_checked(portfolio()),
        "later": solve_checked(portfolio(trials=[{"trial": "T2", "start": "2027-05"}])),
        "dropped": solve_checked(portfolio(trials=[{"trial": "T2", "run": False}])),
    }


def test_two_identical_plans_differ_in_nothing(plans: dict[str, Plan]):
    same = diff_plans(plans["base"], plans["base"])
    assert (same.trials, same.fte_moved, same.people) == ([], [], [])
    assert all(h.before == h.after for h in same.headline)


def test_a_trial_moved_later_shows_its_start_shift_value_lost_and_the_fte_it_moved(plans: dict[str, Plan]):
    base, later = plans["base"], plans["later"]
    assert trial_plan(base, "T2").start == "2027-01"
    change = diff_plans(base, later)
    assert [c.trial for c in change.trials] == ["T2"]
    moved = change.trials[0]
    assert (moved.start_before, moved.start_after, moved.start_shift_months) == ("2027-01", "2027-05", 4)
    assert moved.value_change == pytest.approx(trial_plan(later, "T2").value - trial_plan(base, "T2").value) and moved.value_change < 0
    cra = {m.month: m.assigned_after - m.assigned_before for m in change.fte_moved if m.role == "CRA"}
    assert cra == pytest.approx({"2027-01": -1.0, "2027-02": -1.0, "2027-03": -1.0, "2027-05": 1.0, "2027-06": 1.0, "2027-07": 1.0})
    year = next(y for y in change.years if y.year == "2027")
    assert year.value_after - year.value_before == pytest.approx(moved.value_change)


def test_a_dropped_trial_shows_who_left_it_its_cost_and_value_per_year(plans: dict[str, Plan]):
    base, dropped = plans["base"], plans["dropped"]
    change = diff_plans(base, dropped)
    gone = next(c for c in change.trials if c.trial == "T2")
    assert (gone.run_before, gone.run_after) == (True, False)
    assert gone.cost_change == pytest.approx(-trial_plan(base, "T2").cost)
    staffed = {a.staff for a in base.assignments if a.trial == "T2"}
    left = {p.staff for p in change.people if "T2" in p.left}
    assert left == staffed and staffed
    year = next(y for y in change.years if y.year == "2027")
    assert (year.cost_before, year.cost_after) == pytest.approx((base.budget.per_year[0].spend, dropped.budget.per_year[0].spend))
    assert year.value_before - year.value_after == pytest.approx(trial_plan(base, "T2").value)
    headline = {h.name: (h.before, h.after) for h in change.headline}
    assert headline["trials run"] == (2, 1)


def test_the_text_names_each_change_in_plain_words(plans: dict[str, Plan]):
    text = render_diff(diff_plans(plans["base"], plans["later"]))
    assert "T2: start 2027-01 -> 2027-05 (+4 months)" in text
    assert "CRA: named +0.00 FTE-months" in text
    assert "trials run: 2 -> 2 (+0)" in text
    dropped = render_diff(diff_plans(plans["base"], plans["dropped"]))
    assert "T2: dropped (was std from 2027-01)" in dropped and "left T2 (3.00 FTE-months)" in dropped


def test_pace_diff_prints_the_changes_or_json(plans: dict[str, Plan], tmp_path: Path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(plans["base"].model_dump_json())
    new.write_text(plans["later"].model_dump_json())
    runner = CliRunner()
    text = runner.invoke(cli, ["diff", str(old), str(new)])
    assert text.exit_code == 0 and "start 2027-01 -> 2027-05" in text.stdout
    as_json = runner.invoke(cli, ["diff", str(old), str(new), "--json"])
    assert PlanDiff.model_validate_json(as_json.stdout) == diff_plans(plans["base"], plans["later"])
    missing = runner.invoke(cli, ["diff", str(old), str(tmp_path / "nope.json")])
    assert missing.exit_code == 2


# --- the service ----------------------------------------------------------------------

KEY, OTHER = {"X-API-Key": "planner"}, {"X-API-Key": "other"}


def _solved(client: TestClient, problem: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    job = client.post("/v1/jobs", content=json.dumps(problem), headers={**headers, "content-type": "application/json"}).json()
    done = wait_for_job(lambda: client.get(job["links"]["self"], headers=headers).json(), finished, timeout=120)
    assert done["state"] == "succeeded", done
    assert_checker_clean(json.dumps(problem), client.get(job["links"]["plan"], headers=headers).json())
    return done


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, Any]]]]:
    database = tmp_path_factory.mktemp("diff") / "pace.db"
    with client_for(settings_for(f"sqlite:///{database}", api_keys=["planner", "other"])) as client:
        jobs = {
            "base": _solved(client, portfolio(), KEY),
            "later": _solved(client, portfolio(trials=[{"trial": "T2", "start": "2027-05"}]), KEY),
            "theirs": _solved(client, portfolio(), OTHER),
        }
        yield client, jobs


def test_a_jobs_plan_is_compared_against_another_of_the_same_key(served):
    client, jobs = served
    response = client.get(f"{jobs['later']['links']['self']}/diff", params={"against": jobs["base"]["id"]}, headers=KEY)
    assert response.status_code == 200
    old = Plan.model_validate(client.get(jobs["base"]["links"]["plan"], headers=KEY).json())
    new = Plan.model_validate(client.get(jobs["later"]["links"]["plan"], headers=KEY).json())
    assert PlanDiff.model_validate(response.json()) == diff_plans(old, new)
    assert [c["trial"] for c in response.json()["trials"]] == ["T2"]


def test_a_comparison_against_another_keys_job_is_not_found(served):
    client, jobs = served
    mine, theirs = jobs["base"], jobs["theirs"]
    assert client.get(f"{mine['links']['self']}/diff", params={"against": theirs["id"]}, headers=KEY).status_code == 404
    assert client.get(f"{theirs['links']['self']}/diff", params={"against": mine["id"]}, headers=KEY).status_code == 404
    assert client.get(f"{mine['links']['self']}/diff", params={"against": "no-such-job"}, headers=KEY).status_code == 404
    assert client.get(f"{mine['links']['self']}/diff", headers=KEY).status_code == 422

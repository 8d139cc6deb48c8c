"""The planner's HTML report: self-contained, renders in a browser without errors; the job list in plain words."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.tools.report import render_report
from tests.conftest import base_problem, solve_checked
from tests.service import SMALL, assert_checker_clean, client_for, finished, problem_json, settings_for, wait_for_job

CHROMIUM = "/usr/bin/chromium"
#: Injected before the report's own scripts: console errors and warnings are tagged so they can be told from logs.
_CONSOLE_TAP = (
    "<script>for (const level of ['error', 'warn']) { const original = console[level];"
    " console[level] = (...args) => original('PACE-CONSOLE-' + level.toUpperCase() + ': ' + args.join(' ')); }</script>"
)


@pytest.fixture(scope="module")
def small() -> tuple[Problem, Plan]:
    problem = parse_problem(SMALL.read_bytes())
    problem.settings.time_limit = 10
    return problem, solve_checked(problem)


def _chromium(html: str, tmp_path: Path, name: str) -> tuple[Path, list[str]]:
    """Render ``html`` headless; the screenshot and every console error or uncaught exception it logged."""
    page = tmp_path / f"{name}.html"
    page.write_text(html.replace("<head>", "<head>" + _CONSOLE_TAP, 1))
    png = tmp_path / f"{name}.png"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / ('profile-' + name)}",
            "--window-size=1400,2400",
            "--virtual-time-budget=5000",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    errors = [line for line in console if "Uncaught" in line or "PACE-CONSOLE-ERROR" in line]
    return png, errors


def _figure(page: str, chart: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and layout of one chart as the page hands them to Plotly.newPlot."""
    start = re.search(rf'Plotly\.newPlot\(\s*"{chart}",\s*', page)
    assert start is not None, chart
    decoder = json.JSONDecoder()
    traces, end = decoder.raw_decode(page, start.end())
    layout, _ = decoder.raw_decode(page, page.index("{", end))
    return traces, layout


def _traces(page: str, chart: str) -> list[dict[str, Any]]:
    return _figure(page, chart)[0]


def _png_size(png: Path) -> tuple[int, int]:
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_browser_check_catches_a_script_error(tmp_path: Path):
    """The console check below could fail: a page with a broken script and a console.error is caught."""
    broken = "<!DOCTYPE html><html><head></head><body><script>console.error('broken chart'); noSuchFunction();</script></body></html>"
    _, errors = _chromium(broken, tmp_path, "broken")
    assert any("broken chart" in e for e in errors) and any("Uncaught ReferenceError" in e for e in errors)


def test_the_report_renders_in_headless_chromium_without_console_errors(small: tuple[Problem, Plan], tmp_path: Path):
    problem, plan = small
    png, errors = _chromium(render_report(plan, problem), tmp_path, "report")
    assert errors == []
    assert _png_size(png) == (1400, 2400)
    assert png.stat().st_size > 50_000, "a blank page is about 5 KB; the charts make it far larger"


def test_the_report_is_one_file_that_needs_no_network(small: tuple[Problem, Plan]):
    problem, plan = small
    page = render_report(plan, problem)
    assert not re.search(r"<script[^>]+src=", page), "every script is inline"
    assert not re.search(r"<link[^>]+href=", page)
    assert "Plotly.newPlot" in page and page.count("plotly.js v") >= 1
    assert page.count('id="chart') == 5, "Gantt, role heatmap, people heatmap, budget and services"


def test_the_report_shows_each_running_trial_its_option_and_every_explanation(small: tuple[Problem, Plan]):
    problem, plan = small
    page = render_report(plan, problem)
    bars = [trace for trace in _traces(page, "chart0") if trace["type"] == "bar"]
    shown = {(trace["name"], y.split(" ")[0]) for trace in bars for y in trace["y"]}
    assert shown == {(t.option, t.id) for t in plan.trials if t.run}
    for explanation in plan.explanations:
        assert explanation.reason.replace("'", "&#x27;") in page
    left_out = [t.id for t in plan.trials if not t.run]
    assert all(f"<li>{tid}" in page for tid in left_out)


def test_a_late_trial_is_outlined_and_its_deadline_and_predecessor_named():
    problem = parse_problem(
        base_problem(
            trials=[
                {"id": "A", "mandatory": True, "value": 1000, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
                {
                    "id": "B",
                    "mandatory": True,
                    "value": 1000,
                    "deadline": "2027-04",
                    "tardiness_penalty": 10,
                    "predecessors": [{"trial": "A", "lag": 1}],
                    "options": [{"id": "std", "stages": [{"months": 2, "demand": {"CRA": 1.0}}]}],
                },
            ]
        )
    )
    plan = solve_checked(problem)
    late = next(t for t in plan.trials if t.id == "B")
    assert late.months_late > 0
    traces, layout = _figure(render_report(plan, problem), "chart0")
    bar = next(t for t in traces if t["type"] == "bar" and "B" in t["y"])
    hover = bar["customdata"][bar["y"].index("B")]
    assert f"{late.months_late} month(s) late</b> (deadline 2027-04)" in hover and "after A + 1 month(s)" in hover
    assert bar["marker"]["line"]["width"][bar["y"].index("B")] > 0, "a late trial's bar is outlined"
    deadline = next(t for t in traces if t["name"] == "deadline (late trials)")
    assert deadline["y"] == ["B"] and deadline["x"] == ["2027-05-01"], "the deadline is the end of its month"
    a_end = next(t for t in plan.trials if t.id == "A").end
    arrows = [(n["ay"], n["y"], n["ax"]) for n in layout["annotations"]]
    assert arrows == [("A", "B", f"{a_end[:5]}{int(a_end[5:]) + 1:02d}-01")], "an arrow from A's end to B's start"


def test_text_from_the_plan_is_escaped_not_run_as_html(small: tuple[Problem, Plan]):
    problem, plan = small
    hostile = plan.model_copy(deep=True)
    hostile.explanations[0].reason = "<script>alert('x')</script>"
    page = render_report(hostile, problem)
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page


def test_the_report_of_an_infeasible_plan_still_renders(tmp_path: Path):
    problem = parse_problem(
        base_problem(trials=[{"id": "T1", "mandatory": True, "options": [{"id": "s", "stages": [{"months": 3, "demand": {"CRA": 5}}]}]}])
    )
    plan = solve_checked(problem)
    assert plan.status == "infeasible"
    page = render_report(plan, problem)
    assert "infeasible" in page
    _, errors = _chromium(page, tmp_path, "infeasible")
    assert errors == []


def test_pace_report_writes_the_html_from_a_plan_file_with_or_without_its_problem(small: tuple[Problem, Plan], tmp_path: Path):
    problem, plan = small
    plan_file, problem_file = tmp_path / "plan.json", tmp_path / "problem.json"
    plan_file.write_text(plan.model_dump_json())
    problem_file.write_text(problem.model_dump_json())
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(plan_file), "-p", str(problem_file), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    named = (tmp_path / "r.html").read_text()
    assert problem.trials[1].name and problem.trials[1].name in named
    result = runner.invoke(cli, ["report", str(plan_file), "-o", str(tmp_path / "bare.html")])
    assert result.exit_code == 0 and "Plotly.newPlot" in (tmp_path / "bare.html").read_text()
    result = runner.invoke(cli, ["report", str(problem_file)])
    assert result.exit_code == 2 and "not a plan" in result.output


# --- the service ----------------------------------------------------------------------

KEY, OTHER = {"X-API-Key": "planner"}, {"X-API-Key": "other"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any], str]]:
    """A keyed server with one finished job of the small portfolio (and its problem JSON)."""
    database = tmp_path_factory.mktemp("report") / "pace.db"
    with client_for(settings_for(f"sqlite:///{database}", api_keys=["planner", "other"])) as client:
        problem = problem_json(SMALL, time_limit=10)
        job = client.post("/v1/jobs", content=problem, headers={**KEY, "content-type": "application/json"}).json()
        done = wait_for_job(lambda: client.get(job["links"]["self"], headers=KEY).json(), finished, timeout=120)
        assert done["state"] == "succeeded", done
        yield client, done, problem


def test_a_jobs_report_is_html_of_its_plan_and_another_keys_job_is_not_found(served):
    client, job, problem = served
    plan = assert_checker_clean(problem, client.get(job["links"]["plan"], headers=KEY).json())
    response = client.get(f"{job['links']['self']}/report", headers=KEY)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.text == render_report(plan, parse_problem(problem))
    assert client.get(f"{job['links']['self']}/report", headers=OTHER).status_code == 404


def test_the_plan_downloads_as_xlsx_or_csv(served):
    client, job, problem = served
    plan = assert_checker_clean(problem, client.get(job["links"]["plan"], headers=KEY).json())
    xlsx = client.get(job["links"]["plan"], params={"format": "xlsx"}, headers=KEY)
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert xlsx.content[:2] == b"PK" and "attachment" in xlsx.headers["content-disposition"]
    sheets = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).sheetnames
    assert "People" in sheets  # the job's problem travels with its plan: names and the people view
    csv = client.get(job["links"]["plan"], params={"format": "csv"}, headers=KEY)
    assert csv.headers["content-type"].startswith("text/csv")
    assert [line.split(",")[0] for line in csv.text.splitlines()[1:]] == [t.id for t in plan.trials]
    assert client.get(job["links"]["plan"], params={"format": "pdf"}, headers=KEY).status_code == 422


def test_the_job_list_names_each_job_with_its_status_objective_and_trials_run(served):
    client, job, problem = served
    plan = Plan.model_validate(client.get(job["links"]["plan"], headers=KEY).json())
    listed = client.get("/v1/jobs", headers=KEY).json()["items"]
    mine = next(item for item in listed if item["id"] == job["id"])
    assert mine["name"] == json.loads(problem)["name"] == "PACE sample portfolio (20 staff, 4 trials, 12 months, seed 1)"
    assert mine["objective_kind"] == "value"
    assert (mine["status"], mine["objective"], mine["trials_run"]) == (plan.status, plan.objective, plan.kpis.trials_run)
    assert client.get("/v1/jobs", headers=OTHER).json()["items"] == []

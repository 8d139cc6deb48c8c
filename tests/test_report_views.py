"""The report's views of roles, people, budget steps and plans without a schedule, read off the page."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from bench.families import family_problem
from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.tools.report import render_report
from tests.conftest import ROOT, base_problem, solve_checked
from tests.test_budget_values import _problem as budget_step_problem
from tests.test_report import _chromium, _figure

SMALL = ROOT / "data" / "example-small.json"


@pytest.fixture(scope="module")
def multiskilled() -> tuple[Problem, Plan]:
    """A small team where most people hold secondary roles, so role capacities overlap."""
    problem = family_problem("small_multiskilled", 0)
    problem.settings.time_limit = 10
    return problem, solve_checked(problem)


@pytest.fixture(scope="module")
def small() -> tuple[Problem, Plan]:
    problem = parse_problem(SMALL.read_bytes())
    problem.settings.time_limit = 10
    return problem, solve_checked(problem)


def _utilisation_heatmap(page: str) -> dict[tuple[str, str], tuple[float, str]]:
    """(role, month) -> (heatmap value, hover text) of the role heatmap's utilisation layer."""
    traces, _ = _figure(page, "chart1")
    layer = next(t for t in traces if t["name"] == "utilisation")
    return {
        (role, month): (layer["z"][i][j], layer["text"][i][j])
        for i, role in enumerate(layer["y"])
        for j, month in enumerate(layer["x"])
        if layer["z"][i][j] is not None
    }


def test_the_role_heatmap_counts_secondary_capacity_and_never_shows_more_than_everyone(multiskilled, tmp_path: Path):
    problem, plan = multiskilled
    assert any(r.assigned_secondary > 0 for r in plan.role_months), "the shape under test: work done in a secondary role"
    page = render_report(plan, problem)
    _, errors = _chromium(page, tmp_path, "multiskilled")
    assert errors == []
    shown = _utilisation_heatmap(page)
    assert set(shown) == {(r.role, r.month) for r in plan.role_months}
    for rm in plan.role_months:
        value, hover = shown[(rm.role, rm.month)]
        assert value == pytest.approx(rm.utilisation)
        if rm.flex == 0 and rm.shortfall == 0:
            assert value <= 1.0, (rm.role, rm.month, value)
        assert f"capacity {rm.capacity:.2f} ({rm.capacity_primary:.2f} primary + {rm.capacity_secondary:.2f} secondary)" in hover
        assert f"assigned {rm.assigned:.2f} (of it {rm.assigned_secondary:.2f} secondary)" in hover
        assert f"spare {rm.spare:.2f}" in hover
    traces, _ = _figure(page, "chart1")
    assert [t["name"] for t in traces] == ["utilisation", "flex FTE", "shortfall FTE", "spare FTE"]


def _infeasible() -> tuple[Problem, Plan]:
    """The small portfolio with its mandatory trial priced out: a 2027 budget of 1,000."""
    problem = parse_problem(SMALL.read_bytes())
    problem.budget.per_year = {"2027": 1000.0}
    problem.settings.time_limit = 5
    return problem, solve_checked(problem)


def test_the_report_of_an_infeasible_plan_says_what_happened_and_what_would_make_it_feasible(tmp_path: Path):
    problem, plan = _infeasible()
    assert plan.status == "infeasible" and plan.relaxations
    page = render_report(plan, problem)
    _, errors = _chromium(page, tmp_path, "infeasible-small")
    assert errors == []
    assert f"{len(problem.trials)} trials; horizon" in page and "0 trials" not in page and "of 0<" not in page
    assert "<span>trials in the problem</span><b>4</b>" in page
    assert "No plan (infeasible).</b> " + html.escape(plan.message) in page
    assert "Plotly.newPlot" not in page and "2000-01" not in page, "no empty chart on a made-up axis"
    assert "No schedule to show" in page
    for relaxation in plan.relaxations:
        assert f"<tr><td>{relaxation.kind}</td><td>{html.escape(relaxation.summary)}</td>" in page
        for year, amount in relaxation.budget_per_year.items():
            assert f"{year}: +{amount:,.0f}" in page
    for explanation in plan.explanations:
        assert html.escape(explanation.reason) in page
    assert f"{len(problem.trials)} trials" in render_report(plan), "without the problem, the plan's own portfolio count"


def test_the_people_heatmap_shows_each_persons_share_of_their_available_fte_least_used_first(small):
    problem, plan = small
    people = _figure(render_report(plan, problem), "chart2")[0][0]
    ids = [label.split(" ")[0] for label in people["y"]]
    assert sorted(ids) == sorted(s.id for s in problem.staff)
    months = [problem.month(m) for m in range(problem.horizon.months)]
    assert people["x"] == months
    means = []
    for row, pid in enumerate(ids):
        person = next(s for s in problem.staff if s.id == pid)
        used = available = 0.0
        for col, month in enumerate(months):
            work = sum(a.fte for a in plan.assignments if a.staff == pid and a.start <= month <= a.end)
            off = month in person.leave or not (person.available_from or month) <= month <= (person.available_to or month)
            cell = people["z"][row][col]
            if off:
                assert cell is None and people["text"][row][col].startswith("not available")
                continue
            assert cell == pytest.approx(work / person.fte, abs=1e-3)
            used, available = used + work, available + person.fte
        means.append(used / available)
    assert means == sorted(means), "least used at the top"


def test_the_least_used_table_leads_with_people_idle_while_their_role_buys_flex():
    """ben works in NA, the trial runs in the EU and CRA is regional: flex covers what ana cannot, ben idles."""
    problem = parse_problem(
        base_problem(
            regional_roles=["CRA"],
            staff=[
                {"id": "ana", "name": "Ana", "role": "CRA", "monthly_cost": 10000, "region": "EU"},
                {"id": "ben", "name": "Ben", "role": "CRA", "monthly_cost": 9000, "region": "NA"},
            ],
            flex=[{"role": "CRA", "monthly_rate": 15000, "max_fte": 2}],
            trials=[
                {"id": "T1", "mandatory": True, "value": 1e6, "regions": ["EU"],
                 "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.5}}]}]}
            ],
        )
    )
    plan = solve_checked(problem)
    assert sum(r.flex for r in plan.role_months) > 0
    page = render_report(plan, problem)
    table = page[page.index("Least used people") :]
    first_row = table[table.index("<tr><td>") : table.index("</tr>", table.index("<tr><td>"))]
    assert "ben Ben (CRA)" in first_row and "<td>NA</td>" in first_row
    assert first_row.endswith("<td>3.00</td>"), "three idle FTE-months while CRA bought flex"
    assert "Nobody is assigned above their FTE" in page


def test_a_person_put_above_their_fte_is_named(small):
    """A valid plan never does it; a hand-edited one the checker rejects is still shown as it is."""
    problem, plan = small
    edited = plan.model_copy(deep=True)
    block = edited.assignments[0]
    edited.assignments.append(block.model_copy(update={"trial": block.trial, "fte": 1.0}))
    assert check_plan(problem, edited) != []
    page = render_report(edited, problem)
    assert "Above their FTE: " + block.staff in page


def test_the_budget_chart_shows_what_more_budget_buys():
    problem = budget_step_problem(800_000, 0.5)
    plan = solve_checked(problem)
    year = plan.budget.per_year[0]
    assert year.extra_budget and year.objective_gain and year.objective_gain_bound and year.marginal_value
    page = render_report(plan, parse_problem(problem))
    traces, layout = _figure(page, "chart3")
    gain = next(t for t in traces if t["name"] == "gain from more budget")
    assert gain["y"] == [year.objective_gain] and gain["yaxis"] == "y2"
    assert gain["error_y"]["array"] == [pytest.approx(year.objective_gain_bound - year.objective_gain)]
    assert f"each unit more worth {year.marginal_value:,.3f}" in gain["customdata"][0]
    assert layout["yaxis2"]["title"]["text"] == "objective gain"
    steps = page[page.index("What more budget buys") :]
    assert f"<td>{year.extra_budget:,.0f}</td><td>{year.objective_gain:,.0f}</td><td>{year.objective_gain_bound:,.0f}</td>" in steps

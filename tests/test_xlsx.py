"""Spreadsheets for planners: the problem round trip, row-level errors, the template, the plan export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from app.cli import cli

from models.contract import problem as contract
from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import parse_problem
from models.tools.generate import generate
from models.tools.xlsx import (
    XLSX_MEDIA_TYPE,
    WorkbookInvalid,
    plan_to_xlsx,
    plan_trials_csv,
    problem_from_xlsx,
    problem_template,
    problem_to_xlsx,
)
from tests.conftest import ROOT, base_problem, solve_checked
from tests.service import client_for, settings_for
from tests.test_any_portfolio import problems as portfolios

REFERENCE = ROOT / "data" / "pace-reference.json"
SMALL = ROOT / "data" / "example-small.json"


def every_field_problem() -> Problem:
    """A re-plan that sets every field of the problem contract away from its default somewhere."""
    previous = solve_checked(base_problem())
    for block in previous.assignments:
        block.fte = min(block.fte, 0.8)  # ana works 0.8 FTE here, and the freeze keeps her January
    lab = [100.0 + 5 * i for i in range(12)]
    document: dict[str, Any] = {
        "name": "every field",
        "horizon": {"start": "2027-01", "months": 12},
        "roles": ["CRA", "DM"],
        "regional_roles": ["CRA"],
        "staff": [
            {
                "id": "ana",
                "name": "Ana Lima",
                "role": "CRA",
                "secondary_roles": ["DM"],
                "fte": 0.8,
                "monthly_cost": 9000.5,
                "source": "sponsor",
                "region": "NA",
                "skills": ["psoriasis", "atopic_dermatitis"],
                "available_from": "2027-01",
                "available_to": "2027-11",
                "leave": ["2027-05", "2027-08"],
                "max_concurrent_trials": 2,
            },
            {"id": "ben", "role": "CRA", "monthly_cost": 12000, "region": "NA", "skills": ["psoriasis"]},
            {"id": "cat", "role": "DM", "monthly_cost": 11000},
        ],
        "services": [
            {"id": "lab", "name": "Central lab", "kind": "central_lab", "unit": "sample", "capacity": lab, "unit_cost": 12.5},
            {"id": "smo", "kind": "site_management", "capacity": 40, "unit_cost": 2500, "contract_volume": 300},
        ],
        "flex": [{"role": "CRA", "monthly_rate": 20000, "max_fte": 0.5}],
        "trials": [
            {
                "id": "T1",
                "name": "PSO-301",
                "phase": "III",
                "indication": "psoriasis",
                "regions": ["NA", "EU"],
                "value": 1_000_000,
                "mandatory": True,
                "earliest_start": "2027-01",
                "latest_start": "2027-04",
                "deadline": "2027-09",
                "tardiness_penalty": 5000,
                "stopped_from": "2027-03",
                "required_skills": {"CRA": ["psoriasis"], "DM": []},
                "options": [
                    {
                        "id": "std",
                        "name": "Standard",
                        "fixed_cost": 25000,
                        "stages": [
                            {"name": "start-up", "months": 1, "demand": {"CRA": 1.0, "DM": 0.0}},
                            {"name": "treatment", "months": 2, "demand": {"CRA": 1.0}, "services": {"lab": 10, "smo": 0}},
                        ],
                    },
                    {"id": "fso", "fixed_cost": 900_000, "service_totals": {"smo": 40}, "stages": [{"months": 4, "demand": {"DM": 0.2}}]},
                ],
            },
            {
                "id": "T2",
                "value": 400_000,
                "predecessors": [{"trial": "T1", "lag": 1}],
                "options": [{"id": "std", "stages": [{"months": 2, "demand": {"DM": 0.5}}]}],
            },
        ],
        "budget": {"total": 5e6, "per_year": {"2027": 4e6}},
        "objective": {
            "kind": "cost",
            "discount_rate": 0.02,
            "weights": {"shortfall": 50_000, "tardiness": 2, "fragmentation": 500},
            "penalty_scale": 1e-8,
        },
        "pins": {
            "trials": [{"trial": "T1", "run": True, "option": "std", "start": "2027-01"}],
            "assignments": [{"staff": "ben", "trial": "T1", "role": "CRA", "start": "2027-01", "end": "2027-02", "fte": 0.5}],
            "frozen_until": "2027-02",
            "previous_plan": previous.model_dump(mode="json"),
        },
        "settings": {"time_limit": 5, "mip_gap": 0.02, "threads": 1, "seed": 3, "reproducible": True, "budget_step": 0.1,
                     "stability": {"tolerance": 0.01, "trial_change": 1e5, "person_reassigned": 2e3, "fte_month_moved": 50}},
    }
    return parse_problem(document)


def _contract_models() -> list[type[BaseModel]]:
    """Every model of the problem contract (the embedded previous plan is the plan's contract, checked whole)."""
    return [
        value
        for value in vars(contract).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == contract.__name__
        and value not in (contract.FieldError, contract._Strict)
    ]


def _fields_set_away_from_default(item: Any, seen: set[tuple[str, str]]) -> None:
    if isinstance(item, list):
        for x in item:
            _fields_set_away_from_default(x, seen)
    if isinstance(item, dict):
        for x in item.values():
            _fields_set_away_from_default(x, seen)
    if not isinstance(item, BaseModel) or isinstance(item, Plan):
        return
    for name, info in type(item).model_fields.items():
        value = getattr(item, name)
        if info.is_required() or value != info.get_default(call_default_factory=True):
            seen.add((type(item).__name__, name))
        _fields_set_away_from_default(value, seen)


def test_every_field_problem_sets_every_field_of_the_contract():
    seen: set[tuple[str, str]] = set()
    _fields_set_away_from_default(every_field_problem(), seen)
    every = {(model.__name__, name) for model in _contract_models() for name in model.model_fields}
    assert every - seen == set()


def test_a_problem_with_every_field_set_survives_the_xlsx_round_trip():
    problem = every_field_problem()
    back = problem_from_xlsx(problem_to_xlsx(problem))
    assert back == problem
    assert back.services[0].capacity == problem.services[0].capacity and isinstance(back.services[1].capacity, float)
    assert back.pins.previous_plan == problem.pins.previous_plan


def test_the_reference_portfolio_survives_the_xlsx_round_trip():
    problem = parse_problem(REFERENCE.read_bytes())
    assert problem_from_xlsx(problem_to_xlsx(problem)) == problem


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_portfolios_survive_the_xlsx_round_trip(seed: int):
    problem = generate(staff=40 * seed, trials=4 + 2 * seed, months=24 + 6 * seed, seed=seed)
    assert problem_from_xlsx(problem_to_xlsx(problem)) == problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=portfolios())
def test_any_valid_portfolio_hypothesis_draws_survives_the_xlsx_round_trip(data: dict[str, Any]):
    try:
        problem: Problem | None = parse_problem(data)
    except ProblemInvalid:
        problem = None
    assume(problem is not None)
    assert problem is not None and problem_from_xlsx(problem_to_xlsx(problem)) == problem


def _edited(problem: Problem, edit: Any) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(problem_to_xlsx(problem)))
    edit(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _errors(data: bytes) -> dict[str, str]:
    with pytest.raises(WorkbookInvalid) as caught:
        problem_from_xlsx(data)
    return {e.cell: e.message for e in caught.value.errors}


def test_an_fte_above_one_is_reported_at_its_staff_cell():
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["E14"] = 1.4

    errors = _errors(_edited(problem, edit))
    assert list(errors) == ["Staff!E14"]
    assert errors["Staff!E14"] == "fte must be in (0, 1], got 1.4"
    with pytest.raises(WorkbookInvalid, match=r"^Staff!E14: fte must be in \(0, 1\], got 1.4$"):
        problem_from_xlsx(_edited(problem, edit))


def test_every_mistyped_cell_is_reported_at_once_each_at_its_cell():
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["F4"] = "lots"
        wb["Trials"]["F5"] = "1e6"
        wb["Trials"]["G3"] = "yes"

    errors = _errors(_edited(problem, edit))
    assert errors == {
        "Staff!F4": 'monthly_cost: Input should be a valid number, got "lots"',
        "Trials!F5": 'value: Input should be a valid number, got "1e6"',
        "Trials!G3": 'mandatory: Input should be a valid boolean (true or false), got "yes"',
    }


def test_every_rule_broken_is_reported_at_once_each_at_its_cell():
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        stages = wb["Stages"]
        column = stages.max_column + 1
        stages.cell(1, column, "XYZ FTE")
        stages.cell(4, column, 2.0)
        wb["Predecessors"].append(["T02", "T99", 1])

    data = _edited(problem, edit)
    errors = _errors(data)
    column = openpyxl.utils.get_column_letter(openpyxl.load_workbook(io.BytesIO(data))["Stages"].max_column)
    assert errors[f"Stages!{column}4"].startswith("unknown role 'XYZ'")
    assert errors["Predecessors!B3"].startswith("unknown trial 'T99'")
    assert len(errors) == 2


def test_rows_pointing_at_missing_trials_and_unknown_columns_are_errors_at_their_cells():
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Options"].append(["T77", "std", None, 0])
        wb["Staff"].cell(1, 20, "salary")

    errors = _errors(_edited(problem, edit))
    assert errors["Options!A" + str(2 + sum(len(t.options) for t in problem.trials) + 1)] == "trial 'T77' is not on the Trials sheet"
    assert errors["Staff!T1"].startswith("unknown column 'salary'")


def test_a_month_excel_turned_into_a_date_reads_as_that_month():
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Trials"]["J3"] = dt.datetime(2027, 11, 1)

    assert problem_from_xlsx(_edited(problem, edit)).trials[0].deadline == "2027-11"


def test_a_file_that_is_not_a_workbook_is_refused_in_words():
    errors = _errors(b"id,fte\nana,1\n")
    assert list(errors) == ["workbook"] and "not an Excel workbook" in errors["workbook"]


def test_a_workbook_that_would_unpack_beyond_the_limit_is_refused_before_it_is_unpacked():
    """A zip bomb: 300 MiB of zeros in a sheet, well under a megabyte on the wire."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(300):
                sheet.write(bytes(2**20))
    assert len(bomb.getvalue()) < 2**20
    errors = _errors(bomb.getvalue())
    assert errors == {"workbook": "unpacks to 300 MiB, above the 256 MiB a problem workbook may hold"}


def test_the_template_names_every_field_with_help_and_checks_typed_cells():
    data = problem_template()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert {"Problem", "Staff", "Services", "ServiceCapacity", "Flex", "Trials", "Predecessors", "RequiredSkills",
            "Options", "Stages", "Budget", "TrialPins", "AssignmentPins"} <= set(wb.sheetnames)
    staff = wb["Staff"]
    assert [c.value for c in staff[1]] == list(contract.Staff.model_fields)
    assert all(c.value for c in staff[2][4:6]), "fte and monthly_cost carry help text"
    rules = {str(rule.sqref): rule for rule in staff.data_validations.dataValidation}
    assert rules["E3:E5000"].type == "decimal" and rules["G3:G5000"].formula1 == '"cro,sponsor"'
    assert "CRA FTE" in [c.value for c in wb["Stages"][1]]
    empty = problem_from_xlsx(data)
    assert empty.trials == [] and empty.staff == [] and empty.horizon.start == "2027-01"


def test_a_template_filled_in_by_a_planner_reads_as_a_problem_that_solves():
    wb = openpyxl.load_workbook(io.BytesIO(problem_template()))
    problem_sheet = wb["Problem"]
    for row in problem_sheet.iter_rows(min_row=3):
        if row[0].value == "horizon.months":
            row[1].value = 6
        if row[0].value == "roles":
            row[1].value = "CRA"
        if row[0].value == "settings.time_limit":
            row[1].value = 10
    wb["Staff"].append(["ana", None, "CRA", None, 1, 10000])
    wb["Trials"].append(["T1", None, "II", None, None, 500000, True])
    wb["Options"].append(["T1", "std", None, 0])
    stages = wb["Stages"]
    headers = [c.value for c in stages[1]]
    row = [None] * len(headers)
    row[:4] = ["T1", "std", "run", 3]
    row[headers.index("CRA FTE")] = 0.5
    stages.append(row)
    out = io.BytesIO()
    wb.save(out)
    problem = problem_from_xlsx(out.getvalue())
    plan = solve_checked(problem)
    assert plan.trials[0].run and plan.trials[0].coverage.named == pytest.approx(1.5)


def test_the_plan_workbook_has_a_sheet_per_table_with_a_row_per_item():
    problem = parse_problem(SMALL.read_bytes())
    problem.settings.time_limit = 10
    plan = solve_checked(problem)
    wb = openpyxl.load_workbook(io.BytesIO(plan_to_xlsx(plan)))
    assert wb.sheetnames == ["Summary", "Trials", "Assignments", "RoleMonths", "Services", "Budget", "Explanations", "Relaxations"]
    assert "People" in openpyxl.load_workbook(io.BytesIO(plan_to_xlsx(plan, problem))).sheetnames, "with the problem only"
    counts = {
        "Trials": len(plan.trials),
        "Assignments": len(plan.assignments),
        "RoleMonths": len(plan.role_months),
        "Services": len(plan.service_months),
        "Budget": len(plan.budget.per_year),
        "Explanations": len(plan.explanations),
    }
    assert {name: wb[name].max_row - 1 for name in counts} == counts
    summary = {row[0].value: row[1].value for row in wb["Summary"].iter_rows(min_row=2)}
    assert summary["status"] == plan.status and summary["objective"] == pytest.approx(plan.objective)
    assert summary["total_cost"] == pytest.approx(plan.kpis.total_cost)
    first = plan.assignments[0]
    assert [c.value for c in wb["Assignments"][2]] == [
        first.staff, None, first.trial, None, first.role, first.start, first.end, pytest.approx(first.fte)
    ]


def test_the_plan_workbook_of_an_infeasible_problem_lists_what_would_make_it_feasible():
    plan = solve_checked(
        base_problem(trials=[{"id": "T1", "mandatory": True, "options": [{"id": "s", "stages": [{"months": 3, "demand": {"CRA": 5}}]}]}])
    )
    assert plan.status == "infeasible" and plan.relaxations
    rows = [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(plan_to_xlsx(plan)))["Relaxations"].iter_rows(min_row=2)]
    assert [row[:3] for row in rows] == [[r.kind, r.summary, r.verified] for r in plan.relaxations]
    for row, relaxation in zip(rows, plan.relaxations):
        extra = sum(x.fte for x in relaxation.extra_fte)
        assert row[3] == pytest.approx(sum(relaxation.budget_per_year.values()) + relaxation.budget_total)
        assert row[5] == pytest.approx(extra) and (row[6] is None) == (extra == 0)


def test_the_csv_export_is_the_trials_table_one_row_per_trial():
    problem = parse_problem(SMALL.read_bytes())
    problem.settings.time_limit = 10
    plan = solve_checked(problem)
    rows = list(csv.DictReader(io.StringIO(plan_trials_csv(plan))))
    assert [r["trial"] for r in rows] == [t.id for t in plan.trials]
    for row, trial in zip(rows, plan.trials):
        assert row["run"] == str(trial.run) and row["option"] == (trial.option or "")
        assert float(row["cost"]) == pytest.approx(trial.cost)



def test_pace_template_import_xlsx_and_export_round_trip_through_files(tmp_path):
    runner = CliRunner()
    workbook = tmp_path / "problem.xlsx"
    result = runner.invoke(cli, ["template", "--from", str(SMALL), "-o", str(workbook)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["import-xlsx", str(workbook), "-o", str(tmp_path / "problem.json")])
    assert result.exit_code == 0, result.output
    problem = parse_problem((tmp_path / "problem.json").read_bytes())
    assert problem == parse_problem(SMALL.read_bytes())
    assert runner.invoke(cli, ["template", "-o", str(tmp_path / "empty.xlsx")]).exit_code == 0
    assert problem_from_xlsx((tmp_path / "empty.xlsx").read_bytes()).trials == []

    problem.settings.time_limit = 10
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(solve_checked(problem).model_dump_json())
    assert runner.invoke(cli, ["export", str(plan_file), "-o", str(tmp_path / "plan.xlsx")]).exit_code == 0
    assert openpyxl.load_workbook(tmp_path / "plan.xlsx").sheetnames[0] == "Summary"
    assert runner.invoke(cli, ["export", str(plan_file), "-o", str(tmp_path / "plan.csv")]).exit_code == 0
    assert (tmp_path / "plan.csv").read_text().startswith("trial,run,option,start,end")
    assert runner.invoke(cli, ["export", str(plan_file), "--format", "pdf"]).exit_code == 2


def test_pace_import_xlsx_lists_each_error_at_its_cell_and_exits_2(tmp_path):
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["E14"] = 1.4

    workbook = tmp_path / "bad.xlsx"
    workbook.write_bytes(_edited(problem, edit))
    result = CliRunner().invoke(cli, ["import-xlsx", str(workbook)])
    assert result.exit_code == 2
    assert "Staff!E14: fte must be in (0, 1], got 1.4" in result.output and "Traceback" not in result.output


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with client_for(settings_for(f"sqlite:///{tmp_path_factory.mktemp('xlsx') / 'pace.db'}")) as c:
        yield c


def test_a_workbook_posted_to_the_service_comes_back_as_the_problem_json(client: TestClient):
    problem = parse_problem(SMALL.read_bytes())
    response = client.post("/v1/problems:import", content=problem_to_xlsx(problem), headers={"content-type": XLSX_MEDIA_TYPE})
    assert response.status_code == 200, response.text
    assert parse_problem(response.content) == problem


def test_an_invalid_workbook_posted_is_422_with_each_error_at_its_cell(client: TestClient):
    problem = parse_problem(SMALL.read_bytes())

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["E14"] = 1.4

    response = client.post("/v1/problems:import", content=_edited(problem, edit), headers={"content-type": XLSX_MEDIA_TYPE})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"path": "Staff!E14", "message": "fte must be in (0, 1], got 1.4"}]
    garbage = client.post("/v1/problems:import", content=b"not a workbook", headers={"content-type": XLSX_MEDIA_TYPE})
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["path"] == "workbook"
    as_json = client.post("/v1/problems:import", content=b"{}", headers={"content-type": "application/json"})
    assert as_json.status_code == 415


def test_a_horizon_start_that_is_not_a_month_is_an_error_not_a_crash():
    problem = parse_problem(SMALL.read_bytes())
    assert any(isinstance(s.capacity, list) for s in problem.services), "the per-month capacities need the start"

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Problem"]["B4"] = 202701

    errors = _errors(_edited(problem, edit))
    assert any(cell.startswith("ServiceCapacity!B") and "not a month of the horizon" in m for cell, m in errors.items())
    wb = openpyxl.load_workbook(io.BytesIO(problem_to_xlsx(problem)))
    assert wb["Problem"]["A4"].value == "horizon.start"


_SMALL_WORKBOOK = problem_to_xlsx(parse_problem(SMALL.read_bytes()))
_CELL_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**6, 10**13),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["2027-13", "T99", "CRA, ,DM", "=1+1", "#DIV/0!", "1e6"]),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 25), st.integers(1, 20), _CELL_VALUES), min_size=1, max_size=4))
def test_whatever_a_planner_types_into_any_cell_reads_as_a_problem_or_errors_at_cells(edits: list[tuple[int, int, int, Any]]):
    wb = openpyxl.load_workbook(io.BytesIO(_SMALL_WORKBOOK))
    for sheet, row, column, value in edits:
        text = value if not isinstance(value, str) else "".join(c for c in value if c.isprintable())
        wb.worksheets[sheet % len(wb.worksheets)].cell(row, column).value = text
    out = io.BytesIO()
    wb.save(out)
    try:
        problem_from_xlsx(out.getvalue())
    except WorkbookInvalid as exc:
        assert exc.errors and all(re.fullmatch(r"(workbook|[A-Za-z]+![A-Z]+[0-9]+)", e.cell) for e in exc.errors), exc.errors

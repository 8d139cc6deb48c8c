"""The plan workbook as planners read it (number formats, names beside ids, the People sheet) and
the problem workbook's errors: every one at once, each at its cell with its field."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from app.cli import cli
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.tools.xlsx import plan_to_xlsx, problem_from_xlsx
from tests.conftest import ROOT, solve_checked
from tests.test_xlsx import _edited as edited
from tests.test_xlsx import _errors

SMALL = ROOT / "data" / "example-small.json"


@pytest.fixture(scope="module")
def small() -> tuple[Problem, Plan]:
    problem = parse_problem(SMALL.read_bytes())
    problem.settings.time_limit = 10
    return problem, solve_checked(problem)


def _sheet(data: bytes, title: str) -> list[dict[str, openpyxl.cell.cell.Cell]]:
    """The sheet's data rows, each cell by its header."""
    ws = openpyxl.load_workbook(io.BytesIO(data))[title]
    header = [c.value for c in ws[1]]
    return [dict(zip(header, row)) for row in ws.iter_rows(min_row=2)]


def test_money_shares_and_fte_carry_number_formats_and_trials_their_names_and_phases(small):
    problem, plan = small
    data = plan_to_xlsx(plan, problem)
    trials = _sheet(data, "Trials")
    for row, trial in zip(trials, problem.trials):
        assert (row["trial"].value, row["name"].value, row["phase"].value) == (trial.id, trial.name, trial.phase)
        assert row["cost"].number_format == "#,##0" and row["value"].number_format == "#,##0"
        assert row["named_fte_months"].number_format == "0.00"
    roles = _sheet(data, "RoleMonths")
    assert {r["utilisation"].number_format for r in roles} == {"0.0%"}
    assert {r["capacity_secondary"].number_format for r in roles} == {"0.00"}
    assert {r["spare"].number_format for r in roles} == {"0.00"}
    assignments = _sheet(data, "Assignments")
    first = plan.assignments[0]
    assert [c.value for c in assignments[0].values()][:5] == [
        first.staff, None, first.trial, next(t.name for t in problem.trials if t.id == first.trial), first.role
    ]
    assert assignments[0]["fte"].number_format == "0.00" and assignments[0]["fte"].value == first.fte, "the cell keeps every digit"
    summary = {row["field"].value: row["value"] for row in _sheet(data, "Summary")}
    assert summary["mean_utilisation"].number_format == "0.0%" and summary["mean_utilisation"].value == plan.kpis.mean_utilisation
    assert summary["total_cost"].number_format == "#,##0" and summary["gap"].number_format == "0.0%"
    assert summary["status"].number_format == "General"


def test_the_role_months_sheet_splits_capacity_and_work_by_primary_and_secondary_role(small):
    problem, plan = small
    rows = _sheet(plan_to_xlsx(plan, problem), "RoleMonths")
    assert len(rows) == len(plan.role_months)
    for row, rm in zip(rows, plan.role_months):
        values = {k: c.value for k, c in row.items()}
        assert values["capacity_primary"] + values["capacity_secondary"] == pytest.approx(values["capacity"])
        assert (values["assigned_secondary"], values["spare"], values["utilisation"]) == (rm.assigned_secondary, rm.spare, rm.utilisation)
    assert any(r["capacity_secondary"].value for r in rows), "CTM-001 and the CTAs hold CRA as a secondary role"


def test_the_people_sheet_gives_each_person_and_month_fte_available_assigned_and_trials(small):
    problem, plan = small
    rows = _sheet(plan_to_xlsx(plan, problem), "People")
    assert len(rows) == len(problem.staff) * problem.horizon.months
    staff = {s.id: s for s in problem.staff}
    for row in rows:
        v = {k: c.value for k, c in row.items()}
        person, month = staff[v["staff"]], v["month"]
        blocks = [a for a in plan.assignments if a.staff == person.id and a.start <= month <= a.end]
        off = month in person.leave or not (person.available_from or month) <= month <= (person.available_to or month)
        assert v["available"] == (0.0 if off else person.fte)
        assert v["assigned"] == pytest.approx(sum(a.fte for a in blocks), abs=1e-6)
        assert v["trials"] == (", ".join(sorted({a.trial for a in blocks})) or None)
        assert v["utilisation"] == pytest.approx(v["assigned"] / v["available"] if v["available"] else 0.0, abs=1e-6)
        assert (v["role"], v["secondary_roles"], v["region"]) == (person.role, ", ".join(person.secondary_roles) or None, person.region)
    ctm = [r for r in rows if r["staff"].value == "CTM-001"]
    assert ctm[0]["available"].value == 0.0, "CTM-001 is available from 2027-05"
    assert rows[0]["utilisation"].number_format == "0.0%"


def test_pace_export_with_the_problem_writes_names_and_the_people_sheet(small, tmp_path: Path):
    problem, plan = small
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    (tmp_path / "problem.json").write_text(problem.model_dump_json())
    out = tmp_path / "plan.xlsx"
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "plan.json"), "-p", str(tmp_path / "problem.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[-1] == "People" and wb["Trials"]["B2"].value == problem.trials[0].name


# --- the problem workbook's errors -----------------------------------------------------


def _edited(edit: Callable[[openpyxl.Workbook], None]) -> bytes:
    """The small example's problem workbook after ``edit``."""
    return edited(parse_problem(SMALL.read_bytes()), edit)


def test_a_blank_required_cell_is_named_at_its_cell_with_its_field():
    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["F3"] = None

    assert _errors(_edited(edit)) == {"Staff!F3": "monthly_cost: a value is required (the cell is blank or the column is missing)"}


def test_a_formula_without_a_saved_value_is_named_not_read_as_blank():
    def edit(wb: openpyxl.Workbook) -> None:
        wb["Staff"]["F5"] = "=E5*9000"

    errors = _errors(_edited(edit))
    assert list(errors) == ["Staff!F5"]
    assert errors["Staff!F5"].startswith("monthly_cost: the formula =E5*9000 has no saved value")


def test_a_formula_with_its_saved_value_reads_as_that_value():
    """Excel saves each formula's result beside it: only a formula without one is an error."""
    data = _edited(lambda wb: None)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    staff = parts["xl/worksheets/sheet2.xml"]
    assert b'<c r="F5" t="n"><v>11080</v></c>' in staff
    parts["xl/worksheets/sheet2.xml"] = staff.replace(b'<c r="F5" t="n"><v>11080</v></c>', b'<c r="F5"><f>E5*11080</f><v>11080</v></c>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    assert openpyxl.load_workbook(io.BytesIO(out.getvalue()))["Staff"]["F5"].value == "=E5*11080"
    assert problem_from_xlsx(out.getvalue()) == parse_problem(SMALL.read_bytes())


def test_structure_value_and_rule_errors_are_reported_all_at_once():
    def edit(wb: openpyxl.Workbook) -> None:
        wb.create_sheet("Notes")
        wb["Staff"]["F4"] = "lots"
        wb["Staff"]["F6"] = None
        wb["Staff"]["E14"] = 1.4
        wb["Predecessors"].append(["T02", "T99", 1])

    errors = _errors(_edited(edit))
    assert errors["Notes!A1"].startswith("unknown sheet 'Notes'")
    assert errors["Staff!F4"] == 'monthly_cost: Input should be a valid number, got "lots"'
    assert errors["Staff!F6"].startswith("monthly_cost: a value is required")
    assert errors["Staff!E14"] == "fte must be in (0, 1], got 1.4"
    assert errors["Predecessors!B3"].startswith("unknown trial 'T99'")
    assert len(errors) == 5


def test_rules_about_a_cell_already_in_error_are_not_reported_twice():
    """A blank trial id stands in for a neutral one so the rest is checked; no rule speaks of the stand-in."""

    def edit(wb: openpyxl.Workbook) -> None:
        wb["Trials"]["F3"] = "much"
        wb["Staff"]["C3"] = None

    errors = _errors(_edited(edit))
    assert set(errors) == {"Trials!F3", "Staff!C3"}
    assert errors["Staff!C3"].startswith("role: a value is required")

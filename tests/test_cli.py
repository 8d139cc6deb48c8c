"""The `pace` command line: exit codes and messages scripts depend on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import (
    EXIT_INFEASIBLE,
    EXIT_INVALID,
    EXIT_UNAVAILABLE,
    EXIT_VIOLATIONS,
    cli,
)
from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.validation import parse_problem
from tests.conftest import PSPLIB, base_problem
from tests.service import free_port

runner = CliRunner()


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_solve_writes_a_plan_the_checker_accepts_and_exits_zero(tmp_path):
    problem = _write(tmp_path, "p.json", base_problem())
    out = tmp_path / "plan.json"
    result = runner.invoke(cli, ["solve", str(problem), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert plan.status == "optimal"
    assert check_plan(parse_problem(problem.read_text()), plan) == []


def test_solve_of_invalid_input_exits_2_naming_the_field(tmp_path):
    bad = base_problem()
    bad["trials"][0]["options"][0]["stages"][0]["demand"] = {"CRX": 1.0}
    result = runner.invoke(cli, ["solve", str(_write(tmp_path, "bad.json", bad))])
    assert result.exit_code == EXIT_INVALID
    assert "trials[0].options[0].stages[0].demand.CRX" in result.output
    assert "Traceback" not in result.output


def test_solve_of_infeasible_problem_exits_3(tmp_path):
    problem = base_problem(trials=[{"id": "T1", "mandatory": True, "options": [{"id": "s", "stages": [{"months": 3, "demand": {"CRA": 5}}]}]}])
    out = tmp_path / "plan.json"
    result = runner.invoke(cli, ["solve", str(_write(tmp_path, "p.json", problem)), "-o", str(out)])
    assert result.exit_code == EXIT_INFEASIBLE
    plan = Plan.model_validate_json(out.read_text())
    assert plan.status == "infeasible"
    assert check_plan(parse_problem(json.dumps(problem)), plan) == []


def test_validate_accepts_a_good_problem_and_rejects_a_bad_one(tmp_path):
    assert runner.invoke(cli, ["validate", str(_write(tmp_path, "ok.json", base_problem()))]).exit_code == 0
    bad = base_problem(horizon={"start": "2027-13", "months": 12})
    result = runner.invoke(cli, ["validate", str(_write(tmp_path, "bad.json", bad))])
    assert result.exit_code == EXIT_INVALID
    assert "horizon.start" in result.output


def test_check_flags_a_hand_edited_plan(tmp_path):
    problem = _write(tmp_path, "p.json", base_problem())
    out = tmp_path / "plan.json"
    assert runner.invoke(cli, ["solve", str(problem), "-o", str(out)]).exit_code == 0
    assert runner.invoke(cli, ["check", str(problem), str(out)]).exit_code == 0
    plan = json.loads(out.read_text())
    plan["assignments"][0]["fte"] = 2.0
    out.write_text(json.dumps(plan))
    result = runner.invoke(cli, ["check", str(problem), str(out)])
    assert result.exit_code == EXIT_VIOLATIONS
    assert "staff_capacity" in result.output


def test_generate_writes_a_valid_problem_of_the_requested_size(tmp_path):
    out = tmp_path / "gen.json"
    result = runner.invoke(cli, ["generate", "--staff", "60", "--trials", "5", "--months", "24", "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    problem = parse_problem(out.read_text())
    assert (len(problem.staff), len(problem.trials), problem.horizon.months) == (60, 5, 24)


def test_import_psplib_maps_an_instance_to_a_makespan_problem(tmp_path):
    out = tmp_path / "j301_1.json"
    result = runner.invoke(cli, ["import-psplib", str(PSPLIB / "j30" / "j301_1.sm"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    problem = parse_problem(out.read_text())
    assert problem.objective.kind == "makespan"
    assert len(problem.trials) == 30


def test_solve_rejects_a_time_limit_or_gap_out_of_range(tmp_path):
    problem = str(_write(tmp_path, "p.json", base_problem()))
    result = runner.invoke(cli, ["solve", problem, "--time-limit", "-5"])
    assert result.exit_code == EXIT_INVALID
    assert "--time-limit" in result.output
    assert runner.invoke(cli, ["solve", problem, "--gap", "7"]).exit_code == EXIT_INVALID
    result = runner.invoke(cli, ["solve", problem, "--budget-step", "0"])
    assert result.exit_code == EXIT_INVALID
    assert "--budget-step" in result.output


def test_solve_with_a_budget_step_says_what_more_budget_bought(tmp_path):
    problem = base_problem(budget={"per_year": {"2027": 100_000}})
    path = _write(tmp_path, "p.json", problem)
    out = tmp_path / "plan.json"
    result = runner.invoke(cli, ["solve", str(path), "--budget-step", "0.2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text())
    assert check_plan(parse_problem(problem), plan) == []
    year = plan.budget.per_year[0]
    assert (year.year, year.extra_budget, year.objective_gain) == ("2027", 20_000, 0.0)


def test_check_says_plainly_when_the_second_file_is_not_a_plan(tmp_path):
    problem = str(_write(tmp_path, "p.json", base_problem()))
    result = runner.invoke(cli, ["check", problem, problem])
    assert result.exit_code == EXIT_INVALID
    assert "not a plan" in result.output and "status: Field required" in result.output
    assert "[red]" not in result.output


def test_import_psplib_of_a_missing_file_exits_2_with_a_plain_message(tmp_path):
    missing = tmp_path / "missing.sm"
    result = runner.invoke(cli, ["import-psplib", str(missing)])
    assert result.exit_code == EXIT_INVALID
    assert str(missing) in result.output
    assert "[red]" not in result.output


PACE = str(Path(sys.executable).with_name("pace"))


def test_solve_piped_to_a_file_writes_nothing_but_the_plan(tmp_path):
    """Issue 20: `pace solve P.json > plan.json` had HiGHS's banner ahead of the plan."""
    problem = _write(tmp_path, "p.json", base_problem(settings={"time_limit": 10}))
    result = subprocess.run([PACE, "solve", str(problem)], capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    plan = Plan.model_validate_json(result.stdout)
    assert check_plan(parse_problem(problem.read_text()), plan) == []
    assert b"HiGHS" in result.stderr, "the solver's banner still shows, on standard error"


@pytest.mark.parametrize("staff", [5, 8])
def test_generate_with_fewer_staff_than_roles_exits_2_naming_the_option(tmp_path, staff):
    """Issue 20: `pace generate --staff 5` ended in a Python traceback."""
    result = subprocess.run([PACE, "generate", "--staff", str(staff)], capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == EXIT_INVALID
    assert result.stdout == b""
    assert result.stderr.decode().strip() == f"--staff: staff must be at least 11 (one person per role), got {staff}"


def _one_line(result) -> str:
    """The command's whole message, which must be a single line (no traceback, no solve report)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_solve_refuses_a_directory_as_output_before_solving(tmp_path):
    """Issue 28: `pace solve P.json -o out/` solved, then lost the plan in a traceback."""
    problem = _write(tmp_path, "p.json", base_problem())
    result = subprocess.run([PACE, "solve", str(problem), "-o", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == EXIT_INVALID
    assert result.stdout == ""
    assert result.stderr.strip() == f"-o {tmp_path}: is a directory; give the file to write, e.g. {tmp_path / 'plan.json'}"


def _outputs(tmp_path: Path) -> dict[str, list[str]]:
    """Every command that writes a file, with valid inputs and ``{out}`` where its output goes."""
    problem = _write(tmp_path, "p.json", base_problem())
    plan = tmp_path / "plan.json"
    assert runner.invoke(cli, ["solve", str(problem), "-o", str(plan)]).exit_code == 0
    check_plan(parse_problem(problem.read_text()), Plan.model_validate_json(plan.read_text()))
    changes = _write(tmp_path, "changes.json", {"frozen_until": "2027-02", "events": []})
    workbook = tmp_path / "p.xlsx"
    assert runner.invoke(cli, ["template", "--from", str(problem), "-o", str(workbook)]).exit_code == 0
    return {
        "solve": ["solve", str(problem), "-o", "{out}"],
        "replan": ["replan", str(problem), str(plan), str(changes), "-o", "{out}"],
        "replan --problem-out": ["replan", str(problem), str(plan), str(changes), "--problem-out", "{out}"],
        "generate": ["generate", "--staff", "20", "--trials", "2", "-o", "{out}"],
        "import-psplib": ["import-psplib", str(PSPLIB / "j30" / "j301_1.sm"), "-o", "{out}"],
        "report": ["report", str(plan), "-o", "{out}"],
        "export": ["export", str(plan), "--format", "csv", "-o", "{out}"],
        "template": ["template", "-o", "{out}"],
        "import-xlsx": ["import-xlsx", str(workbook), "-o", "{out}"],
    }


def test_every_command_refuses_an_output_it_could_not_write_in_one_line(tmp_path):
    """A directory, or a file in a directory that does not exist: exit 2 before any work, one line."""
    missing = tmp_path / "no-such-dir" / "out.json"
    for name, args in _outputs(tmp_path).items():
        option = args[-2]
        for out, why in ((tmp_path, "is a directory; give the file to write"), (missing, f"its directory {missing.parent} does not exist")):
            result = runner.invoke(cli, [arg.replace("{out}", str(out)) for arg in args])
            assert result.exit_code == EXIT_INVALID, (name, result.output)
            assert _one_line(result).startswith(f"{option} {out}: {why}"), (name, result.output)
    assert not missing.parent.exists()


def test_batch_refuses_a_file_as_its_output_directory_before_solving(tmp_path):
    problem = _write(tmp_path, "p.json", base_problem())
    result = runner.invoke(cli, ["batch", str(problem), "-o", str(problem), "--no-progress"])
    assert result.exit_code == EXIT_INVALID
    assert _one_line(result) == f"-o {problem}: is a file; give a directory for the plans and summaries"
    nested = tmp_path / "no-such-dir" / "out"
    result = runner.invoke(cli, ["batch", str(problem), "-o", str(nested), "--no-progress"])
    assert result.exit_code == EXIT_INVALID
    assert _one_line(result) == f"-o {nested}: its directory {nested.parent} does not exist; create it first"


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("mysql://pace@localhost/pace", EXIT_INVALID, "pace serve: PACE_DATABASE_URL: mysql is not supported; give sqlite:///FILE or postgresql+psycopg://"),
        ("not a url", EXIT_INVALID, "pace serve: PACE_DATABASE_URL: not a database URL; give sqlite:///FILE or postgresql+psycopg://"),
        ("postgresql+psycopg://pace:secret@127.0.0.1:{dead}/pace", EXIT_UNAVAILABLE, "pace serve: database postgresql+psycopg://pace:***@127.0.0.1:{dead}/pace does not answer: connection failed"),
    ],
)
def test_serve_says_in_one_line_which_database_it_cannot_use(url, code, message, monkeypatch):
    """Issue 28: an unsupported database URL gave 92 lines of traceback, PostgreSQL down 162."""
    dead = free_port()
    monkeypatch.setenv("PACE_DATABASE_URL", url.format(dead=dead))
    result = runner.invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == code
    line = _one_line(result)
    assert line.startswith(message.format(dead=dead)), line
    assert "secret" not in line


def test_import_xlsx_says_what_it_wrote_like_template(tmp_path):
    workbook, problem = tmp_path / "p.xlsx", tmp_path / "p.json"
    source = _write(tmp_path, "source.json", base_problem())
    result = runner.invoke(cli, ["template", "--from", str(source), "-o", str(workbook)])
    assert _one_line(result).startswith(f"wrote {workbook}")
    result = runner.invoke(cli, ["import-xlsx", str(workbook), "-o", str(problem)])
    assert result.exit_code == 0, result.output
    assert _one_line(result) == f"wrote {problem} (2 staff, 1 trials, 12 months); solve it: pace solve {problem} -o plan.json"
    assert parse_problem(problem.read_text()) == parse_problem(source.read_text())


def test_check_reads_a_plan_behind_a_byte_order_mark_and_refuses_a_repeated_key(tmp_path):
    problem = base_problem()
    problem_path = _write(tmp_path, "p.json", problem)
    plan_path = tmp_path / "plan.json"
    assert runner.invoke(cli, ["solve", str(problem_path), "-o", str(plan_path)]).exit_code == 0
    text = plan_path.read_text()
    plan_path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = runner.invoke(cli, ["check", str(problem_path), str(plan_path)])
    assert result.exit_code == 0, result.output
    plan_path.write_text(text.replace('"status":', '"status": "optimal", "status":', 1))
    result = runner.invoke(cli, ["check", str(problem_path), str(plan_path)])
    assert result.exit_code == EXIT_INVALID
    assert "not a plan" in result.output and "status" in result.output

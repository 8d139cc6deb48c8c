"""What planners read and edit: `pace report`, `export`, `template`, `import-xlsx` and `diff`.

Planners live in spreadsheets and read plans as pictures, so these commands turn a
plan into an HTML report, a workbook or CSV, compare two plans, and move problems
between JSON and an Excel workbook (see ``docs/reports.md``). Exit codes follow
``pace``'s: 0 done, 2 unusable input (an unreadable file, a workbook that is not a valid
problem: each error printed at its cell, ``Staff!E14: ...``; two plans of different
portfolios given to ``diff``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

from app.cli_output import check_output_file, write_output
from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid, is_month
from models.contract.validation import parse_problem, parse_strict
from models.tools.diff import OtherPortfolio, diff_plans, render_diff
from models.tools.report import render_report
from models.tools.xlsx import WorkbookInvalid, plan_to_xlsx, plan_trials_csv, problem_from_xlsx, problem_template, problem_to_xlsx

EXIT_INVALID = 2

err = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the commands to ``pace``."""
    app.command()(report)
    app.command()(export)
    app.command()(template)
    app.command("import-xlsx")(import_xlsx)
    app.command()(diff)


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        err.print(line, markup=False, highlight=False)
    raise typer.Exit(EXIT_INVALID)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail([f"{path}: {exc.strerror}"])


def _plan(path: Path) -> Plan:
    try:
        return parse_strict(Plan, _read(path))
    except ProblemInvalid as exc:
        _fail(
            [f"{path}: not a plan ({len(exc.errors)} error(s)); is it a problem file?"]
            + [f"  {e.path}: {e.message}" for e in exc.errors[:10]]
        )


def _problem(path: Path) -> Problem:
    try:
        return parse_problem(_read(path))
    except ProblemInvalid as exc:
        _fail([f"{path}: invalid problem ({len(exc.errors)} error(s))"] + [f"  {e.path}: {e.message}" for e in exc.errors])


def report(
    plan: Annotated[Path, typer.Argument(help="Plan JSON file")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the HTML here (default: stdout)")] = None,
    problem: Annotated[
        Optional[Path], typer.Option("-p", "--problem", help="The problem JSON it solves: trial names, deadlines, predecessors")
    ] = None,
) -> None:
    """Write a self-contained HTML report of a plan (Gantt, role heatmap, budget, services, explanations)."""
    check_output_file(output)
    parsed = _plan(plan)
    source = _problem(problem) if problem is not None else None
    write_output(render_report(parsed, source).encode(), output)


def export(
    plan: Annotated[Path, typer.Argument(help="Plan JSON file")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here (default: stdout)")] = None,
    format: Annotated[
        Optional[str], typer.Option("--format", help="xlsx (every table) or csv (the trials table) [default: from -o's suffix, else xlsx]")
    ] = None,
    problem: Annotated[
        Optional[Path], typer.Option("-p", "--problem", help="The problem JSON it solves: names and phases beside ids, the People sheet")
    ] = None,
) -> None:
    """Export a plan as an Excel workbook or the trials table as CSV."""
    check_output_file(output)
    chosen = format or (output.suffix.lstrip(".").lower() if output is not None and output.suffix else "xlsx")
    if chosen not in ("xlsx", "csv"):
        _fail([f"--format: '{chosen}' is not xlsx or csv"])
    parsed = _plan(plan)
    source = _problem(problem) if problem is not None else None
    write_output(plan_to_xlsx(parsed, source) if chosen == "xlsx" else plan_trials_csv(parsed).encode(), output)


def template(
    output: Annotated[Path, typer.Option("-o", "--output", help="The workbook to write")],
    source: Annotated[Optional[Path], typer.Option("--from", help="Fill it with this problem JSON instead of leaving it empty")] = None,
) -> None:
    """Write an XLSX problem template (field names, help, drop-downs), empty or holding a problem."""
    check_output_file(output)
    data = problem_to_xlsx(_problem(source)) if source is not None else problem_template()
    write_output(data, output)
    err.print(f"wrote {output}; fill it in and run: pace import-xlsx {output} -o problem.json", markup=False, highlight=False)


def import_xlsx(
    workbook: Annotated[Path, typer.Argument(help="Problem workbook (.xlsx), e.g. from pace template")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the problem JSON here (default: stdout)")] = None,
) -> None:
    """Read a problem from an XLSX workbook, validated like JSON; every error is named at its cell."""
    check_output_file(output)
    try:
        problem = problem_from_xlsx(_read(workbook))
    except WorkbookInvalid as exc:
        _fail([f"{workbook}: not a valid problem ({len(exc.errors)} error(s))"] + [f"  {e}" for e in exc.errors])
    write_output((problem.model_dump_json(indent=1) + "\n").encode(), output)
    size = f"{len(problem.staff)} staff, {len(problem.trials)} trials, {problem.horizon.months} months"
    written = f"wrote {output} ({size}); solve it: pace solve {output} -o plan.json" if output else f"wrote the problem ({size})"
    err.print(written, markup=False, highlight=False)


def diff(
    old: Annotated[Path, typer.Argument(help="The plan being replaced (JSON)")],
    new: Annotated[Path, typer.Argument(help="The new plan (JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="The comparison as JSON instead of text")] = False,
    since: Annotated[
        Optional[str], typer.Option("--since", help="Count churn from this month YYYY-MM (the freeze); default: the whole horizon")
    ] = None,
) -> None:
    """Compare two plans of one portfolio: churn, trials moved, FTE moved, people reassigned, cost and value per year."""
    if since is not None and not is_month(since):
        _fail([f"--since: '{since}' is not a month YYYY-MM"])
    try:
        change = diff_plans(_plan(old), _plan(new), since)
    except OtherPortfolio as exc:
        _fail([f"{old} and {new}: {exc}"])
    text = change.model_dump_json(indent=1) if as_json else render_diff(change)
    write_output((text + "\n").encode(), None)


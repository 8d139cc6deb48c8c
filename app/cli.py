"""`pace`: the command line for scripts and batch what-if solves.

Exit codes are part of the contract for scripts: 0 solved (a plan with status
optimal or feasible), 2 invalid input (the messages name the field paths, or an option
out of range), 3 infeasible, 4 no plan found within the time limit, 5 a checked plan has
violations, 6 `pace serve` could not listen on its port or reach its database.

Standard output carries only what a command writes (the plan, the generated problem):
while the engine runs, file descriptor 1 points at standard error, so whatever the
solver's C code prints (HiGHS's banner) cannot corrupt ``pace solve P.json > plan.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from app.cli_batch import register as register_batch
from app.cli_output import check_output_file, write_output
from app.cli_reports import register as register_reports
from models.contract.plan import Plan
from models.contract.problem import Problem, ProblemInvalid, Settings, json_path
from models.contract.validation import parse_problem, parse_strict

EXIT_INVALID = 2
EXIT_INFEASIBLE = 3
EXIT_NO_SOLUTION = 4
EXIT_VIOLATIONS = 5
EXIT_UNAVAILABLE = 6

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="PACE Planner: clinical-trial portfolio optimisation.")
err = Console(stderr=True, soft_wrap=True)


def _load(path: Path) -> Problem:
    try:
        return parse_problem(path.read_bytes())
    except ProblemInvalid as exc:
        _invalid(path, "invalid problem", exc)
    except OSError as exc:
        err.print(f"[red]{path}: {exc.strerror}[/red]")
        raise typer.Exit(EXIT_INVALID) from None


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at standard error while the body runs (native code included)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _write(text: str, output: Optional[Path], option: str = "-o") -> None:
    write_output((text + "\n").encode(), output, option)


@cli.command()
def solve(
    problem: Annotated[Path, typer.Argument(help="Problem JSON file")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the plan here (default: stdout)")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Override settings.time_limit (seconds)")] = None,
    gap: Annotated[Optional[float], typer.Option(help="Override settings.mip_gap")] = None,
    budget_step: Annotated[
        Optional[float], typer.Option(help="Set settings.budget_step: estimate what this share more of each year's budget would buy")
    ] = None,
    progress: Annotated[
        Optional[bool], typer.Option("--progress/--no-progress", help="Live incumbent/bound/gap line on stderr (default: on a terminal)")
    ] = None,
) -> None:
    """Solve a problem and write its plan. Ctrl+C stops the solve and keeps the best plan so far."""
    began = time.perf_counter()  # the time limit covers reading the problem and loading the engine too
    check_output_file(output)
    _solve_and_write(_load(problem), output, time_limit, gap, budget_step, progress, began)


@cli.command()
def replan(
    problem: Annotated[Path, typer.Argument(help="The problem the plan was made for (JSON)")],
    plan: Annotated[Path, typer.Argument(help="The plan being replaced (JSON)")],
    changes: Annotated[Path, typer.Argument(help="What happened since: frozen_until and events (JSON)")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the new plan here (default: stdout)")] = None,
    problem_out: Annotated[
        Optional[Path], typer.Option("--problem-out", help="Write the new problem here: next month's PROBLEM")
    ] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Override settings.time_limit (seconds)")] = None,
    gap: Annotated[Optional[float], typer.Option(help="Override settings.mip_gap")] = None,
    progress: Annotated[
        Optional[bool], typer.Option("--progress/--no-progress", help="Live incumbent/bound/gap line on stderr (default: on a terminal)")
    ] = None,
) -> None:
    """Re-plan after a month's events: the plan is the previous plan, frozen until the changes'
    month, and the re-plan changes what the events force (settings.stability)."""
    began = time.perf_counter()
    from models.tools.reforecast import apply_reforecast, parse_reforecast

    check_output_file(output)
    check_output_file(problem_out, "--problem-out")

    base = _load(problem)
    previous = _read_plan(plan)
    try:
        change = parse_reforecast(changes.read_bytes())
        new = apply_reforecast(base, previous, change)
    except ProblemInvalid as exc:
        _invalid(changes, "invalid changes", exc)
    except OSError as exc:
        err.print(f"{changes}: {exc.strerror}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    if problem_out is not None:
        _write(new.model_dump_json(indent=1), problem_out, "--problem-out")
    _solve_and_write(new, output, time_limit, gap, None, progress, began)


def _invalid(path: Path, what: str, exc: ProblemInvalid) -> NoReturn:
    err.print(f"[red]{path}: {what} ({len(exc.errors)} error(s))[/red]")
    for e in exc.errors:
        err.print(f"  {e.path}: {e.message}", markup=False, highlight=False)
    raise typer.Exit(EXIT_INVALID)


def _read_plan(path: Path) -> Plan:
    try:
        return parse_strict(Plan, path.read_bytes())
    except ProblemInvalid as exc:
        err.print(f"{path}: not a plan ({len(exc.errors)} error(s)); is it a problem file?", markup=False, highlight=False)
        for e in exc.errors[:10]:
            err.print(f"  {e.path}: {e.message}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as exc:
        err.print(f"{path}: {exc.strerror}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None


def _solve_and_write(
    prob: Problem,
    output: Optional[Path],
    time_limit: Optional[float],
    gap: Optional[float],
    budget_step: Optional[float],
    progress: Optional[bool],
    began: float,
) -> None:
    """Solve with the command line's overrides, write the plan, say how it went, exit by its status."""
    from app.live import ProgressLine, StopRequest
    from models.pipeline import solve as run_solve

    overrides = {k: v for k, v in {"time_limit": time_limit, "mip_gap": gap, "budget_step": budget_step}.items() if v is not None}
    try:
        prob.settings = Settings.model_validate({**prob.settings.model_dump(), **overrides})
    except ValidationError as exc:
        flags = {"mip_gap": "gap", "time_limit": "time-limit", "budget_step": "budget-step"}
        for e in exc.errors():
            err.print(f"--{flags[str(e['loc'][0])]}: {e['msg']}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    line = ProgressLine() if (progress if progress is not None else err.is_terminal) else None
    try:
        with StopRequest().on_sigint() as stop, _stdout_to_stderr():
            plan = run_solve(prob, progress=line, stop=stop, started=began)
    finally:
        if line is not None:
            line.close()
    _write(plan.model_dump_json(indent=1), output)
    gap_text = f"{plan.gap:.2%}" if plan.gap is not None else "n/a"
    err.print(
        f"{plan.status}: objective {plan.objective}, gap {gap_text}, "
        f"{plan.kpis.trials_run} trials run, {len(plan.assignments)} assignments, {plan.solve_seconds:.1f} s"
        + (f" ({plan.message})" if plan.message else ""),
        markup=False,
        highlight=False,
    )
    if plan.status == "infeasible":
        raise typer.Exit(EXIT_INFEASIBLE)
    if plan.status in ("no_solution", "error"):
        raise typer.Exit(EXIT_NO_SOLUTION)


@cli.command()
def validate(problem: Annotated[Path, typer.Argument(help="Problem JSON file")]) -> None:
    """Validate a problem without solving it."""
    prob = _load(problem)
    err.print(f"valid: {len(prob.staff)} staff, {len(prob.trials)} trials, {prob.horizon.months} months")


@cli.command()
def check(
    problem: Annotated[Path, typer.Argument(help="Problem JSON file")],
    plan: Annotated[Path, typer.Argument(help="Plan JSON file")],
) -> None:
    """Check a plan against a problem with the independent checker."""
    from models.contract.check import check_plan
    from models.contract.identity import portfolio_mismatch, version_note

    prob = _load(problem)
    parsed = _read_plan(plan)
    if (other := portfolio_mismatch(prob, parsed)) is not None:
        err.print(other, style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_VIOLATIONS)
    if (note := version_note(prob, parsed)) is not None:
        err.print(f"note: {note}", markup=False, highlight=False)
    violations = check_plan(prob, parsed)
    for v in violations:
        err.print(f"{v.rule}: {v.message}", markup=False, highlight=False)
    if violations:
        err.print(f"[red]{len(violations)} violation(s)[/red]")
        raise typer.Exit(EXIT_VIOLATIONS)
    err.print("plan is valid")


@cli.command()
def generate(
    staff: Annotated[int, typer.Option(help="Named pool size")] = 500,
    trials: Annotated[int, typer.Option(help="Number of trials")] = 30,
    months: Annotated[int, typer.Option(help="Horizon length")] = 36,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    output: Annotated[Optional[Path], typer.Option("-o", "--output")] = None,
) -> None:
    """Generate a realistic synthetic portfolio problem."""
    from models.tools.generate import generate as make

    check_output_file(output)
    try:
        problem = make(staff=staff, trials=trials, months=months, seed=seed)
    except ValueError as exc:
        option = next((f"--{name}" for name in ("staff", "trials", "months") if str(exc).startswith(name)), "generate")
        err.print(f"{option}: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    _write(problem.model_dump_json(indent=1), output)


@cli.command("import-psplib")
def import_psplib(
    file: Annotated[Path, typer.Argument(help="PSPLIB .sm (single-mode) or .mm (multi-mode) file")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output")] = None,
) -> None:
    """Convert a PSPLIB instance into a problem (objective: makespan); a .mm file's modes become
    options and its nonrenewable resources services with a contract volume."""
    from models.tools.psplib import load_sm
    from models.tools.psplib_mm import load_mm

    check_output_file(output)
    try:
        problem = load_mm(file) if file.suffix.lower() == ".mm" else load_sm(file)
    except (OSError, ValueError) as exc:
        err.print(f"{file}: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    _write(json.dumps(problem.model_dump(mode="json", exclude_defaults=True), indent=1), output)


@cli.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on [default: PACE_HOST or 127.0.0.1]")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port [default: PACE_PORT or 8000]")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Job solves at once [default: PACE_WORKERS or 2]")] = None,
) -> None:
    """Run the REST service (uvicorn); every other setting comes from PACE_* variables."""
    from app.db.store import DatabaseUnreachable, DatabaseUrlInvalid
    from app.main import PortInUse, run_server
    from app.settings import ServiceSettings

    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    try:
        settings = ServiceSettings(**overrides)
    except ValidationError as exc:
        for e in exc.errors():
            err.print(f"{json_path(e['loc'])}: {e['msg']}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        run_server(settings)
    except PortInUse as exc:
        err.print(f"pace serve: {exc}; is another server running there?", markup=False, highlight=False)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    except DatabaseUrlInvalid as exc:
        err.print(f"pace serve: PACE_DATABASE_URL: {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    except DatabaseUnreachable as exc:
        err.print(f"pace serve: database {exc}", markup=False, highlight=False)
        raise typer.Exit(EXIT_UNAVAILABLE) from None


register_batch(cli)
register_reports(cli)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

"""`pace batch`: many problem files, or the scenarios of a scenario file, solved in parallel.

Solves run on a local process pool (``--workers``) or on an existing Dask cluster
(``--scheduler tcp://HOST:PORT``), through the same executor abstraction as
``models.solve_many``. Each plan is written as soon as it ends, so whatever happens
later (a crash, Ctrl+C) the finished ones are kept; the summary is written at the end,
with a row for every scenario: its plan's status, ``invalid`` (with the validation
messages) or ``not run``.

Ctrl+C once: queued scenarios are cancelled and running local solves are asked to stop
(they keep their best plan, as ``pace solve`` does); on a Dask cluster the unfinished
scenarios are cancelled. Ctrl+C twice: the batch stops waiting. Either way the summary of
what finished is written and the exit code is 130. Exit codes otherwise: 0 the batch ran
to its end (each scenario's outcome is in the summary), 2 no usable input (an unreadable
file, an invalid scenario file or base problem, a bad option), 6 the Dask scheduler could
not be reached.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from app.cli_output import check_output_dir
from app.live import StopRequest
from models.contract.plan import Plan
from models.contract.problem import FieldError, ProblemInvalid, Settings
from models.contract.validation import parse_problem
from models.tools.batch import (
    NotStarted,
    SummaryRow,
    compare,
    comparison_table,
    error_plan,
    invalid_row,
    not_run_row,
    submit_all,
    summary_row,
    write_csv,
    write_summary,
)
from models.tools.scenarios import (
    BASE,
    Scenario,
    expand,
    load_scenario_file,
    parse_document,
)

EXIT_INVALID = 2
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)

#: Statuses counted as failed on the progress bar (every other ending has a plan).
_FAILED = ("invalid", "infeasible", "no_solution", "error")


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def batch(
    files: Annotated[list[Path], typer.Argument(help="Problem JSON files, or scenario files (JSON/YAML with a base)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory for the plans and summaries")] = Path("batch-out"),
    workers: Annotated[Optional[int], typer.Option(help="Local solve processes [default: the machine's cores]", min=1)] = None,
    scheduler: Annotated[Optional[str], typer.Option(help="Run on this Dask scheduler instead, e.g. tcp://10.0.0.5:8786")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Override every problem's settings.time_limit (seconds)")] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)")] = None,
    reports: Annotated[bool, typer.Option("--reports", help="Also write each scenario's HTML report (a few MB each)")] = False,
) -> None:
    """Solve many problems or scenarios in parallel; write every plan, summary.csv and (for a
    scenario file) comparison.csv with each scenario's diff against the base."""
    check_output_dir(output)
    scenarios = _scenarios(files)
    if time_limit is not None:
        scenarios = _with_time_limit(scenarios, time_limit)
    output.mkdir(exist_ok=True)
    (output / "plans").mkdir(exist_ok=True)
    files_of = {s.name: f"plans/{i:03d}-{_slug(s.name)}.json" for i, s in enumerate(scenarios)}
    rows: dict[str, SummaryRow] = {s.name: invalid_row(s.name, s.errors) for s in scenarios if not s.valid}
    plans: dict[str, Plan] = {}
    todo = [s for s in scenarios if s.valid]
    executor, stop_running, close = _executor(scheduler, workers)
    bar = Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[finished]} finished, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=not (progress if progress is not None else err.is_terminal),
    )
    interrupted = False
    try:
        with bar, StopRequest().on_sigint() as stop:
            task = bar.add_task("batch", total=len(scenarios), completed=len(rows), finished=0, failed=len(rows))
            futures = submit_all(_solver(), [s.problem for s in todo if s.problem is not None], executor)
            pending = set(futures)
            index = {id(f): i for i, f in enumerate(futures)}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        if future.cancelled():
                            continue
                        name = todo[index[id(future)]].name
                        plan = _result(future)
                        if plan is None:
                            continue
                        plans[name] = plan
                        (output / files_of[name]).write_text(plan.model_dump_json(indent=1) + "\n")
                        rows[name] = summary_row(name, plan)
                    failed = sum(1 for r in rows.values() if r.status in _FAILED)
                    bar.update(task, completed=len(rows), finished=len(rows) - failed, failed=failed)
                    if stop.requested and not interrupted:
                        interrupted = True
                        err.print("stopping: queued scenarios cancelled, running ones keep their best plan (Ctrl+C again to stop waiting)")
                        for future in pending:
                            future.cancel()
                        stop_running()
                        pending = {f for f in pending if not f.cancelled()}
            except KeyboardInterrupt:
                interrupted = True
    finally:
        close()
    summary = [rows.get(s.name) or not_run_row(s.name) for s in scenarios]
    write_summary(summary, output / "summary.csv")
    if scenarios and scenarios[0].name == BASE:
        _write_comparison(scenarios, plans, files_of, output, reports)
    _print_table(summary)
    err.print(f"plans and summary.csv in {output}", markup=False, highlight=False)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _solver() -> Callable[..., Plan]:
    """The engine's solve, imported when a batch runs (the CLI's other commands start faster without it)."""
    from models.pipeline import solve

    return solve


def _result(future: Future[Plan]) -> Plan | None:
    """The plan, an ``error`` plan if the worker was lost, None if the solve never began (stopped first)."""
    try:
        return future.result()
    except NotStarted:
        return None
    except Exception as exc:  # a worker lost (killed, out of memory): this scenario failed, the batch goes on
        return error_plan(exc)


def _scenarios(files: list[Path]) -> list[Scenario]:
    """Every file's scenarios: a scenario file gives its base and scenarios (named ``<file>/<name>``
    when there are several files), a problem file one scenario named after the file."""
    scenarios: list[Scenario] = []
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            _refuse(path, [FieldError(path="$", message=str(exc.strerror))])
        try:
            document = parse_document(raw)
        except ProblemInvalid as exc:
            _refuse(path, exc.errors)
        if isinstance(document, dict) and "base" in document:
            try:
                spec, base = load_scenario_file(path)
                expanded = expand(spec, base)
            except ProblemInvalid as exc:
                _refuse(path, exc.errors)
            prefix = f"{path.stem}/" if len(files) > 1 else ""
            scenarios += [Scenario(prefix + s.name, s.problem, s.errors) for s in expanded]
            continue
        try:
            scenarios.append(Scenario(path.stem, parse_problem(raw)))
        except ProblemInvalid as exc:
            scenarios.append(Scenario(path.stem, None, exc.errors))
    seen: dict[str, int] = {}
    unique = []
    for s in scenarios:
        seen[s.name] = seen.get(s.name, 0) + 1
        unique.append(s if seen[s.name] == 1 else Scenario(f"{s.name} ({seen[s.name]})", s.problem, s.errors))
    return unique


def _refuse(path: Path, errors: list[FieldError]) -> NoReturn:
    err.print(f"[red]{path}: not usable ({len(errors)} error(s))[/red]")
    for e in errors:
        err.print(f"  {e.path}: {e.message}", markup=False, highlight=False)
    raise typer.Exit(EXIT_INVALID)


def _with_time_limit(scenarios: list[Scenario], seconds: float) -> list[Scenario]:
    out = []
    for s in scenarios:
        if s.problem is None:
            out.append(s)
            continue
        try:
            settings = Settings.model_validate({**s.problem.settings.model_dump(), "time_limit": seconds})
        except ValidationError as exc:
            err.print(f"--time-limit: {exc.errors()[0]['msg']}", markup=False, highlight=False)
            raise typer.Exit(EXIT_INVALID) from None
        out.append(Scenario(s.name, s.problem.model_copy(update={"settings": settings})))
    return out


def _executor(scheduler: str | None, workers: int | None) -> tuple[Executor, Callable[[], None], Callable[[], None]]:
    """(executor, ask running solves to stop, close): a local pool, or a Dask client's executor."""
    if scheduler is None:
        from models.tools.batch import LocalPool

        pool = LocalPool(workers or None, [_solver().__module__])
        return pool, pool.stop_running, lambda: pool.shutdown(wait=False, cancel_futures=True)
    from distributed import Client

    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        err.print(f"--scheduler {scheduler}: cannot connect ({exc})", markup=False, highlight=False)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    return client.get_executor(pure=False), lambda: None, client.close


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "scenario"


def _write_comparison(scenarios: list[Scenario], plans: dict[str, Plan], files_of: dict[str, str], output: Path, reports: bool) -> None:
    """comparison.csv and .json: each scenario beside the base, linked to its plan, its diff
    against the base's plan (diffs/, text) and, with ``--reports``, its HTML report (reports/)."""
    from models.tools.diff import diff_plans, render_diff

    links = {name: {"plan": path} for name, path in files_of.items() if name in plans}
    base = plans.get(BASE)
    solved = {name: plan for name, plan in plans.items() if plan.status in ("optimal", "feasible")}
    if base is not None and BASE in solved:
        (output / "diffs").mkdir(exist_ok=True)
        for name, plan in solved.items():
            if name != BASE:
                path = files_of[name].replace("plans/", "diffs/").removesuffix(".json") + ".txt"
                (output / path).write_text(render_diff(diff_plans(base, plan)) + "\n")
                links[name]["diff"] = path
    if reports:
        from models.tools.report import render_report

        (output / "reports").mkdir(exist_ok=True)
        for s in scenarios:
            if s.name in solved:
                path = files_of[s.name].replace("plans/", "reports/").removesuffix(".json") + ".html"
                (output / path).write_text(render_report(solved[s.name], s.problem))
                links[s.name]["report"] = path
    shown: list[tuple[str, Plan | str]] = [(s.name, plans.get(s.name) or ("invalid" if not s.valid else "not run")) for s in scenarios]
    compared = compare(plans.get(BASE), shown, links)
    columns, rows = comparison_table(compared)
    with (output / "comparison.csv").open("w", newline="") as handle:
        write_csv(rows, columns, handle)
    (output / "comparison.json").write_text(json.dumps([asdict(c) for c in compared], indent=1) + "\n")


def _print_table(rows: list[SummaryRow]) -> None:
    table = Table(title="batch summary (summary.csv has every digit)")
    table.add_column("scenario", ratio=1, overflow="fold")
    table.add_column("status", no_wrap=True)
    for column in ("objective", "cost", "run", "late", "util.", "gap", "s"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("why", ratio=2, overflow="fold")
    for r in rows:
        table.add_row(
            r.scenario,
            r.status,
            _money(r.objective),
            _money(r.cost),
            _num(r.trials_run, "{}"),
            _num(r.trials_late, "{}"),
            _num(r.utilisation, "{:.1%}"),
            _num(r.gap, "{:.2%}"),
            _num(r.seconds, "{:.1f}"),
            _why(r),
        )
    out.print(table)


def _why(row: SummaryRow) -> str:
    """Why a scenario has no plan, or no proven one: its message (the validation errors, the
    solve's reason) and, when infeasible, the least change that would make it solvable."""
    if row.status == "optimal":
        return ""
    return "; ".join(part for part in (row.message, row.least_change and f"least change: {row.least_change}") if part)


def _money(value: float | None) -> str:
    """Short enough for a terminal column (summary.csv has every digit): 359.7M, 883.3k."""
    if value is None:
        return ""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.1f}"


def _num(value: Any, pattern: str) -> str:
    return "" if value is None else pattern.format(value)

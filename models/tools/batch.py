"""Many solves at once on any ``concurrent.futures.Executor``, and the tables that compare them.

The executor is the one abstraction (:mod:`models.solver.executor`, shared with the
parallel checks inside one solve): a :class:`LocalPool` (a process pool whose workers
ignore Ctrl+C and stop their solve when asked), a ``distributed.Client`` (its
``get_executor()``; the same solves then run on a Dask cluster), or any executor a
caller brings. A solve runs in the worker as ``solve(problem, stop=...)``; the solve
function is handed in by the caller (``models.solve``, pickled by name), because the
tools sit beside the engine and never import it: :func:`models.solve_many` is this
module's :func:`solve_many` with the engine's solve bound.

A solve that raises, or whose worker dies, becomes a plan with status ``error`` and the
reason in its message: one failed scenario never stops the others.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TextIO

from models.contract.plan import Plan
from models.contract.problem import FieldError, Problem
from models.solver.executor import ExecutorLike, as_executor

#: The engine's entry point as the tools see it: ``solve(problem, stop=callable) -> Plan``.
Solver = Callable[..., Plan]

#: Set in a :class:`LocalPool` solve process: the pool's stop event (Ctrl+C in the parent sets it).
_stop_event: Any = None


class WorkerLost(Exception):
    """A solve's process died (killed, out of memory, a crash in native code) before it answered."""


def _in_child(connection: Any, stop: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A solve process: leaves Ctrl+C to its parent (which stops it through ``stop``), sends
    what the solver's C code prints to /dev/null (the plans are the output) and sends back
    ``fn(*args)`` or the exception it raised."""
    global _stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_event = stop
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        outcome: tuple[bool, Any] = (True, fn(*args))
    except Exception as exc:
        outcome = (False, exc)
    connection.send(outcome)
    connection.close()


class LocalPool(Executor):
    """The default executor: at most ``workers`` solves at once on this machine, each in a
    process of its own, so a solve that dies (out of memory, a crash in native code) fails
    alone with :class:`WorkerLost` and the others go on, unlike a ``ProcessPoolExecutor``,
    which breaks with its first lost worker. Processes come from a forkserver that has
    imported the solve's modules once (a parent with threads is never forked; each solve
    starts in milliseconds). :meth:`stop_running` asks every running solve to stop and return its
    best plan so far."""

    def __init__(self, workers: int | None = None, preload: Sequence[str] = ()) -> None:
        """``preload``: modules the forkserver imports once (the solve function's), if it is not running yet."""
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([__name__, *preload])
        self._stop = self._context.Event()
        self._threads = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="pace-solve")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            raise TypeError("LocalPool passes positional arguments only")
        return self._threads.submit(self._run, fn, args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)

    def stop_running(self) -> None:
        self._stop.set()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_in_child, args=(send, self._stop, fn, args), daemon=True)
        process.start()
        send.close()
        try:
            ok, value = receive.recv()
        except EOFError:
            process.join()
            if self._stop.is_set():  # Ctrl+C reached it before it could ignore it: stopped, not failed
                raise NotStarted("the batch was stopped as this solve began") from None
            raise WorkerLost(f"the solve process died (exit code {process.exitcode})") from None
        finally:
            receive.close()
        process.join()
        if not ok:
            raise value
        return value


class NotStarted(Exception):
    """The pool was asked to stop before this solve began (it had already been handed to a worker)."""


def solve_one(solve: Solver, problem: Problem) -> Plan:
    """Run in a worker: the solve, stopping when the pool asks; an exception becomes an ``error`` plan.

    A solve the pool was asked to stop before it began raises :class:`NotStarted`: a
    task a worker has just taken is no longer cancellable when Ctrl+C comes."""
    if _stop_event is not None and _stop_event.is_set():
        raise NotStarted("the batch was stopped before this solve began")
    stop = _stop_event.is_set if _stop_event is not None else None
    try:
        return solve(problem, stop=stop)
    except Exception as exc:  # a failed solve is reported in its plan, never lost with the batch
        return error_plan(exc)


def error_plan(exc: BaseException) -> Plan:
    return Plan(status="error", message=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def submit_all(solve: Solver, problems: Sequence[Problem], executor: Executor) -> list[Future[Plan]]:
    return [executor.submit(solve_one, solve, problem) for problem in problems]


def finished(futures: Sequence[Future[Plan]]) -> Iterator[tuple[int, Plan]]:
    """(index, plan) as each solve ends, in the order they end; a worker lost becomes an ``error`` plan."""
    index = {id(future): i for i, future in enumerate(futures)}
    for future in as_completed(futures):
        if future.cancelled():
            continue
        try:
            plan = future.result()
        except Exception as exc:
            plan = error_plan(exc)
        yield index[id(future)], plan


def solve_many(solve: Solver, problems: Iterable[Problem], executor: ExecutorLike | None = None) -> list[Plan]:
    """Solve every problem with ``solve`` (the engine's: ``models.solve``) on ``executor``
    (default: a :class:`LocalPool` of this machine's cores, shut down afterwards) and return
    the plans in the problems' order. In a notebook::

        from models import solve_many      # this function with the engine's solve bound
        plans = solve_many(problems, executor=distributed.Client("tcp://scheduler:8786"))
    """
    todo = list(problems)
    if not todo:
        return []
    own = executor is None
    runner = LocalPool(min(len(todo), os.cpu_count() or 1), [solve.__module__]) if executor is None else as_executor(executor)
    try:
        plans: list[Plan | None] = [None] * len(todo)
        for i, plan in finished(submit_all(solve, todo, runner)):
            plans[i] = plan
        return [plan if plan is not None else Plan(status="error", message="cancelled") for plan in plans]
    finally:
        if own:
            runner.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class SummaryRow:
    """One scenario in the summary table. ``status`` is the plan's, or ``invalid`` (the
    problem failed validation) or ``not run`` (the batch was stopped first); ``seconds`` is
    the solve's own wall time."""

    scenario: str
    status: str
    objective: float | None = None
    cost: float | None = None
    trials_run: int | None = None
    trials_late: int | None = None
    utilisation: float | None = None
    gap: float | None = None
    seconds: float | None = None
    message: str = ""
    least_change: str = ""


SUMMARY_COLUMNS = [f.name for f in fields(SummaryRow)]


def least_change(plan: Plan) -> str:
    """What would make an infeasible scenario solvable, in the plan's words: each least change
    the diagnosis found (``relaxations``, one per kind), any one of them enough; "" if none."""
    return "; or ".join(r.summary for r in plan.relaxations)


def summary_row(scenario: str, plan: Plan) -> SummaryRow:
    has_plan = plan.status in ("optimal", "feasible")
    return SummaryRow(
        scenario=scenario,
        status=plan.status,
        objective=plan.objective,
        cost=plan.kpis.total_cost if has_plan else None,
        trials_run=plan.kpis.trials_run if has_plan else None,
        trials_late=sum(1 for t in plan.trials if t.run and t.months_late > 0) if has_plan else None,
        utilisation=plan.kpis.mean_utilisation if has_plan else None,
        gap=plan.gap,
        seconds=plan.solve_seconds,
        message=plan.message,
        least_change=least_change(plan),
    )


def invalid_row(scenario: str, errors: Sequence[FieldError]) -> SummaryRow:
    return SummaryRow(scenario=scenario, status="invalid", message="; ".join(f"{e.path}: {e.message}" for e in errors))


def not_run_row(scenario: str, why: str = "stopped before it ran") -> SummaryRow:
    return SummaryRow(scenario=scenario, status="not run", message=why)


def write_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def write_summary(rows: Sequence[SummaryRow], path: Path) -> None:
    with path.open("w", newline="") as out:
        write_csv([asdict(r) for r in rows], SUMMARY_COLUMNS, out)


@dataclass(frozen=True)
class Compared:
    """A scenario's plan beside the base's: per-year cost, trials run and late, and mean
    FTE per role (named staff plus flex, averaged over the horizon's months); for an
    infeasible one, the least change that would make it solvable."""

    scenario: str
    status: str
    objective: float | None
    objective_change: float | None
    cost_per_year: dict[str, float]
    trials_run: int | None
    trials_late: int | None
    fte_per_role: dict[str, float]
    links: dict[str, str]
    least_change: str = ""


def _fte_per_role(plan: Plan) -> dict[str, float]:
    months = len({rm.month for rm in plan.role_months}) or 1
    totals: dict[str, float] = {}
    for rm in plan.role_months:
        totals[rm.role] = totals.get(rm.role, 0.0) + rm.assigned + rm.flex
    return {role: round(total / months, 6) for role, total in totals.items()}


def compare(base: Plan | None, plans: Sequence[tuple[str, Plan | str]], links: dict[str, dict[str, str]] | None = None) -> list[Compared]:
    """Each (scenario, plan) beside ``base``; a scenario without a plan is given with its
    status instead (``invalid``, ``not run``, ...) and gets empty figures."""
    base_objective = base.objective if base is not None and base.status in ("optimal", "feasible") else None
    out = []
    for name, plan in plans:
        solved = plan if isinstance(plan, Plan) and plan.status in ("optimal", "feasible") else None
        objective = solved.objective if solved is not None else None
        out.append(
            Compared(
                scenario=name,
                status=plan.status if isinstance(plan, Plan) else plan,
                objective=objective,
                objective_change=None if objective is None or base_objective is None else objective - base_objective,
                cost_per_year={y.year: y.spend for y in solved.budget.per_year} if solved is not None else {},
                trials_run=solved.kpis.trials_run if solved is not None else None,
                trials_late=sum(1 for t in solved.trials if t.run and t.months_late > 0) if solved is not None else None,
                fte_per_role=_fte_per_role(solved) if solved is not None else {},
                links=(links or {}).get(name, {}),
                least_change=least_change(plan) if isinstance(plan, Plan) else "",
            )
        )
    return out


def comparison_table(rows: Sequence[Compared]) -> tuple[list[str], list[dict[str, Any]]]:
    """The comparison as flat columns (``cost_<year>``, ``fte_<role>``, one per link kind) and rows."""
    years = sorted({y for r in rows for y in r.cost_per_year})
    roles = sorted({role for r in rows for role in r.fte_per_role})
    kinds = sorted({kind for r in rows for kind in r.links})
    columns = ["scenario", "status", "objective", "objective_change", *(f"cost_{y}" for y in years), "trials_run", "trials_late"]
    columns += [f"fte_{role}" for role in roles] + ["least_change"] + kinds
    flat = []
    for r in rows:
        row: dict[str, Any] = {
            "scenario": r.scenario,
            "status": r.status,
            "objective": r.objective,
            "objective_change": r.objective_change,
            "trials_run": r.trials_run,
            "trials_late": r.trials_late,
            "least_change": r.least_change,
        }
        row.update({f"cost_{y}": r.cost_per_year.get(y) for y in years})
        row.update({f"fte_{role}": r.fte_per_role.get(role) for role in roles})
        row.update({kind: r.links.get(kind) for kind in kinds})
        flat.append(row)
    return columns, flat

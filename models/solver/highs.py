"""One way to hand a Pyomo model to HiGHS and read back what happened."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
from highspy import cb
from highspy.highs import HighsCallbackEvent
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.var import VarData
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression
from pyomo.core.expr.numvalue import NumericConstant

from models.solver.progress import Monitor, StopFlag, never
from models.solver.settings import EngineSettings


@dataclass
class Watch:
    """How one HiGHS run is observed: which stage it is, how its numbers read in plan units.

    ``units`` turns a solver objective or bound (minimisation form, scaled) into the plan's
    units and sense, so progress reads like the plan. ``start`` is a warm start: values for
    some variables, handed to HiGHS as a (possibly partial) solution before it runs.
    """

    monitor: Monitor
    stage: str
    units: Callable[[float | None], float | None] = lambda v: v
    start: Sequence[tuple[VarData, float]] = ()
    report: bool = True
    #: Past this moment (``time.perf_counter``) the run ends as soon as its own relative gap
    #: is at most ``soft_gap``; HiGHS's time limit stays the hard end. A run still far from
    #: its bound at the soft deadline goes on (see ``EngineSettings.extend_gap``).
    soft_deadline: float | None = None
    soft_gap: float = 0.0
    #: A soft limit counted from the start of each run instead (it sets ``soft_deadline``
    #: as the run starts): each run of a round's cut loop gets its own while.
    soft_after: float | None = None
    #: A warm start still being computed when HiGHS starts (see :meth:`offer`): asked at
    #: each point where HiGHS takes a user solution, handed over once it returns values,
    #: with the objective (solver sense) of the plan they come from, or None if unknown.
    late_start: Callable[[], tuple[Sequence[tuple[VarData, float]], float | None] | None] | None = None
    #: True once the run is no longer needed (asked at each point HiGHS offers to stop it):
    #: the run then ends with its incumbent, as on a stop request.
    enough: Callable[[], bool] = lambda: False

    def offer(self) -> tuple[Sequence[tuple[VarData, float]], float | None] | None:
        """The late warm start and its objective if it is ready now (once: later calls return None)."""
        if self.late_start is None:
            return None
        ready = self.late_start()
        if ready is not None:
            self.late_start = None
        return ready

    def soft_stop(self, now: float, gap: float) -> bool:
        return self.soft_deadline is not None and now >= self.soft_deadline and gap <= self.soft_gap


def stop_flag(watch: Watch | None) -> StopFlag:
    """The stop flag of a watched run, for the work around HiGHS that must end on a stop too
    (building its model, pricing between runs); an unwatched run's never stops."""
    return never if watch is None else watch.monitor.stopped


class _QuietInterrupt(logging.Filter):
    """Pyomo logs a warning for HiGHS's 'interrupted' status, which here only means 'stopped on request'."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "kInterrupt" not in record.getMessage()


logging.getLogger("pyomo.contrib.solver.solvers.highs").addFilter(_QuietInterrupt())


class PersistentHighs(Highs):
    """Pyomo's (persistent) HiGHS interface plus what it lacks: progress, stop on request, warm start.

    The watch is a class-level default set per instance after construction, because
    Pyomo re-runs ``__init__`` with its own keywords when it loads a model.
    """

    _watch: Watch | None = None
    #: Wall-clock moment (``time.perf_counter``) the run must end by, and what to add to a
    #: limit for this HiGHS object's clock (see :func:`solve`); set per run.
    _deadline: float | None = None
    _clock_offset: float = 0.0

    def _solve(self):  # type: ignore[no-untyped-def]
        if self._deadline is not None:
            # Handing a large model over takes seconds (11 s at 10x the reference): the
            # limit HiGHS gets is what is left once it is loaded, not the caller's whole budget.
            self._active_config.time_limit = self._clock_offset + max(0.1, self._deadline - time.perf_counter())
        watch = self._watch
        if watch is not None:
            if watch.soft_after is not None:
                watch.soft_deadline = time.perf_counter() + watch.soft_after
            highs = self._solver_model
            if watch.start:
                index = self._pyomo_var_to_solver_var_map
                cols = [(index[id(v)], x) for v, x in watch.start if id(v) in index]
                if cols:
                    highs.setSolution(
                        len(cols),
                        np.array([c for c, _ in cols], dtype=np.int32),
                        np.array([x for _, x in cols], dtype=np.float64),
                    )
            # Every interrupt HiGHS offers, so that a stop ends whichever algorithm runs.
            highs.cbMipInterrupt.subscribe(self._on_interrupt)
            highs.cbSimplexInterrupt.subscribe(self._on_interrupt)
            highs.cbIpmInterrupt.subscribe(self._on_interrupt)
            highs.cbMipImprovingSolution.subscribe(self._on_improvement)
            if watch.late_start is not None:
                highs.cbMipUserSolution.subscribe(self._on_user_solution)
        try:
            return super()._solve()
        finally:
            # The HiGHS object outlives this run when the interface is kept for a re-solve.
            self._solver_model.clearCallbacks()

    def add_constraints(self, cons: list[ConstraintData]) -> None:
        """Hand rows to HiGHS; flat linear ones (see :func:`flat_row`) without Pyomo's walk.

        Pyomo's own path walks every row's expression tree twice (once to find its
        variables, once for its coefficients): on the reference's cut loop that was about
        2 s of round 0's 17 s, at 10x most of the 26 s its Pyomo work took, all of it
        holding the GIL the roster beside round 0 needs. A flat row is read in one pass
        and gets the same bookkeeping Pyomo keeps for it, so later updates (a variable
        fixed, a row removed) work as before; anything else takes Pyomo's path.
        """
        flat: list[tuple[ConstraintData, FlatRow]] = []
        other: list[ConstraintData] = []
        for con in cons:
            row = flat_row(con)
            if row is None:
                other.append(con)
            else:
                flat.append((con, row))
        if other:
            super().add_constraints(other)
        if flat:
            self._add_flat_rows(flat)

    def _add_flat_rows(self, rows: list[tuple[ConstraintData, FlatRow]]) -> None:
        """What ``PersistentSolverUtils.add_constraints`` and ``Highs._add_constraints`` do for these rows."""
        new: dict[int, VarData] = {}
        for con, row in rows:
            if con in self._named_expressions:
                raise ValueError(f"Constraint {con.name} has already been added")
            for v in row.variables:
                if id(v) not in self._referenced_variables:
                    new[id(v)] = v
        if new:
            self.add_variables(list(new.values()))
        self._sol = None
        if self._last_results_object is not None:
            self._last_results_object.solution_loader.invalidate()
        column = self._pyomo_var_to_solver_var_map
        number = len(self._pyomo_con_to_solver_con_map)
        lower, upper, starts, index, value = [], [], [], [], []
        for con, row in rows:
            self._active_constraints[con] = con.expr
            self._named_expressions[con] = []
            self._vars_referenced_by_con[con] = row.variables
            for v in row.variables:
                self._referenced_variables[id(v)][0][con] = None
            starts.append(len(index))
            index.extend(column[id(v)] for v in row.variables)
            value.extend(row.coefficients)
            lower.append(row.lower)
            upper.append(row.upper)
            self._pyomo_con_to_solver_con_map[con] = number
            self._solver_con_to_pyomo_con_map[number] = con
            number += 1
        self._solver_model.addRows(
            len(lower),
            np.array(lower, dtype=np.double),
            np.array(upper, dtype=np.double),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=np.double),
        )

    def _on_interrupt(self, event: HighsCallbackEvent) -> None:
        watch = self._watch
        assert watch is not None
        mip = event.callback_type == cb.HighsCallbackType.kCallbackMipInterrupt
        _clear_interrupt(event)
        if watch.monitor.stopped() or (mip and (watch.soft_stop(time.perf_counter(), _gap(event.data_out)) or watch.enough())):
            event.interrupt()
        elif watch.report and mip:
            self._report(event, force=False)

    def _on_user_solution(self, event: HighsCallbackEvent) -> None:
        """Hand HiGHS the late warm start once it is ready (HiGHS asks after setup and
        repeatedly while it evaluates the root node); HiGHS completes the columns not given.
        Not if HiGHS already has a solution at least as good as the plan it comes from
        (the model may price that schedule a little better: it never prices labour dearer
        than a roster): it could not improve on it, and repairing it costs HiGHS an LP."""
        assert self._watch is not None
        _clear_interrupt(event)
        ready = self._watch.offer()
        if not ready:
            return
        values, objective = ready
        if objective is not None and event.data_out.mip_primal_bound <= objective:
            return
        index = self._pyomo_var_to_solver_var_map
        cols = [(index[id(v)], x) for v, x in values if id(v) in index]
        if cols:
            event.data_in.setSolution(np.array([c for c, _ in cols], dtype=np.int32), np.array([x for _, x in cols], dtype=np.float64))
            event.data_in.repairSolution()

    def _on_improvement(self, event: HighsCallbackEvent) -> None:
        _clear_interrupt(event)
        if self._watch is not None and self._watch.report:
            self._report(event, force=True)

    def _report(self, event: HighsCallbackEvent, force: bool) -> None:
        watch = self._watch
        assert watch is not None
        out = event.data_out
        incumbent = out.mip_primal_bound if abs(out.mip_primal_bound) < 1e30 else None
        bound = out.mip_dual_bound if abs(out.mip_dual_bound) < 1e30 else None
        watch.monitor.report(watch.stage, watch.units(incumbent), watch.units(bound), force=force)


def _clear_interrupt(event: HighsCallbackEvent) -> None:
    """Clear the interrupt an earlier run of the same HiGHS object asked for: HiGHS keeps
    it (highspy 1.16) and reads it after every callback, so without this a re-solve after
    a soft stop ended at its first callback."""
    event.data_in.user_interrupt = False


def _gap(out: object) -> float:
    """A running MIP's relative gap from its primal and dual bounds (inf without an incumbent)."""
    primal, dual = out.mip_primal_bound, out.mip_dual_bound  # type: ignore[attr-defined]
    if abs(primal) >= 1e30 or abs(dual) >= 1e30:
        return math.inf
    return abs(primal - dual) / max(1.0, abs(primal))


@dataclass(frozen=True)
class SolveOutcome:
    """What one HiGHS run gave: a solution is loaded into the model iff ``has_solution``."""

    has_solution: bool
    proven_optimal: bool
    infeasible: bool
    objective: float | None
    bound: float | None
    seconds: float
    variables: int
    constraints: int
    solver_seconds: float = 0.0
    build_seconds: float = 0.0
    duals: Mapping[ConstraintData, float] = field(default_factory=dict)
    #: The clock, not the run's work limit or its own gap, ended it (so in reproducible mode
    #: another run may end elsewhere).
    time_limited: bool = False
    #: Branch-and-bound nodes HiGHS explored (the work reproducible mode limits).
    nodes: int = 0


#: The thread count each thread's HiGHS task scheduler was set up with (see :func:`use_threads`).
_scheduler = threading.local()


def use_threads(threads: int | None) -> None:
    """Make this thread's HiGHS task scheduler fit a run that asks for ``threads``.

    HiGHS sets up one scheduler per thread, with the thread count of the first run that
    needs one, and refuses, at once and with no solution, a later run on that thread that
    asks for another count (highspy 1.16): a worker process that solved one problem with
    the default threads then solved every HiGHS run of a ``threads: 1`` problem, or one in
    reproducible mode, to nothing. A run that names no count takes the scheduler as it is."""
    if threads is None:
        return
    if getattr(_scheduler, "threads", None) != threads:
        # Also the first time: a run that named no count (or an LP of the month pricing)
        # may have set the scheduler up with the default count already.
        highspy.Highs.resetThreadScheduler(True)
        _scheduler.threads = threads


def solve(
    model: pyo.ConcreteModel,
    settings: EngineSettings,
    time_limit: float,
    gap: float,
    watch: Watch | None = None,
    cutoff: float | None = None,
    solver: PersistentHighs | None = None,
    duals: Sequence[ConstraintData] = (),
    presolve: bool = True,
    nodes: int | None = None,
) -> SolveOutcome:
    """Solve ``model`` with HiGHS within ``time_limit`` seconds and relative ``gap``.

    The limit is wall time from this call: handing the model over counts against it, and
    HiGHS gets what is left (at least 0.1 s).

    With a ``cutoff`` (in the model's own objective, minimised), HiGHS prunes every
    solution not below it: a search for something better than a plan already in hand.
    A ``solver`` that solved this model before re-solves it persistently: Pyomo hands
    HiGHS only what changed (fixed variables, bounds, domains) instead of the whole model.
    For an LP, the ``duals`` of the given rows are read back. ``presolve`` False skips
    HiGHS's presolve (see ``EngineSettings.repair_presolve``). ``nodes`` caps the
    branch-and-bound nodes (reproducible mode's work limit; HiGHS then runs on one thread).

    ``seconds`` covers handing the model over, HiGHS and reading the solution back;
    ``solver_seconds`` is HiGHS's own run time. With a ``watch``, progress is reported
    while HiGHS runs, a stop request interrupts it (its incumbent, if any, is kept) and
    the watch's warm start is handed over first.
    """
    began = time.perf_counter()
    if model.nvariables() == 0:
        return SolveOutcome(True, True, False, 0.0, 0.0, 0.0, 0, model.nconstraints())
    opt = solver if solver is not None else PersistentHighs()
    opt._watch = watch
    threads = 1 if settings.reproducible else settings.threads
    use_threads(threads)
    # HiGHS's run clock counts every run of one HiGHS object, and (measured with highspy
    # 1.16) an LP's time limit is checked against that clock while a MIP's counts from its
    # own start: an LP re-solve's limit is set past what earlier runs used. Either way a
    # re-solve reports only its own time.
    clock_before = opt._solver_model.getRunTime() if opt._solver_model is not None and opt._model is model else 0.0
    lp_offset = clock_before if clock_before and not any(v.is_integer() for v in model.component_data_objects(pyo.Var)) else 0.0
    # The time limit itself is set in PersistentHighs._solve, once the model is handed over.
    opt._deadline, opt._clock_offset = began + max(0.1, time_limit), lp_offset
    results = opt.solve(
        model,
        rel_gap=gap,
        threads=threads,
        # Set on every run: a persistent HiGHS object keeps its options between runs.
        solver_options=settings.highs_options()
        | {
            "objective_bound": math.inf if cutoff is None else cutoff,
            "presolve": "choose" if presolve else "off",
            "mip_max_nodes": highspy.kHighsIInf if nodes is None else nodes,
        },
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
    )
    has_solution = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    condition = results.termination_condition
    complete = condition == TerminationCondition.convergenceCriteriaSatisfied
    infeasible = condition in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded)
    objective, bound = results.incumbent_objective, results.objective_bound
    if cutoff is not None:
        # With nothing below the cutoff, HiGHS (1.16) may still report a solution above it
        # as optimal, with that solution's value as its dual bound: not a bound at all (on
        # the reference's round 0, cut off just past its optimum 2.2623e9, it said 2.2583e9).
        # What a run with a cutoff shows is that every solution is at or above the cutoff
        # or at or above its dual bound.
        if has_solution and objective is not None and objective >= cutoff:
            has_solution, objective = False, None
            infeasible = infeasible or complete
            complete = False
        if bound is not None:
            bound = min(bound, cutoff)
    if has_solution:
        results.solution_loader.load_vars()
    row_duals = results.solution_loader.get_duals(list(duals)) if duals and complete else {}
    return SolveOutcome(
        has_solution=has_solution,
        proven_optimal=complete,
        infeasible=infeasible,
        objective=objective,
        bound=bound,
        seconds=time.perf_counter() - began,
        variables=model.nvariables(),
        constraints=model.nconstraints(),
        solver_seconds=results.timing_info.highs_time - clock_before,
        duals=row_duals,
        time_limited=condition == TerminationCondition.maxTimeLimit,
        nodes=max(0, opt._solver_model.getInfo().mip_node_count),
    )


@dataclass(frozen=True)
class FlatRow:
    """A row as HiGHS takes it: distinct free variables, their coefficients, numeric bounds."""

    variables: list[VarData]
    coefficients: list[float]
    lower: float
    upper: float


def flat_row(con: ConstraintData) -> FlatRow | None:
    """The row of a constraint whose body is a sum of numbers and numeric multiples of
    free variables (what :func:`linear` builds, and what Pyomo's ``sum`` gives for such
    terms) and whose bounds are numbers; None for anything else (parameters, fixed
    variables, products), which Pyomo's own path handles."""
    body = con.body
    if type(body) is not LinearExpression:
        return None
    bounds = []
    for bound in (con.lower, con.upper):
        if bound is None or type(bound) is NumericConstant:
            bounds.append(None if bound is None else bound.value)
        elif isinstance(bound, (int, float)):
            bounds.append(bound)
        else:
            return None
    coefficient: dict[int, float] = {}
    variable: dict[int, VarData] = {}
    constant = 0.0
    for arg in body.args:
        if type(arg) is MonomialTermExpression:
            coef, var = arg.args
            if not isinstance(coef, (int, float)):
                return None
        elif isinstance(arg, (int, float)):
            constant += arg
            continue
        elif isinstance(arg, VarData):
            coef, var = 1.0, arg
        else:
            return None
        if var.fixed:
            return None
        key = id(var)
        variable[key] = var
        coefficient[key] = coefficient.get(key, 0.0) + coef
    lower = -highspy.kHighsInf if bounds[0] is None else bounds[0] - constant
    upper = highspy.kHighsInf if bounds[1] is None else bounds[1] - constant
    return FlatRow(list(variable.values()), [coefficient[k] for k in variable], lower, upper)


def linear(terms: Iterable[tuple[float, VarData]]) -> LinearExpression | float:
    """The sum of ``coef * var`` as one flat expression, built in one step (Pyomo's ``sum``
    appends term by term); its rows reach HiGHS by :func:`flat_row`'s fast path. No terms
    sum to 0, so a row over none is a plain comparison :func:`add_row` settles."""
    args = [MonomialTermExpression((float(c), v)) for c, v in terms]
    return LinearExpression(args) if args else 0.0


class TriviallyInfeasible(Exception):
    """A row with no variables left that cannot hold (e.g. a budget already overspent by fixed costs)."""


#: What a model that cannot even be built feasibly reports.
PROVEN_INFEASIBLE = SolveOutcome(False, False, True, None, None, 0.0, 0, 0)
#: What a model whose build a stop request abandoned reports: no solution, nothing proven.
STOPPED = SolveOutcome(False, False, False, None, None, 0.0, 0, 0)


def add_row(rows: pyo.ConstraintList, expr: object) -> None:
    """Add a row unless it has no variables: a constant row either holds (skip) or proves infeasibility."""
    if isinstance(expr, bool):
        if not expr:
            raise TriviallyInfeasible(rows.name)
        return
    rows.add(expr)

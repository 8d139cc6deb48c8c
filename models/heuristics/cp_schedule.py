"""The schedule core: OR-Tools CP-SAT on the compiled instance, beside HiGHS.

When a role is scarce, choosing trial starts is resource-constrained project scheduling
(RCPSP). The time-indexed model of the portfolio stage has a weak LP bound there: on
PSPLIB j30's scarce-resource classes HiGHS does not finish the root node in 10 s, so it
neither finds the optimum nor proves it. A constraint solver reasons on the schedule
itself (cumulative propagation, large-neighbourhood search) and finds and proves most of
those optima within a second.

The model, over the instance's own start domains (windows, predecessors, pins already
applied by :func:`models.formulation.instance.compile_instance`):

- each trial that must run takes exactly one option; per (trial, option) a start variable
  restricted to that option's allowed starts, and per stretch of months with the same
  demand and service use (a stage, usually) a fixed-length interval tied to the start, so
  the monthly demand profile is exact;
- one cumulative per role with the capacity the portfolio stage certainly has (people in
  their primary role while available, plus flex: :func:`models.heuristics.sgs.certain_capacity`,
  so that a schedule that fits can be staffed by named people where
  :func:`models.heuristics.sgs.applies`). Capacity that varies by month is its largest
  value, with fixed blocking intervals taking the difference in the months below it; one
  cumulative per service likewise, and a contract volume as a sum over the options chosen;
- predecessors with lags: ``start_B >= start_A + duration_A + lag`` (the plan's inclusive
  end ``s + d - 1``, plus 1, plus the lag);
- objective: the makespan, the latest ``start + duration``.

FTE and service units become whole thousandths (:data:`SCALE`). Where that is exact and
nobody holds a secondary role, the model is a relaxation of the whole problem (every
plan's schedule fits it: role capacity only drops people's limits of concurrent trials),
so its proven lower bound bounds every plan's makespan and a proof of infeasibility holds
for the problem. Otherwise demand is rounded up and capacity down: the schedule found
still fits, but nothing is claimed about other plans.

Portfolios where a role is scarce (issue 21: "the same core serves the portfolio stage
whenever a role is scarce") have their own model in :mod:`models.heuristics.cp_portfolio`,
built from the pieces here (:class:`Units`, :func:`stretches`, :func:`cumulative`,
:func:`run_search`) with optional trials, the problem's objective and budgets. The rule:
a role is scarce when the trials that need it overflow its certain capacity at their
peaks *and* the median trial's peak takes at least a quarter of that capacity. The first
says there is something to schedule around; the second is why a time-indexed LP is weak
there (each trial is a large, indivisible share of the role, so fractional starts are
far from a schedule) and why it is not on the reference portfolio (peaks of a few per
cent of 500 people). On PSPLIB-shaped portfolios HiGHS does not finish its root node
within 20 s and that core's plans are the better ones, so it is on in the engine
(``cp_portfolio.IN_ENGINE``; see that module and docs/benchmarks.md).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from ortools.sat.python import cp_model

from models.formulation.instance import Instance, OptionProfile
from models.heuristics.sgs import Schedule, applies, certain_capacity, quick_schedule, tighten_for_makespan
from models.heuristics.shed import Staffed
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings

#: FTE and service units as whole thousandths (validation admits FTE from 0.001).
SCALE = 1000
#: How often (s) a running search looks whether the caller asked to stop.
STOP_POLL_SECONDS = 0.2
#: The stage name the search reports progress and its timing under.
STAGE = "schedule-core"


@dataclass(frozen=True)
class CoreResult:
    """What the search found, in the problem's terms.

    ``status`` is ``optimal`` when the schedule's makespan is proven least for every plan,
    ``infeasible`` when no plan of the problem has a schedule at all, ``feasible`` when a
    schedule was found but not proven (or the model is only a restriction of the
    problem), ``unknown`` otherwise. ``lower_bound`` is a makespan no plan can beat (None
    where the model is no relaxation of the problem)."""

    status: Literal["optimal", "feasible", "infeasible", "unknown"]
    schedule: Schedule | None
    makespan: int | None
    lower_bound: int | None
    seconds: float


@dataclass(frozen=True)
class Tightened:
    """The schedule core's result and the plan whose makespan cut the start windows (the
    shorter of the core's and the priority rules' schedules that named people staff;
    None if neither was staffed)."""

    core: CoreResult
    staffed: Staffed | None


def tighten_with_core(
    inst: Instance, settings: EngineSettings, seconds: float, work: float, monitor: Monitor | None = None
) -> Tightened | None:
    """For a pure scheduling problem (:func:`models.heuristics.sgs.applies`): the schedule
    core's search from the priority rules' best schedule, then the start windows cut to the
    shorter of the two schedules that named people can staff
    (:func:`models.heuristics.sgs.tighten_for_makespan`), or closed where the core proves
    that no schedule exists. None (and nothing cut) for any other problem. ``seconds`` and
    ``work`` are the search's limits (see :func:`solve_schedule`)."""
    if not applies(inst):
        return None
    quick = quick_schedule(inst)
    core = solve_schedule(inst, settings, seconds, work, quick, monitor)
    if core.status == "infeasible":
        # No start of any trial belongs to a plan: the windows are as tight as the rules allow.
        for key in inst.starts:
            inst.starts[key] = []
        return Tightened(core, None)
    return Tightened(core, tighten_for_makespan(inst, [core.schedule, quick]))


def available_workers() -> int:
    """Cores this process may run on (the search runs before any HiGHS run starts)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configured_solver(settings: EngineSettings, seconds: float, work: float) -> cp_model.CpSolver:
    """A CP-SAT solver that searches for ``seconds`` of wall time on every core this process
    may use (at most ``settings.threads``); in reproducible mode on one worker from
    ``settings.seed`` for ``work`` seconds of CP-SAT's deterministic time, the clock only a guard."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.max_time_in_seconds = max(0.01, seconds)
    params.random_seed = settings.seed
    if settings.reproducible:
        params.num_workers = 1
        params.max_deterministic_time = max(0.01, work)
    else:
        params.num_workers = min(available_workers(), settings.threads or available_workers())
    return solver


def solve_schedule(
    inst: Instance,
    settings: EngineSettings,
    seconds: float,
    work: float,
    hint: Schedule | None = None,
    monitor: Monitor | None = None,
) -> CoreResult:
    """The shortest schedule of the trials that must run, searched for ``seconds`` of wall
    time on every core; in reproducible mode on one worker from ``settings.seed`` for
    ``work`` seconds of CP-SAT's deterministic time (the same on every run, whatever the
    machine's load), the clock only a guard. ``hint``, a schedule that fits, is where the
    search starts."""
    began = time.perf_counter()
    built = _build(inst, hint)
    if built is None:
        return CoreResult("unknown", None, None, None, time.perf_counter() - began)
    solver = configured_solver(settings, seconds, work)
    status = run_search(solver, built.model, monitor)
    used = time.perf_counter() - began
    if status == cp_model.INFEASIBLE:
        return CoreResult("infeasible" if built.relaxation else "unknown", None, None, None, used)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CoreResult("unknown", None, None, None, used)
    schedule = {t: (o, solver.value(start)) for t, chosen in built.choices.items() for o, start, present in chosen if solver.boolean_value(present)}
    span = max((s + inst.profiles[(t, o)].duration for t, (o, s) in schedule.items()), default=0)
    bound = math.ceil(solver.best_objective_bound - 1e-6) if built.relaxation else None
    return CoreResult("optimal" if bound is not None and bound >= span else "feasible", schedule, span, bound, used)


class _Report(cp_model.CpSolverSolutionCallback):
    """Each better schedule's makespan and the proven bound, as progress."""

    def __init__(self, monitor: Monitor):
        super().__init__()
        self.monitor = monitor

    def on_solution_callback(self) -> None:
        self.monitor.report(STAGE, self.objective_value, self.best_objective_bound, force=True)


def run_search(solver: cp_model.CpSolver, model: cp_model.CpModel, monitor: Monitor | None, report: bool = True) -> int:
    """Solve, stopping the search once the caller asks (polled on a thread of its own: the
    search may go a long while between better schedules); with ``report``, each better
    schedule's objective and the bound go to the monitor as progress (only where the
    model's objective is the plan's own, as the makespan is here)."""
    if monitor is None:
        return solver.solve(model)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_SECONDS):
            if monitor.stopped():
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, name="schedule-core-stop", daemon=True)
    watcher.start()
    try:
        return solver.solve(model, _Report(monitor)) if report else solver.solve(model)
    finally:
        done.set()
        watcher.join()


@dataclass
class _Built:
    model: cp_model.CpModel
    #: Per trial, per option it may run: (option, start variable, presence literal).
    choices: dict[str, list[tuple[str, cp_model.IntVar, cp_model.IntVar]]]
    #: Whether the model is a relaxation of the problem (exact units, primary roles only).
    relaxation: bool


class Units:
    """FTE and units as whole thousandths; remembers whether any value had to be rounded."""

    def __init__(self) -> None:
        self.exact = True

    def up(self, value: float) -> int:
        return self._whole(value, math.ceil)

    def down(self, value: float) -> int:
        return self._whole(value, math.floor)

    def _whole(self, value: float, rounding: Callable[[float], int]) -> int:
        scaled = value * SCALE
        near = round(scaled)
        if abs(scaled - near) <= 1e-6 * max(1.0, abs(scaled)):
            return int(near)
        self.exact = False
        return int(rounding(scaled))


def _build(inst: Instance, hint: Schedule | None) -> _Built | None:
    """The CP-SAT model of the trials that must run; None if one of them has no start."""
    model = cp_model.CpModel()
    units = Units()
    horizon = inst.months
    choices: dict[str, list[tuple[str, cp_model.IntVar, cp_model.IntVar]]] = {}
    first: dict[str, cp_model.IntVar] = {}
    end: dict[str, cp_model.IntVar] = {}
    uses: dict[tuple[str, str], list[tuple[cp_model.IntervalVar, int]]] = {}
    volumes: dict[str, list[tuple[cp_model.IntVar, int]]] = {}
    makespan = model.new_int_var(0, horizon, "makespan")
    for t in sorted(inst.forced_run):
        options = [o.id for o in inst.trials[t].options if inst.starts[(t, o.id)]]
        if not options:
            return None
        single = len(options) == 1
        domain = sorted({s for o in options for s in inst.starts[(t, o)]})
        first[t] = model.new_int_var_from_domain(cp_model.Domain.from_values(domain), f"S[{t}]")
        end[t] = model.new_int_var(0, horizon, f"E[{t}]")
        chosen = []
        for o in options:
            prof = inst.profiles[(t, o)]
            present = model.new_constant(1) if single else model.new_bool_var(f"p[{t},{o}]")
            start = first[t] if single else model.new_int_var_from_domain(cp_model.Domain.from_values(inst.starts[(t, o)]), f"s[{t},{o}]")
            if not single:
                model.add(first[t] == start).only_enforce_if(present)
            model.add(end[t] == start + prof.duration).only_enforce_if(present)
            for offset, length, month in stretches(prof):
                interval = model.new_optional_fixed_size_interval_var(start + offset, length, present, f"I[{t},{o},{offset}]")
                for r, v in prof.demand[month].items():
                    uses.setdefault(("role", r), []).append((interval, units.up(v)))
                for svc, u in prof.services[month].items():
                    uses.setdefault(("service", svc), []).append((interval, units.up(u)))
            for svc in inst.service_volume:
                if (u := prof.volume(svc)) > 0:
                    volumes.setdefault(svc, []).append((present, units.up(u)))
            chosen.append((o, start, present))
        if not single:
            model.add_exactly_one(p for _, _, p in chosen)
        choices[t] = chosen
        model.add(makespan >= end[t])
    for t in choices:
        for pred in inst.trials[t].predecessors:
            if pred.trial in end:
                model.add(first[t] >= end[pred.trial] + pred.lag)
    roles, services = certain_capacity(inst)
    for (kind, name), items in sorted(uses.items()):
        capacity = roles.get(name, [0.0] * horizon) if kind == "role" else services[name]
        cumulative(model, items, [units.down(c) for c in capacity], f"{kind}:{name}")
    for svc, terms in sorted(volumes.items()):
        volume = units.down(inst.service_volume[svc])
        if sum(u for _, u in terms) > volume:
            model.add(sum(u * p for p, u in terms) <= volume)
    model.minimize(makespan)
    if hint is not None and set(hint) == set(choices):
        for t, chosen in choices.items():
            option, start_month = hint[t]
            for o, start, present in chosen:
                if len(chosen) > 1:
                    model.add_hint(present, o == option)
                if o == option:
                    model.add_hint(start, start_month)
        model.add_hint(makespan, max(s + inst.profiles[(t, o)].duration for t, (o, s) in hint.items()))
    relaxation = units.exact and all(len(held) == 1 for held in inst.staff_roles.values())
    return _Built(model, choices, relaxation)


def stretches(prof: OptionProfile) -> Iterator[tuple[int, int, int]]:
    """(offset, length, a month of it) for each run of months with the same demand and
    service use; months that use nothing are left out."""
    k = 0
    while k < prof.duration:
        j = k + 1
        while j < prof.duration and prof.demand[j] == prof.demand[k] and prof.services[j] == prof.services[k]:
            j += 1
        if prof.demand[k] or prof.services[k]:
            yield k, j - k, k
        k = j


def cumulative(model: cp_model.CpModel, items: Sequence[tuple[cp_model.IntervalVar, int]], capacity: list[int], name: str) -> None:
    """Demand within a month-by-month capacity: one cumulative at the largest capacity, with
    fixed intervals taking the difference in the months below it. Left out where all the
    demand together fits the smallest month."""
    if sum(d for _, d in items) <= min(capacity, default=0):
        return
    top = max(capacity)
    intervals = [i for i, _ in items]
    demands = [d for _, d in items]
    m = 0
    while m < len(capacity):
        j = m + 1
        while j < len(capacity) and capacity[j] == capacity[m]:
            j += 1
        if capacity[m] < top:
            intervals.append(model.new_fixed_size_interval_var(m, j - m, f"block[{name},{m}]"))
            demands.append(top - capacity[m])
        m = j
    model.add_cumulative(intervals, demands, top)

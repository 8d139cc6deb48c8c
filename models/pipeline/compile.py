"""The first stage of a solve: the problem compiled once into sparse index sets; for a
pure scheduling problem, the start windows cut by the schedule core's makespan
(:mod:`models.heuristics.cp_schedule`); where a role is scarce (``cp_portfolio.serves``),
the portfolio core's schedule (:mod:`models.heuristics.cp_portfolio`) staffed into a first
candidate plan and kept as round 0's warm start, and its relaxation's bound. Where the
trials that must run cannot all be scheduled, or need more of a contracted service than
its volume, the solve ends here with an infeasible plan that says which.
"""

from __future__ import annotations

import time

from models.contract.plan import Explanation, Plan, StageTiming
from models.contract.problem import Problem
from models.formulation.instance import Instance, compile_instance
from models.formulation.staffing import StaffingResult
from models.heuristics import cp_portfolio
from models.heuristics.cp_portfolio import CORE_REPAIRS, PORTFOLIO_CORE_SHARE, serves, solve_portfolio_core
from models.heuristics.cp_portfolio import STAGE as PORTFOLIO_STAGE
from models.heuristics.cp_schedule import STAGE as CORE_STAGE
from models.heuristics.cp_schedule import tighten_with_core
from models.heuristics.lp_roster import lp_roster
from models.heuristics.sgs import Schedule
from models.heuristics.shed import Staffed, budget_roster, overruns, shed
from models.pipeline.candidates import Candidates
from models.pipeline.clock import SCHEDULE_CORE_SHARE, Clock
from models.pipeline.construct import insert_heuristic
from models.pipeline.diagnose import diagnosed, volumes_short
from models.pipeline.roster import roster_rank
from models.pipeline.state import SolveState
from models.solver.progress import Cutoff, Monitor
from models.solver.settings import EngineSettings


def compile_stage(problem: Problem, settings: EngineSettings, monitor: Monitor, began: float) -> SolveState:
    """The clock started, the problem compiled once (start windows cut for a pure scheduling
    problem; with the portfolio core on and a role scarce, its plan among the candidates,
    its schedule in ``SolveState.core_start`` and its bound in ``SolveState.lp_bound``)."""
    clock = Clock.start(problem, settings.time_limit, began)
    compiling = time.perf_counter()
    inst = compile_instance(problem)
    tightened = tighten_with_core(inst, settings, SCHEDULE_CORE_SHARE * clock.left(), SCHEDULE_CORE_SHARE * settings.time_limit, monitor)
    core = tightened.core if tightened is not None else None
    timings = [StageTiming(stage="compile", seconds=time.perf_counter() - compiling - (core.seconds if core else 0.0))]
    best = Candidates(inst, monitor)
    if tightened is None or core is None:
        state = SolveState(problem, settings, inst, clock, monitor, timings, best)
        if cp_portfolio.IN_ENGINE and serves(inst):
            # The relaxation's bound joins round 0's as the exact LP's would (rounds.py).
            state.core_start, state.lp_bound = portfolio_core(inst, settings, clock, monitor, best, timings)
        return state
    timings.append(StageTiming(stage=CORE_STAGE, seconds=core.seconds, solver_seconds=core.seconds, status=core.status))
    if tightened.staffed is not None:
        # A plan in hand before HiGHS starts: a round cut short by the clock loses nothing.
        best.consider(tightened.staffed, CORE_STAGE)
    # The core's bound is on the makespan, and every plan's objective is its makespan plus
    # scaled costs (never negative): it joins round 0's bound as the exact LP's would.
    bound = None if core.lower_bound is None else float(core.lower_bound)
    return SolveState(problem, settings, inst, clock, monitor, timings, best, lp_bound=bound)


def portfolio_core(
    inst: Instance, settings: EngineSettings, clock: Clock, monitor: Monitor, best: Candidates, timings: list[StageTiming]
) -> tuple[Schedule | None, float | None]:
    """Where a role is scarce, within ``PORTFOLIO_CORE_SHARE`` of the time left: the
    portfolio core's schedule rostered (:func:`core_roster`), shed and filled in again,
    and offered to ``best``, a plan in hand before HiGHS starts; while a roster overran a budget and half
    the share is left, again with that year's budget cut by the overrun (the model prices
    labour at mean rates, the roster at who is free), up to ``CORE_REPAIRS`` times; then
    the relaxation's bound in the rest of the share. Returns round 0's warm start (the
    best staffed schedule, else the core's first) and the bound, each None where none was found."""
    share = PORTFOLIO_CORE_SHARE * clock.left()
    work = PORTFOLIO_CORE_SHARE * settings.time_limit / (CORE_REPAIRS + 2)
    began = time.perf_counter()
    until = began + share
    cut: dict[str, float] = {}
    start: Schedule | None = None
    kept: Staffed | None = None
    for attempt in range(CORE_REPAIRS + 1):
        primal = solve_portfolio_core(inst, settings, (until - time.perf_counter()) / 2, work, monitor, budget_cut=cut)
        timings.append(StageTiming(stage=f"{PORTFOLIO_STAGE}[{attempt}]", seconds=primal.seconds, solver_seconds=primal.seconds, status=primal.status))
        if primal.schedule is None:
            break
        if start is None:
            start = primal.schedule
        staffing_began = time.perf_counter()
        by = monitor.cutoff(clock.deadline)
        roster = core_roster(inst, settings, primal.schedule, by)
        if roster is None:
            break
        staffed = shed(inst, primal.schedule, roster, by)
        if staffed is not None:
            staffed = insert_heuristic(inst, staffed, by.sooner(until), time.perf_counter() - staffing_began)
            best.consider(staffed, PORTFOLIO_STAGE)
            if kept is None or best.score(staffed) < best.score(kept):
                kept = staffed
        timings.append(StageTiming(stage=f"{PORTFOLIO_STAGE}-staffing[{attempt}]", seconds=time.perf_counter() - staffing_began, status="heuristic"))
        over = overruns(inst, primal.schedule, roster)
        if not over or time.perf_counter() > began + share / 2:
            break
        for year, amount in over.items():
            cut[year] = cut.get(year, 0.0) + amount
    relaxation = solve_portfolio_core(inst, settings, until - time.perf_counter(), work, monitor, relaxed=True)
    timings.append(StageTiming(stage=f"{PORTFOLIO_STAGE}-bound", seconds=relaxation.seconds, solver_seconds=relaxation.seconds, status=relaxation.status))
    return (kept.schedule if kept is not None else start), relaxation.bound


def core_roster(inst: Instance, settings: EngineSettings, schedule: Schedule, until: Cutoff) -> StaffingResult | None:
    """The better, by :func:`models.pipeline.roster.roster_rank`, of the greedy roster and
    (up to ``EngineSettings.lp_roster_below`` staff x trials) the month-by-month LP roster:
    the greedy roster alone overran a budget by a few hundred on a ``scarce_roles`` member
    whose LP roster kept it, and shedding then drops a whole trial. None once a stop cut
    a roster short."""
    roster = budget_roster(inst, schedule, until)
    if until.stopped():
        return None
    if len(inst.staff) * len(inst.trials) <= settings.lp_roster_below:
        lp = lp_roster(inst, schedule, cutoff=until)
        if until.stopped():
            return None
        if roster_rank(inst, schedule, lp) < roster_rank(inst, schedule, roster):
            return lp
    return roster


def unschedulable_plan(s: SolveState) -> Plan | None:
    """An infeasible plan naming each trial that must run but has no start left, or each
    contract volume below what they need at the least, else None."""
    inst = s.inst
    if short := volumes_short(inst):
        return s.empty("infeasible", "trials that must run need more of a contracted service than its volume", short)
    unschedulable = [t for t in sorted(inst.forced_run) if not any(inst.starts[(t, o.id)] for o in inst.trials[t].options)]
    if not unschedulable:
        return None
    if any(t.stage == CORE_STAGE and t.status == "infeasible" for t in s.timings):
        # The core closed every window: no schedule of the trials that must run fits.
        why = [Explanation(reason="no schedule of the trials that must run fits role capacity, services, contract "
                                  "volumes, windows and predecessors together (the schedule core proved it)")]
        return diagnosed(s, "trials that must run cannot all be scheduled", why)
    why = [Explanation(trial=t, reason="no start month satisfies its window, deadline, predecessors and pins") for t in unschedulable]
    return diagnosed(s, "trials that must run have no feasible start", why)

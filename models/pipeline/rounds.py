"""The portfolio rounds: stage 1 solved, its schedule staffed, and what staffing could not
deliver fed back, until a plan needs no repair, is proven within the gap, or time runs out.

Round 0 solves stage 1 (a relaxation of the whole problem: its bound bounds every plan)
from the constructive schedule. Its schedule is staffed; if the roster leaves demand
uncovered or overruns a budget, the repair stage holds capacity or budget back (or adds a
coverage row) and the next round re-solves round 0's model persistently. Each round's
schedule is also made into a valid plan directly by shedding and insertion. Once a plan
needs no repair, further rounds (from another HiGHS seed, the schedules already staffed
cut off) only look for a better plan while the bound search runs; no round starts once
the best plan is proven within the gap.
"""

from __future__ import annotations

import time
from dataclasses import replace

from models.contract.plan import Plan, StageTiming
from models.heuristics.insertion import insert_trials
from models.heuristics.shed import Staffed, shed
from models.formulation.portfolio import schedule_keys, solve_portfolio
from models.pipeline.bound import aim, proven_within_gap, start_bound_search
from models.pipeline.candidates import tighter
from models.pipeline.clock import (
    MIN_IMPROVE_SECONDS,
    MIN_SOLVER_SECONDS,
    SETTLE_FACTOR,
    round_limits,
    roster_seconds,
    staffing_seconds,
    timing,
)
from models.pipeline.diagnose import diagnosed
from models.pipeline.repair import repair
from models.pipeline.replan import settled
from models.pipeline.roster import staff_schedule
from models.pipeline.state import SolveState
from models.solver.highs import Watch


def portfolio_rounds(s: SolveState) -> Plan | None:
    """Run the rounds (see the module docstring); an infeasible plan if round 0 proves that no
    plan exists, else None (the plans found are in ``s.best``)."""
    settings, inst, best, timings, clock = s.settings, s.inst, s.best, s.timings, s.clock
    deadline = clock.deadline
    for round_ in range(settings.repair_rounds + 1):
        # A repair round is worth starting only if its stage-1 run and the roster after it fit.
        if s.monitor.stopped() or time.perf_counter() + MIN_SOLVER_SECONDS + roster_seconds(timings) >= deadline:
            s.ended = "stop" if s.monitor.stopped() else "time"
            break
        if s.search is not None:
            aim(s.search, s.first, best.objective, settings)
        if round_ > 0 and proven_within_gap(best, s.bound, s.search, s.first, settings):
            s.converged = s.proven = True
            break
        if round_ > 0 and settled(s):
            s.converged = True  # a re-plan's kept plan is proven as the planner asked (replan.settled)
            break
        # Once a plan needed no repair, a round only looks for a better one, while the bound
        # search runs: the round and the roster after it end by the time the search does.
        improving = s.converged
        improve_by = s.search.until - staffing_seconds(timings) if s.search is not None else 0.0
        if improving and (s.search is None or not s.search.running or improve_by - time.perf_counter() < MIN_IMPROVE_SECONDS):
            break
        remaining = deadline - time.perf_counter()
        watch = Watch(s.monitor, f"portfolio[{round_}]")
        warm = best.solved.schedule if best.solved is not None else s.start
        beat = best.objective if round_ > 0 else None
        limit, soft = round_limits(inst, settings, remaining, round_)
        nominal = settings.time_limit * (settings.portfolio_share_max if round_ == 0 else settings.portfolio_share)
        round_settings = settings
        if improving and s.search is not None:
            limit = min(limit, improve_by - time.perf_counter())
            # Another seed: the same search from the same start would retrace the round that found the plan.
            round_settings = replace(settings, seed=settings.seed + round_)
            watch.enough = lambda: proven_within_gap(best, s.bound, s.search, s.first, settings)
        elif round_ == 0 and s.lp_bound is not None:
            # A bound proven before round 0 (the schedule core's makespan, the exact LP): once the
            # plan in hand meets it within the gap, round 0 could only prove what is proven (on
            # PSPLIB j30, 93 of 480 solves ran round 0 to the limit after CP-SAT's proof).
            proven = s.lp_bound
            watch.enough = lambda: proven_within_gap(best, proven, None, None, settings)
        relaxes = s.reserve.relaxes()
        settle = round_ > 0 and not relaxes
        if soft is not None and not settings.reproducible:  # reproducible mode limits work, not time
            watch.soft_deadline, watch.soft_gap = time.perf_counter() + soft, settings.extend_gap
        elif settle and s.first is not None and not settings.reproducible:
            # A repair round's search is luck: from one seed HiGHS had a plan at 2 s and was
            # done, from another it branched 13 s for a worse one. Past a while each run
            # settles for what it has; a later round looks again from another seed.
            watch.soft_after, watch.soft_gap = SETTLE_FACTOR * s.first.outcome.solver_seconds, settings.extend_gap
        late = s.beside.ready if s.beside is not None else None
        # A round whose reserve is no relaxation has no bound to tighten: its first schedule worth staffing will do.
        stage1 = solve_portfolio(
            inst, round_settings, limit, s.reserve, watch, warm, beat, s.first, late, settle=settle, nodes=settings.work_limit(nominal)
        )
        timings.append(timing(f"portfolio[{round_}]", stage1.outcome))
        if stage1.outcome.time_limited:
            s.clock_ruled.append(f"portfolio[{round_}]")
        if round_ == 0:
            s.bound = best.bound = tighter(s.problem.objective.kind, stage1.bound, s.lp_bound)
            s.first = stage1
        elif relaxes:
            # Only coverage rows learnt: still a relaxation, so this round's bound bounds every
            # plan; proven to have nothing that beats the plan in hand, the plan is the bound.
            found = beat if stage1.outcome.infeasible else stage1.bound
            s.bound = best.bound = tighter(s.problem.objective.kind, s.bound, found)
        if s.beside is not None:
            s.beside.collect(best, timings, alongside=f"portfolio[{round_}]")
            s.beside = None
        if round_ == 0 and not settings.reproducible and not s.monitor.stopped():
            s.search = start_bound_search(stage1, settings, deadline)
        if s.search is not None:
            aim(s.search, s.first, best.objective, settings)
        if not stage1.outcome.has_solution:
            if stage1.outcome.infeasible and round_ == 0:
                return diagnosed(s, "no plan satisfies every rule (portfolio stage proved it)", [])
            s.ended = _why_no_schedule(s, stage1.outcome.infeasible)
            break
        if s.monitor.stopped():
            s.ended = "stop"  # a round stopped on request keeps the plans in hand rather than staff its schedule
            break
        if time.perf_counter() >= clock.fallback_by(best.solved is not None):
            s.ended = "time"  # no time left to staff this schedule (with no plan in hand, a little past the limit)
            break
        # The heuristics work against a cutoff: the deadline, or now once a stop is asked.
        until = s.monitor.cutoff(deadline)
        staffing = staff_schedule(inst, settings, stage1.schedule, until, timings, round_, s.monitor)
        if staffing is None:
            s.ended = "stop"
            break
        attempt = Staffed(stage1.schedule, staffing)
        if not repair(inst, stage1, staffing, s.reserve):
            best.consider(attempt, f"portfolio[{round_}]")
            s.reserve.tried.append(schedule_keys(stage1.schedule))
            s.converged = True
            continue
        shed_began = time.perf_counter()
        if (kept := shed(inst, attempt.schedule, attempt.staffing, until)) is not None:
            grown = insert_trials(inst, kept, best.score, until, roster_seconds=roster_seconds(timings))
            best.consider(grown, f"shed[{round_}]")
        timings.append(StageTiming(stage=f"shed[{round_}]", seconds=time.perf_counter() - shed_began, status="heuristic"))
    return None


def _why_no_schedule(s: SolveState, infeasible: bool) -> str:
    """Why a round's portfolio stage gave no schedule: it proved none is left to try
    ("rounds"), a stop, the time limit (its run ended with no time left), or its own share of
    the time ("search": the limit itself was still some way off)."""
    if infeasible:
        return "rounds"
    if s.monitor.stopped():
        return "stop"
    return "time" if s.clock.left() <= MIN_SOLVER_SECONDS else "search"

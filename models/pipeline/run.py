"""The solve pipeline: validate, compile, portfolio stage, staffing stage, plan.

Stage 1 is a relaxation of the whole problem, so its best bound bounds every plan;
the reported objective is recomputed from the final plan by the documented formula
and the gap between the two is reported as is. When staffing cannot cover what the
portfolio stage promised (skills, regions, leave, concurrency), the uncovered FTE is
reserved out of that role's capacity and stage 1 is solved again (round 0's model, re-solved
persistently with the new reserve). Each round's schedule is also made into a valid plan
directly by shedding and insertion. At the end, round 0's model is re-solved as an LP
with the chosen starts fixed, for each role-month's marginal value.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from models.formulation.assemble import build_plan, set_bound
from models.solver.bound_search import BoundSearch, Refine
from models.contract.check import check_plan
from models.formulation.coverage_cuts import violated_coverage
from models.pipeline.diagnose import infeasibility
from models.pipeline.exact import applies as exact_applies
from models.pipeline.exact import prove
from models.heuristics.constructive import constructive_schedule, serial_plan
from models.solver.highs import SolveOutcome, Watch
from models.heuristics.insertion import insert_trials
from models.formulation.instance import Instance, compile_instance
from models.heuristics.lp_roster import lp_roster
from models.formulation.objective import plan_objective, year_spend
from models.contract.plan import Explanation, Plan, StageTiming
from models.formulation.portfolio import (
    CutPortfolioModel,
    PortfolioResult,
    Reserve,
    exact_lp_bound,
    marginal_values,
    schedule_keys,
    solve_portfolio,
)
from models.contract.problem import Problem, ProblemInvalid
from models.solver.progress import Monitor, ProgressSink, StopFlag, relative_gap
from models.solver.settings import EngineSettings
from models.heuristics.sgs import applies as sgs_applies
from models.heuristics.sgs import tighten_for_makespan
from models.heuristics.shed import Staffed, budget_roster, overruns, shed
from models.formulation.staffing import StaffingModel, StaffingResult, candidate_bound, solve_staffing_mip, staffing_cost
from models.contract.validation import semantic_errors


#: In reproducible mode, the share of the time limit whose work (see ``EngineSettings.work_limit``)
#: each HiGHS run of the bound search, of the exact model and of the staffing MIP may do.
REPRODUCIBLE_BOUND_SHARE = 0.3
#: Least time a bound search must have before the deadline to start.
MIN_BOUND_SEARCH_SECONDS = 2.0
#: How many rosters' time (as long as the longest so far) must be left for the late
#: roster of the constructive plan to start on a portfolio too large to staff it beside round 0.
LATE_ROSTER_MARGIN = 1.5
#: A repair round's soft limit, as a multiple of round 0's HiGHS time (see solve()).
SETTLE_FACTOR = 1.5
#: Least time left in the bound search for a round that only looks for a better plan.
MIN_IMPROVE_SECONDS = 3.0
#: Building and checking the plan at the end, per staff-month of the problem (1.1 s and
#: 1.7 s at 10x the reference, 180,000 staff-months; 0.15 s and 0.14 s at its size).
ASSEMBLY_SECONDS_PER_STAFF_MONTH = 2e-5
#: Most of the time limit kept for that.
MAX_ASSEMBLY_SHARE = 0.25
#: How long past the time limit a fallback may still run when it would give the first plan of all.
LAST_CALL_SECONDS = 0.5
#: Share of the time left kept for the roster after a pure scheduling problem's only round.
PURE_STAFFING_SHARE = 0.1
#: Most of the time left that the staffing MIP may take.
STAFFING_MIP_SHARE = 0.3
#: Least time left under the limit for a HiGHS run (a portfolio round, the staffing MIP) to start.
MIN_SOLVER_SECONDS = 0.5
#: Least time left under the limit for the marginal-value LP to run (it re-solves a model
#: already loaded in HiGHS, with every start fixed: well under a second on the reference).
MARGINAL_SECONDS = 1.0


def solve(
    problem: Problem,
    settings: EngineSettings | None = None,
    *,
    progress: ProgressSink | None = None,
    stop: StopFlag | None = None,
    started: float | None = None,
) -> Plan:
    """Solve a planning problem and return a complete plan (never raises for infeasibility).

    ``progress`` receives incumbent, bound and gap while HiGHS runs; once ``stop()`` returns
    True the solve stops and returns the best fully staffed plan it can still assemble
    (status ``feasible``), or ``no_solution`` if there is none. The time limit counts from
    ``started`` (a ``time.perf_counter`` moment, e.g. when the command that asked began)
    or else from now; the plan is back within about a second of it.
    Raises :class:`ProblemInvalid` for an invalid problem: nothing is solved then.
    """
    began = time.perf_counter() if started is None else min(started, time.perf_counter())
    errors = semantic_errors(problem)
    if errors:
        raise ProblemInvalid(errors)
    settings = settings or EngineSettings.from_problem(problem.settings)
    monitor = Monitor(progress, stop, began)
    # Every stage ends by the deadline; what is left after it assembles and checks the plan.
    deadline = began + settings.time_limit - assembly_reserve(problem, settings.time_limit)
    # A fallback that finds the first plan of all may run on a little past the limit.
    last_call = began + settings.time_limit + LAST_CALL_SECONDS
    compiling = time.perf_counter()
    inst = compile_instance(problem)
    tighten_for_makespan(inst)
    timings = [StageTiming(stage="compile", seconds=time.perf_counter() - compiling)]

    unschedulable = [t for t in sorted(inst.forced_run) if not any(inst.starts[(t, o.id)] for o in inst.trials[t].options)]
    if unschedulable:
        return _empty(
            "infeasible",
            "trials that must run have no feasible start",
            [Explanation(trial=t, reason="no start month satisfies its window, deadline, predecessors and pins") for t in unschedulable],
            began,
            timings,
        )

    best = _Best(inst, problem.objective.kind, monitor)
    heuristic_began = time.perf_counter()
    start = constructive_schedule(inst)
    timings.append(StageTiming(stage="heuristic", seconds=time.perf_counter() - heuristic_began, status="heuristic"))
    if start is None:
        # Where the constructive schedule fails (people holding several roles, one trial at
        # a time), the serial plan with people booked as they go is the fallback and HiGHS's
        # first incumbent.
        serial = _serial(inst, best, timings, last_call)
        if serial is not None:
            start = serial.schedule
    beside_round0 = start is not None and len(inst.staff) * len(inst.trials) <= settings.staff_heuristic_beside_below
    beside = None
    if beside_round0 and start is not None:
        if settings.reproducible:
            # No second thread racing HiGHS: the constructive plan is staffed first, and round 0 starts from it.
            _staff_heuristic(inst, start, best, timings, last_call, deadline)
        else:
            beside = _HeuristicBeside(inst, start, deadline, last_call)

    lp_bound: float | None = None
    if settings.cost_tiers is not None:
        lp_bound, lp_outcome = exact_lp_bound(inst, settings, max(0.0, 0.2 * (deadline - time.perf_counter())))
        timings.append(_timing("exact-lp-bound", lp_outcome))

    reserve = Reserve()
    search: BoundSearch | None = None
    first: PortfolioResult | None = None
    bound: float | None = None
    ended = "rounds"  # why the rounds ended: "rounds" (all run), "time" (the limit), "stop" (on request)
    clock_ruled: list[str] = []  # HiGHS runs the clock ended rather than their work limit or gap
    converged = False
    proven = False  # the best plan is within the gap of a proven bound
    for round_ in range(settings.repair_rounds + 1):
        # A repair round is worth starting only if its stage-1 run and the roster after it fit.
        if monitor.stopped() or time.perf_counter() + MIN_SOLVER_SECONDS + _roster_seconds(timings) >= deadline:
            ended = "stop" if monitor.stopped() else "time"
            break
        if search is not None:
            _aim(search, first, best.objective, settings)
        if round_ > 0 and _proven_within_gap(best, bound, search, first, settings):
            converged = proven = True
            break
        # Once a plan needed no repair, a round only looks for a better one, while the bound
        # search runs: the round and the roster after it end by the time the search does.
        improving = converged
        improve_by = search.until - _staffing_seconds(timings) if search is not None else 0.0
        if improving and (search is None or not search.running or improve_by - time.perf_counter() < MIN_IMPROVE_SECONDS):
            break
        remaining = deadline - time.perf_counter()
        watch = Watch(monitor, f"portfolio[{round_}]")
        warm = best.solved.schedule if best.solved is not None else start
        beat = best.objective if round_ > 0 else None
        limit, soft = round_limits(inst, settings, remaining, round_)
        nominal = settings.time_limit * (settings.portfolio_share_max if round_ == 0 else settings.portfolio_share)
        round_settings = settings
        if improving and search is not None:
            limit = min(limit, improve_by - time.perf_counter())
            # Another seed: the same search from the same start would retrace the round that found the plan.
            round_settings = replace(settings, seed=settings.seed + round_)
            watch.enough = lambda: _proven_within_gap(best, bound, search, first, settings)
        relaxes = reserve.relaxes()
        settle = round_ > 0 and not relaxes
        if soft is not None and not settings.reproducible:  # reproducible mode limits work, not time
            watch.soft_deadline, watch.soft_gap = time.perf_counter() + soft, settings.extend_gap
        elif settle and first is not None and not settings.reproducible:
            # A repair round's search is luck: from one seed HiGHS had a plan at 2 s and was
            # done, from another it branched 13 s for a worse one. Past a while each run
            # settles for what it has; a later round looks again from another seed.
            watch.soft_after, watch.soft_gap = SETTLE_FACTOR * first.outcome.solver_seconds, settings.extend_gap
        late = beside.ready if beside is not None else None
        # A round whose reserve is no relaxation has no bound to tighten: its first schedule worth staffing will do.
        stage1 = solve_portfolio(
            inst, round_settings, limit, reserve, watch, warm, beat, first, late, settle=settle, nodes=settings.work_limit(nominal)
        )
        timings.append(_timing(f"portfolio[{round_}]", stage1.outcome))
        if stage1.outcome.time_limited:
            clock_ruled.append(f"portfolio[{round_}]")
        if round_ == 0:
            bound = best.bound = _tighter(problem.objective.kind, stage1.bound, lp_bound)
            first = stage1
        elif relaxes:
            # Only coverage rows learnt: still a relaxation, so this round's bound bounds every
            # plan; proven to have nothing that beats the plan in hand, the plan is the bound.
            found = beat if stage1.outcome.infeasible else stage1.bound
            bound = best.bound = _tighter(problem.objective.kind, bound, found)
        if beside is not None:
            beside.collect(best, timings, alongside=f"portfolio[{round_}]")
            beside = None
        if round_ == 0 and not settings.reproducible:
            search = _start_bound_search(stage1, settings, deadline)
        if search is not None:
            _aim(search, first, best.objective, settings)
        if not stage1.outcome.has_solution:
            if stage1.outcome.infeasible and round_ == 0:
                diagnosing = time.perf_counter()
                why = infeasibility(problem, settings, deadline)
                timings.append(StageTiming(stage="diagnosis", seconds=time.perf_counter() - diagnosing))
                return _empty("infeasible", "no plan satisfies every rule (portfolio stage proved it)", why, began, timings)
            ended = "rounds" if stage1.outcome.infeasible else "time"
            break
        if time.perf_counter() >= (deadline if best.solved is not None else last_call):
            ended = "time"  # no time left to staff this schedule (with no plan in hand, a little past the limit)
            break
        staffing = staff_schedule(inst, settings, stage1.schedule, deadline, timings, round_, monitor)
        attempt = Staffed(stage1.schedule, staffing)
        if not _repair(inst, stage1, staffing, reserve):
            best.consider(attempt, f"portfolio[{round_}]")
            reserve.tried.append(schedule_keys(stage1.schedule))
            converged = True
            continue
        shed_began = time.perf_counter()
        if (kept := shed(inst, attempt.schedule, attempt.staffing, deadline)) is not None:
            grown = insert_trials(inst, kept, best.score, deadline, roster_seconds=_roster_seconds(timings))
            best.consider(grown, f"shed[{round_}]")
        timings.append(StageTiming(stage=f"shed[{round_}]", seconds=time.perf_counter() - shed_began, status="heuristic"))

    if beside is not None:
        beside.collect(best, timings, alongside="")
    # Staffing the constructive schedule takes a roster or more (shedding re-rosters): it
    # starts only if LATE_ROSTER_MARGIN rosters fit before the deadline, or if nothing
    # else was found. With one roster's room, at 10x it started at 97 s of 120 and the
    # plan came back at 116 s, 119.5 s wall with start-up, parsing and writing.
    # Not once the plan is proven within the gap: at 10x that roster took the 57 s left.
    fits = late_roster_fits(timings, deadline - time.perf_counter()) and not proven
    if start is not None and not beside_round0 and (best.solved is None or (not monitor.stopped() and fits)):
        _staff_heuristic(inst, start, best, timings, deadline if best.solved is not None else last_call, deadline)
    if best.solved is None and not monitor.stopped() and not any(t.stage == "serial" for t in timings):
        # Nothing staffed the schedules found: running trials one after another may still fit.
        _serial(inst, best, timings, last_call)

    if monitor.stopped():
        message = "stopped on request: best plan found so far"
    elif not converged and ended == "time":
        message = "the time limit ended the repair rounds before staffing matched the portfolio stage: best fully staffed plan found"
    elif not converged:
        message = f"staffing did not match the portfolio stage within {settings.repair_rounds} repair rounds: best fully staffed plan found"
    else:
        message = ""
    if best.solved is None:
        if ended == "time" or not converged:
            return _empty("no_solution", "no fully staffed plan found within the time limit", [], began, timings)
        return _empty("no_solution", message or "no fully staffed plan found", [], began, timings)
    if settings.reproducible and first is not None and not monitor.stopped() and not _proven_within_gap(best, bound, None, first, settings):
        # The bound search after the rounds, not beside them, and limited by work.
        search = _start_bound_search(first, settings, deadline, settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE))
    if search is not None and first is not None and first.model is not None:
        bound = _finish_bound_search(search, first, best.objective, bound, settings, monitor, timings)
        if search.time_limited:
            clock_ruled.append("bound-search")
    bound = _prove_exactly(inst, settings, best, bound, deadline, monitor, timings, clock_ruled)
    checked = _checked_plan(inst, best, timings, bound, settings, message, _why_gap(inst, timings, deadline))
    if checked is None:
        return _empty("no_solution", "no plan found passes the plan checker", [], began, timings)
    plan, schedule = checked
    if settings.reproducible and (clock_ruled or ended == "time" or time.perf_counter() + MIN_SOLVER_SECONDS >= deadline):
        ruled = ", ".join(clock_ruled) or "the last stages"
        plan.message = "; ".join(
            [m for m in (plan.message, f"reproducible mode: the time limit, not the work limit, ended {ruled}: another run may differ") if m]
        )
    if first is not None and not monitor.stopped():
        _add_marginal_values(plan, inst, first, schedule, settings, deadline)
    plan.solve_seconds = time.perf_counter() - began
    monitor.report("done", plan.objective, plan.best_bound, force=True)
    return plan


def _checked_plan(
    inst: Instance,
    best: "_Best",
    timings: list[StageTiming],
    bound: float | None,
    settings: EngineSettings,
    message: str,
    why_gap: str,
) -> tuple[Plan, dict[str, tuple[str, int]]] | None:
    """The best candidate plan that the independent checker accepts, with its schedule (None if none does).

    Every candidate is valid by construction; the checker is the engine's guard against
    its own bugs (SPEC §4: the engine never returns a plan the checker rejects). A
    candidate it rejects is passed over for the next best, and the plan says so."""
    rejected: list[str] = []
    for solved, source in best.ranked():
        began = time.perf_counter()
        plan = build_plan(inst, solved.schedule, solved.staffing, [*timings, StageTiming(stage=f"chosen: {source}", seconds=0.0, status="heuristic")])
        plan.stages.append(StageTiming(stage="plan", seconds=time.perf_counter() - began))
        set_bound(plan, bound)
        within_gap = plan.gap is not None and plan.gap <= settings.mip_gap + 1e-9
        stopped = message.startswith("stopped")
        plan.status = "optimal" if within_gap and not stopped and not rejected else "feasible"
        began = time.perf_counter()
        violations = check_plan(inst.problem, plan)
        plan.stages.append(StageTiming(stage="check", seconds=time.perf_counter() - began))
        if violations:
            rejected.append(f"{source} ({violations[0].rule}: {violations[0].message})")
            continue
        notes = [message] if message else []
        if not within_gap and not stopped:
            gap = "no bound" if plan.gap is None else f"gap {plan.gap:.2%}"
            notes.append(f"{gap}, above the {settings.mip_gap:.2%} asked for: {why_gap}")
        if rejected:
            notes.append(f"passed over {len(rejected)} better plan(s) that broke a rule, first {rejected[0]}")
        plan.message = "; ".join(notes) or plan.message
        return plan, solved.schedule
    return None


def _prove_exactly(
    inst: Instance,
    settings: EngineSettings,
    best: "_Best",
    bound: float | None,
    deadline: float,
    monitor: Monitor,
    timings: list[StageTiming],
    clock_ruled: list[str],
) -> float | None:
    """Where the plan is not proven within the gap and the portfolio is small, the time left
    goes to the monolithic model (:mod:`models.pipeline.exact`): a better plan joins the candidates,
    and its bound, valid for every plan, tightens ``bound``."""
    gap = relative_gap(best.objective, bound)
    left = deadline - time.perf_counter()
    if best.solved is None or best.objective is None or monitor.stopped() or (gap is not None and gap <= settings.mip_gap):
        return bound
    if left < MIN_SOLVER_SECONDS or not exact_applies(inst):
        return bound
    nodes = settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE)
    found = prove(inst, settings, best.solved, best.objective, left, Watch(monitor, "exact"), nodes)
    if found is None:
        return bound
    timings.append(_timing("exact", found.outcome))
    if found.outcome.time_limited:
        clock_ruled.append("exact")
    if found.plan is not None:
        best.consider(found.plan, "exact")
    return _tighter(inst.problem.objective.kind, bound, found.bound)


def _why_gap(inst: Instance, timings: list[StageTiming], deadline: float) -> str:
    """Why a plan may come back further from its bound than the planner asked for."""
    if time.perf_counter() + MIN_SOLVER_SECONDS >= deadline:
        return "the time limit ran out first"
    if any(t.stage == "exact" for t in timings):
        return "the exact model of this small portfolio did not close it in the time left"
    return (
        "the bound is the portfolio stage's, which prices staffing over groups of people (limits of "
        "concurrent trials, skills, regions and leave only in part), and the portfolio is too large "
        "for the exact model"
    )


def assembly_reserve(problem: Problem, time_limit: float) -> float:
    """Seconds kept after the last stage to build the plan and check it: about
    ``ASSEMBLY_SECONDS_PER_STAFF_MONTH`` per staff-month (2.8 s at 10x the reference,
    measured), at most ``MAX_ASSEMBLY_SHARE`` of the limit."""
    estimate = ASSEMBLY_SECONDS_PER_STAFF_MONTH * len(problem.staff) * problem.horizon.months
    return min(MAX_ASSEMBLY_SHARE * time_limit, estimate)


def _proven_within_gap(
    best: "_Best", bound: float | None, search: BoundSearch | None, first: PortfolioResult | None, settings: EngineSettings
) -> bool:
    """Whether the best plan so far is already within the gap of a proven bound (round 0's,
    or what the bound search has proven so far): a repair round could then only improve a
    plan that meets the planner's own target, at the cost of its time."""
    if best.objective is None or first is None or first.model is None:
        return False
    if search is not None:
        bound = _tighter(first.model.inst.problem.objective.kind, bound, first.model.in_objective_sense(search.bound))
    found = relative_gap(best.objective, bound)
    return found is not None and found <= settings.mip_gap + 1e-9


def _start_bound_search(stage1: PortfolioResult, settings: EngineSettings, until: float, nodes: int | None = None) -> BoundSearch | None:
    """Search on in round 0's model for a tighter bound while the rest of the solve runs (see
    :mod:`models.solver.bound_search`), if round 0 left a gap or named pricing can tighten its
    optimum, and at least ``MIN_BOUND_SEARCH_SECONDS`` remain before ``until``."""
    seconds = until - time.perf_counter()
    found = stage1.outcome
    if not settings.bound_search or seconds < MIN_BOUND_SEARCH_SECONDS or stage1.solver is None or not found.has_solution:
        return None
    refine = _named_refinement(stage1, settings)
    if stage1.solver._solver_model is None or ((relative_gap(found.objective, found.bound) or 0.0) <= 1e-9 and refine is None):
        return None
    return BoundSearch(stage1.solver._solver_model, settings, seconds, refine, nodes)


def _named_refinement(stage1: PortfolioResult, settings: EngineSettings) -> Refine | None:
    """Cuts from each month's LP over named people for the bound search's copy of round 0's
    cut model (portfolios up to ``EngineSettings.named_bound_below`` staff x trials).

    Round 0 prices labour over capacity groups, which ignores what each trial's skills and
    regions and each person's rate cost; the named month LP prices them, and any of its
    cuts only underprices a roster, so the copy stays a relaxation. On the reference the
    cuts at round 0's schedule alone took the proven optimum from 2.2623e9 to 2.2603e9."""
    model, solver = stage1.model, stage1.solver
    if not isinstance(model, CutPortfolioModel) or model.named or solver is None:
        return None
    if len(model.inst.staff) * len(model.inst.trials) > settings.named_bound_below:
        return None
    cuts = model.named_cuts()
    column = dict(solver._pyomo_var_to_solver_var_map)
    x_cols = [column[id(model.m.x[i])] for i in range(len(model.keys))]
    theta_cols = {mo: column[id(var)] for mo, var in model.m.theta.items()}

    def refine(values: Sequence[float]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        out = []
        for terms, lower in cuts([values[c] for c in x_cols], {mo: values[c] for mo, c in theta_cols.items()}):
            merged: dict[int, float] = defaultdict(float)  # a start enters once per role it demands
            for coef, var in terms:
                merged[column[id(var)]] += coef
            out.append((np.array(list(merged), dtype=np.int32), np.array(list(merged.values())), lower))
        return out

    return refine


def _finish_bound_search(
    search: BoundSearch,
    first: PortfolioResult,
    objective: float | None,
    bound: float | None,
    settings: EngineSettings,
    monitor: Monitor,
    timings: list[StageTiming],
) -> float | None:
    """The tighter of ``bound`` and the search's, once the search has proven the plan within
    the gap asked for, ended by itself, reached the deadline or a stop was asked for: the
    planner's limit is there to prove the plan (SPEC §4), so a plan not yet proven waits."""
    model = first.model
    assert model is not None
    kind = model.inst.problem.objective.kind
    waited = time.perf_counter()
    if objective is not None and not monitor.stopped() and (relative_gap(objective, bound) or 0.0) > settings.mip_gap:
        _aim(search, first, objective, settings)
        search.wait(search.until, monitor.stopped)
    found, seconds = search.finish()
    now = time.perf_counter()
    # The search ran beside staffing and the repair rounds; whatever the plan then waited
    # for it is wall time spent in HiGHS.
    timings.append(
        StageTiming(stage="bound-search", seconds=now - search.began, solver_seconds=seconds, status="bound", alongside="staffing", nodes=search.nodes)
    )
    timings.append(StageTiming(stage="bound-wait", seconds=now - waited, solver_seconds=now - waited, status="bound"))
    return _tighter(kind, bound, model.in_objective_sense(found))


def _aim(search: BoundSearch, first: PortfolioResult | None, objective: float | None, settings: EngineSettings) -> None:
    """Tell the search the bound that proves the best plan so far within the gap (it stops there)."""
    if first is None or first.model is None or objective is None:
        return
    kind = first.model.inst.problem.objective.kind
    target = first.model.in_solver_sense(objective + (1 if kind == "value" else -1) * settings.mip_gap * max(1.0, abs(objective)))
    search.target = math.inf if target is None else target


def late_roster_fits(timings: list[StageTiming], remaining: float) -> bool:
    """Whether ``LATE_ROSTER_MARGIN`` rosters, each as long as the longest so far, fit in ``remaining`` seconds."""
    return LATE_ROSTER_MARGIN * _roster_seconds(timings) < remaining


def _staffing_seconds(timings: list[StageTiming]) -> float:
    """How long staffing one round's schedule took so far (all its rosters; the longest round)."""
    rounds: dict[str, float] = defaultdict(float)
    for t in timings:
        if t.stage.startswith("staffing-"):
            rounds[t.stage[t.stage.find("[") :]] += t.seconds
    return max(rounds.values(), default=0.0)


def _roster_seconds(timings: list[StageTiming]) -> float:
    """How long a greedy roster of this portfolio took so far (the longest; 0 before any)."""
    return max((t.seconds for t in timings if t.stage.startswith("staffing-greedy")), default=0.0)


def round_limits(inst: Instance, settings: EngineSettings, remaining: float, round_: int) -> tuple[float, float | None]:
    """A portfolio round's time limit out of the ``remaining`` seconds, and for round 0 the
    soft limit past which it stops once within ``EngineSettings.extend_gap`` (else None).

    A pure scheduling problem (no budgets, skills, regions, pins or limits of concurrent
    trials that can bind) leaves staffing nothing to break, so the portfolio stage may use
    nearly all the time: all but ``PURE_STAFFING_SHARE`` of it, for the roster.
    """
    if sgs_applies(inst):
        return max(0.0, remaining * (1 - PURE_STAFFING_SHARE)), None
    limit = remaining * settings.portfolio_share
    if round_ == 0 and settings.portfolio_share < settings.portfolio_share_max:
        return max(0.0, remaining * settings.portfolio_share_max), limit
    return max(0.0, limit), None


def _serial(inst: Instance, best: "_Best", timings: list[StageTiming], deadline: float) -> Staffed | None:
    """The serial plan with people booked as they go (see :func:`models.heuristics.constructive.serial_plan`), offered to ``best``."""
    began = time.perf_counter()
    serial = serial_plan(inst, deadline)
    if serial is not None:
        best.consider(serial, "serial")
    timings.append(StageTiming(stage="serial", seconds=time.perf_counter() - began, status="heuristic"))
    return serial


def _staff_heuristic(
    inst: Instance, start: dict[str, tuple[str, int]], best: "_Best", timings: list[StageTiming], shed_by: float, insert_by: float
) -> None:
    """Staff the constructive schedule last, on portfolios above
    ``EngineSettings.staff_heuristic_beside_below`` (staff x trials), where one greedy roster
    costs real time: it runs if ``LATE_ROSTER_MARGIN`` rosters fit in the time left, or if
    nothing else was found.
    (Smaller portfolios staff it beside round 0: see :class:`_HeuristicBeside`.)"""
    began = time.perf_counter()
    if (kept := _staffed_heuristic(inst, start, shed_by, insert_by)) is not None:
        best.consider(kept, "heuristic")
    timings.append(StageTiming(stage="heuristic-staffing", seconds=time.perf_counter() - began, status="heuristic"))


def _staffed_heuristic(
    inst: Instance, start: dict[str, tuple[str, int]], deadline: float = math.inf, insert_by: float = math.inf
) -> Staffed | None:
    """The constructive schedule with a roster, shedding what breaks a rule (None if nothing
    valid is left, or if the ``deadline`` passes first), then optional trials put back while
    they fit and pay, until ``insert_by``."""
    kept, roster_seconds = _shed_heuristic(inst, start, deadline)
    return None if kept is None else _insert_heuristic(inst, kept, insert_by, roster_seconds)


def _shed_heuristic(inst: Instance, start: dict[str, tuple[str, int]], deadline: float = math.inf) -> tuple[Staffed | None, float]:
    """The constructive schedule rostered and shed to a valid plan, and how long its roster took."""
    began = time.perf_counter()
    roster = budget_roster(inst, start, deadline)
    roster_seconds = time.perf_counter() - began
    return shed(inst, start, roster, deadline), roster_seconds


def _insert_heuristic(inst: Instance, kept: Staffed, insert_by: float, roster_seconds: float) -> Staffed:
    """Shedding is blunt (on the reference it drops five trials, 1.72e9); insertion puts
    four back (2.12e9) in about 5 s."""
    return insert_trials(inst, kept, lambda solved: _minimised(inst, solved), insert_by, roster_seconds=roster_seconds)


def _minimised(inst: Instance, solved: Staffed) -> float:
    """A staffed schedule's objective in minimisation form (value is maximised, so negated)."""
    objective = plan_objective(inst, solved.schedule, solved.staffing)
    return -objective if inst.problem.objective.kind == "value" else objective


class _HeuristicBeside:
    """The constructive plan staffed on a worker thread while round 0 runs in HiGHS.

    On portfolios up to ``EngineSettings.staff_heuristic_beside_below`` this plan is the
    fallback every solve can return; staffing it first cost 5 s of the reference's wall
    time before HiGHS started. HiGHS releases the GIL while it searches, so the roster
    takes the machine's second core instead. The worker starts when HiGHS first asks for
    a user solution (after its set-up): started with round 0, it slowed the Pyomo build
    and hand-over, which need the GIL, by 1.5 s on the reference. Once staffed, its
    schedule is handed to HiGHS as a solution (HiGHS asks for one repeatedly at the root
    node). The plan joins the candidates from the main thread (progress reports stay on
    one thread); if HiGHS never asked, it is staffed then.
    """

    def __init__(self, inst: Instance, start: dict[str, tuple[str, int]], deadline: float, last_call: float):
        # Shedding makes the fallback plan, which may run to the last call; insertion only improves it.
        self._inst, self._start, self._deadline, self._last_call = inst, start, deadline, last_call
        self._shed: tuple[dict[str, tuple[str, int]], float] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pace-heuristic")
        self._future: Future[tuple[Staffed | None, float]] | None = None

    def _begin(self) -> Future[tuple[Staffed | None, float]]:
        if self._future is None:
            self._future = self._pool.submit(self._run)
        return self._future

    def _run(self) -> tuple[Staffed | None, float]:
        began = time.perf_counter()
        kept, roster_seconds = _shed_heuristic(self._inst, self._start, self._last_call)
        if kept is None:
            return None, time.perf_counter() - began
        self._shed = kept.schedule, plan_objective(self._inst, kept.schedule, kept.staffing)
        return _insert_heuristic(self._inst, kept, self._deadline, roster_seconds), time.perf_counter() - began

    def ready(self) -> tuple[dict[str, tuple[str, int]], float] | None:
        """The shed plan's schedule and objective once it is staffed (None before, or if nothing
        valid was left): round 0 hands it to HiGHS as a solution while it runs, and insertion goes on.
        Handing HiGHS the plan after insertion instead (2.12e9 on the reference, found
        later) moved the generated 1x portfolio's result from 2.44 % to 3.01 % (one run
        each). The first call starts the roster."""
        self._begin()
        return self._shed

    def collect(self, best: "_Best", timings: list[StageTiming], alongside: str) -> None:
        """Wait for the plan (staffing it now if HiGHS never asked), offer it to ``best`` and record its time."""
        overlapped = self._future is not None
        try:
            kept, seconds = self._begin().result()
        finally:
            self._pool.shutdown()
        if kept is not None:
            best.consider(kept, "heuristic")
        timings.append(
            StageTiming(stage="heuristic-staffing", seconds=seconds, status="heuristic", alongside=alongside if overlapped else "")
        )


class _Best:
    """The best fully staffed plan seen so far, by the objective's own sense; each new best
    is reported as progress (with the bound once round 0 has one), so a caller sees a
    real plan's objective before and between the HiGHS runs."""

    def __init__(self, inst: Instance, kind: str, monitor: Monitor):
        self.inst = inst
        self.monitor = monitor
        self.bound: float | None = None
        self.maximise = kind == "value"
        self.objective: float | None = None
        self.solved: Staffed | None = None
        self.source = ""
        self._seen: list[tuple[float, int, Staffed, str]] = []

    def ranked(self) -> list[tuple[Staffed, str]]:
        """Every plan considered, best first (the first found first among equals)."""
        return [(solved, source) for _, _, solved, source in sorted(self._seen, key=lambda c: (c[0], c[1]))]

    def score(self, solved: Staffed) -> float:
        """The plan's objective in minimisation form (value is maximised, so negated)."""
        return _minimised(self.inst, solved)

    def consider(self, solved: Staffed, source: str) -> None:
        score = self.score(solved)
        self._seen.append((score, len(self._seen), solved, source))
        if self.objective is not None and score >= (-self.objective if self.maximise else self.objective):
            return
        objective = -score if self.maximise else score
        self.objective, self.solved, self.source = objective, solved, source
        self.monitor.report(source, objective, self.bound, force=True)


def _add_marginal_values(
    plan: Plan,
    inst: Instance,
    first: PortfolioResult,
    schedule: dict[str, tuple[str, int]],
    settings: EngineSettings,
    deadline: float,
) -> None:
    """Each role-month's marginal value from a persistent LP re-solve of round 0's model (see
    :func:`models.formulation.portfolio.marginal_values`), only while at least ``MARGINAL_SECONDS`` of
    the time limit remain: the limit is the planner's, explanations come second."""
    remaining = deadline - time.perf_counter()
    if remaining < MARGINAL_SECONDS:
        return
    values, outcome = marginal_values(first, schedule, settings, remaining)
    if outcome is not None:
        plan.stages.append(_timing("marginal-values", outcome))
    for rm in plan.role_months:
        rm.marginal_value = values.get((rm.role, inst.problem.index(rm.month)))


def _tighter(kind: str, a: float | None, b: float | None) -> float | None:
    """The tighter of two bounds: the lower of two upper bounds when maximising value, else the higher."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b) if kind == "value" else max(a, b)


def staff_schedule(
    inst: Instance,
    settings: EngineSettings,
    schedule: dict[str, tuple[str, int]],
    deadline: float,
    timings: list[StageTiming],
    round_: int,
    monitor: Monitor | None = None,
) -> StaffingResult:
    """The best of the greedy roster, the month-by-month LP roster (up to
    ``EngineSettings.lp_roster_below`` staff x trials) and the staffing MIP (when that is
    small enough), ranked by :func:`roster_rank`."""
    began = time.perf_counter()
    best = budget_roster(inst, schedule, deadline)
    greedy_seconds = time.perf_counter() - began
    timings.append(StageTiming(stage=f"staffing-greedy[{round_}]", seconds=greedy_seconds, status="heuristic"))
    rank = roster_rank(inst, schedule, best)
    # The LP roster starts only if one as long as the last (before any, the greedy one) fits.
    lp_seconds = max((t.seconds for t in timings if t.stage.startswith("staffing-lp")), default=greedy_seconds)
    if len(inst.staff) * len(inst.trials) <= settings.lp_roster_below and time.perf_counter() + lp_seconds < deadline:
        began = time.perf_counter()
        lp = lp_roster(inst, schedule)
        timings.append(StageTiming(stage=f"staffing-lp[{round_}]", seconds=time.perf_counter() - began, status="heuristic"))
        if (lp_rank := roster_rank(inst, schedule, lp)) < rank:
            best, rank = lp, lp_rank
    # Counting eligible people per segment bounds the model's candidates without its
    # month-by-month check (13 s for 2.2 million candidates at 10x the reference).
    if candidate_bound(inst, schedule) > settings.staffing_mip_max_pairs:
        return best
    model = StaffingModel(inst, schedule)
    if 0 < len(model.pairs) <= settings.staffing_mip_max_pairs:
        # A share of what is left: the MIP competes with rosters already in hand, and a
        # repair round after it may matter more (on a 5x portfolio it once took 18 s of 20).
        remaining = STAFFING_MIP_SHARE * (deadline - time.perf_counter())
        if remaining < MIN_SOLVER_SECONDS:
            return best
        mip = solve_staffing_mip(model, settings, remaining, monitor, settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE))
        timings.append(_timing(f"staffing-mip[{round_}]", mip.outcome))
        if mip.outcome.has_solution and roster_rank(inst, schedule, mip) < rank:
            best = mip
    return best


def roster_rank(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> tuple[float, float, float]:
    """How good a roster is, smaller first: uncovered FTE, then budget overrun (either
    sends the schedule back to repair, which costs far more than any roster), then
    cost (staff, flex, fragmentation)."""
    return (round(sum(staffing.shortfall.values()), 6), round(sum(overruns(inst, schedule, staffing).values()), 2), staffing_cost(inst, staffing))


def _repair(inst: Instance, stage1: PortfolioResult, staffing: StaffingResult, reserve: Reserve) -> bool:
    """Feed back what staffing could not deliver (uncovered FTE, budget overrun); True if anything.

    Uncovered FTE becomes a coverage row when people eligible for overlapping trials
    cannot cover them at all, else (concurrency, contiguous blocks) that FTE is held back
    from the role's capacity in that month.

    An overrun first recalibrates that year's labour price factor (real roster cost over
    stage 1's curve-priced labour); once the factor stops rising, the overrun itself is
    held back from the budget. (A 1 % margin on the factor cost the reference 0.3 % of its
    objective: in budget-tight years a unit of budget is worth about 20 of value.)
    """
    schedule = stage1.schedule
    repaired = False
    if inst.problem.objective.weights.shortfall is None:
        short: dict[tuple[str, int], float] = defaultdict(float)
        for (_, r, mo), v in staffing.shortfall.items():
            short[(r, mo)] += v
        for (r, mo), v in short.items():
            repaired = True
            cut = violated_coverage(inst, schedule, r, mo)
            if cut is not None and cut not in reserve.coverage:
                reserve.coverage.append(cut)
            else:
                reserve.capacity[(r, mo)] += v
    budget = inst.problem.budget
    if budget.per_year or budget.total is not None:
        labour = year_spend(inst, {}, staffing)
        external = inst.external_spend(schedule)
        spend = {y: labour.get(y, 0.0) + external.get(y, 0.0) for y in inst.years}
        over = {y: spend.get(y, 0.0) - cap for y, cap in budget.per_year.items()}
        if budget.total is not None:
            excess = sum(spend.values()) - budget.total
            for y in inst.years:
                over[y] = max(over.get(y, 0.0), excess / len(inst.years))
        for y, amount in over.items():
            if amount <= 1e-6 * max(1.0, spend.get(y, 0.0)):
                continue
            repaired = True
            planned = stage1.labour.get(y, 0.0)
            factor = labour.get(y, 0.0) / planned if planned > 0 else 1.0
            if factor > reserve.labour_factor[y]:
                reserve.labour_factor[y] = factor
            else:
                reserve.budget[y] += amount
    return repaired


def _timing(stage: str, o: SolveOutcome) -> StageTiming:
    status = "optimal" if o.proven_optimal else ("feasible" if o.has_solution else ("infeasible" if o.infeasible else "no_solution"))
    return StageTiming(
        stage=stage,
        seconds=o.build_seconds + o.seconds,
        build_seconds=o.build_seconds,
        solver_seconds=o.solver_seconds,
        status=status,
        variables=o.variables,
        constraints=o.constraints,
        nodes=o.nodes,
    )


def _empty(status: str, message: str, explanations: list[Explanation], began: float, timings: list[StageTiming]) -> Plan:
    return Plan(
        status=status,  # type: ignore[arg-type]
        message=message,
        explanations=explanations,
        solve_seconds=time.perf_counter() - began,
        stages=timings,
    )



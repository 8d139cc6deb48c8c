"""A solve, stage by stage.

1. **Compile** the problem into sparse index sets (:mod:`models.pipeline.compile`);
   for a pure scheduling problem, the schedule core's makespan cuts the start windows.
2. **Construct** a first schedule and a staffed plan to fall back on
   (:mod:`models.pipeline.construct`).
3. **Portfolio rounds** (:mod:`models.pipeline.rounds`): stage 1, its schedule staffed
   (:mod:`models.pipeline.roster`), what staffing could not deliver fed back
   (:mod:`models.pipeline.repair`), until a plan needs no repair or is proven.
4. **Fall back** where nothing was staffed, and **bound**: the bound search's result, the
   exact model for small portfolios (:mod:`models.pipeline.bound`).
5. **Plan**: the best candidate the checker accepts, explained
   (:mod:`models.pipeline.finish`).

Every stage ends by the clock's deadline (:mod:`models.pipeline.clock`, where every timing
rule lives with its reason).
"""

from __future__ import annotations

import time
from dataclasses import replace

from models.contract.plan import Plan, StageTiming
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import semantic_errors
from models.formulation.elastic import apply_relaxation, scaled
from models.formulation.portfolio import exact_lp_bound
from models.heuristics.constructive import constructive_schedule
from models.pipeline.bound import finish_bound_search, proven_within_gap, prove_exactly, start_bound_search
from models.pipeline.clock import CHECK_FACTORS, MIN_VERIFY_SECONDS, REPRODUCIBLE_BOUND_SHARE, timing
from models.pipeline.construct import HeuristicBeside, serial, staff_heuristic
from models.pipeline.budget import add_budget_values
from models.pipeline.compile import compile_stage, unschedulable_plan
from models.pipeline.diagnose import relaxation_explanation
from models.pipeline.finish import add_marginal_values, checked_plan, fall_back, message, reproducible_note, why_gap
from models.pipeline.rounds import portfolio_rounds
from models.pipeline.state import SolveState
from models.solver.progress import Monitor, ProgressSink, StopFlag
from models.solver.settings import EngineSettings


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
    s = compile_stage(problem, settings or EngineSettings.from_problem(problem.settings), Monitor(progress, stop, began), began)
    if (unschedulable := unschedulable_plan(s)) is not None:
        return verify_relaxations(s, unschedulable)
    construct_stage(s)
    if (infeasible := portfolio_rounds(s)) is not None:
        return verify_relaxations(s, infeasible)
    fall_back(s)
    if s.best.solved is None:
        if s.ended == "time":
            return s.empty("no_solution", "no fully staffed plan found within the time limit")
        if not s.converged:
            rounds = s.settings.repair_rounds
            return s.empty("no_solution", f"no fully staffed plan found: staffing did not match the portfolio stage within {rounds} repair rounds")
        return s.empty("no_solution", message(s) or "no fully staffed plan found")
    bound_stage(s)
    return plan_stage(s)


def verify_relaxations(s: SolveState, plan: Plan) -> Plan:
    """Each least change of an infeasible plan checked by solving the problem with it applied
    (an equal share of the time left each; no diagnosis of its own), then said in plain
    words among the explanations. The portfolio stage prices staffing optimistically, so
    where the change alone gives no plan it is tried again scaled by each of
    ``CHECK_FACTORS`` while its share lasts, and the first scale that gives a plan is kept."""
    pending = plan.relaxations
    for index, least in enumerate(pending):
        until = time.perf_counter() + (s.clock.deadline - time.perf_counter()) / (len(pending) - index)
        for factor in CHECK_FACTORS:
            seconds = until - time.perf_counter()
            if seconds < MIN_VERIFY_SECONDS or s.monitor.stopped():
                break
            change = scaled(s.problem, least, factor)
            began = time.perf_counter()
            # Any plan answers the question: the first fully staffed one ends the check.
            settings = replace(s.settings, time_limit=seconds, diagnose=False, mip_gap=1.0, bound_search=False)
            check = solve(apply_relaxation(s.problem, change), settings, stop=s.monitor.stopped)
            plan.stages.append(StageTiming(stage=f"check-change[{least.kind} x{factor:g}]", seconds=time.perf_counter() - began, status=check.status))
            least.verified = False
            if check.status in ("optimal", "feasible"):
                change.verified = True
                pending[index] = change
                break
    plan.explanations.extend(relaxation_explanation(r) for r in pending)
    plan.solve_seconds = time.perf_counter() - s.clock.began
    return plan


def construct_stage(s: SolveState) -> None:
    """The constructive schedule (the serial plan where there is none), staffed beside round 0
    on portfolios up to ``EngineSettings.staff_heuristic_beside_below`` staff x trials (first,
    in reproducible mode); the exact LP bound where stage 1 prices labour on coarse tiers."""
    inst, settings, clock = s.inst, s.settings, s.clock
    heuristic_began = time.perf_counter()
    s.start = constructive_schedule(inst)
    s.timings.append(StageTiming(stage="heuristic", seconds=time.perf_counter() - heuristic_began, status="heuristic"))
    if s.start is None:
        # Where the constructive schedule fails (people holding several roles, one trial at
        # a time), the serial plan with people booked as they go is the fallback and HiGHS's
        # first incumbent.
        found = serial(inst, s.best, s.timings, clock.last_call)
        if found is not None:
            s.start = found.schedule
    s.staffed_early = s.start is not None and len(inst.staff) * len(inst.trials) <= settings.staff_heuristic_beside_below
    if s.staffed_early and s.start is not None:
        if settings.reproducible:
            # No second thread racing HiGHS: the constructive plan is staffed first, and round 0 starts from it.
            staff_heuristic(inst, s.start, s.best, s.timings, clock.last_call, clock.deadline)
        else:
            s.beside = HeuristicBeside(inst, s.start, clock.deadline, clock.last_call)
    if settings.cost_tiers is not None:
        s.lp_bound, lp_outcome = exact_lp_bound(inst, settings, max(0.0, 0.2 * clock.left()))
        s.timings.append(timing("exact-lp-bound", lp_outcome))


def bound_stage(s: SolveState) -> None:
    """The bound search's result (in reproducible mode the search runs now, limited by
    work) and, where a gap remains on a small portfolio, the exact model's."""
    settings, first = s.settings, s.first
    if settings.reproducible and first is not None and not s.monitor.stopped() and not proven_within_gap(s.best, s.bound, None, first, settings):
        s.search = start_bound_search(first, settings, s.clock.deadline, settings.work_limit(settings.time_limit * REPRODUCIBLE_BOUND_SHARE))
    if s.search is not None and first is not None and first.model is not None:
        s.bound = finish_bound_search(s.search, first, s.best.objective, s.bound, settings, s.monitor, s.timings)
        if s.search.time_limited:
            s.clock_ruled.append("bound-search")
    s.bound = prove_exactly(s.inst, settings, s.best, s.bound, s.clock.deadline, s.monitor, s.timings, s.clock_ruled)


def plan_stage(s: SolveState) -> Plan:
    """The best plan the checker accepts, with its message, marginal values and (when asked)
    what more budget per year would buy."""
    checked = checked_plan(s.inst, s.best, s.timings, s.bound, s.settings, message(s), why_gap(s.inst, s.timings, s.clock.deadline))
    if checked is None:
        return s.empty("no_solution", "no plan found passes the plan checker")
    plan, schedule = checked
    reproducible_note(s, plan)
    if s.first is not None and not s.monitor.stopped():
        add_marginal_values(plan, s.inst, s.first, schedule, s.settings, s.clock.deadline)
        add_budget_values(plan, s.inst, s.first, schedule, s.settings, s.clock.deadline, s.monitor)
    plan.solve_seconds = time.perf_counter() - s.clock.began
    s.monitor.report("done", plan.objective, plan.best_bound, force=True)
    return plan

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

An infeasible problem instead gets its diagnosis (:mod:`models.pipeline.diagnose`) and
each least change checked by solving the changed problem (:func:`verify_relaxations`):
the one place where a solve holds genuinely independent sub-problems, so the one place a
``solve(..., executor=...)`` runs them side by side.

Every stage ends by the clock's deadline (:mod:`models.pipeline.clock`, where every timing
rule lives with its reason).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace

from models.contract.identity import portfolio_ref
from models.contract.plan import Explanation, Plan, Relaxation, StageTiming
from models.contract.problem import Problem, ProblemInvalid
from models.contract.validation import semantic_errors
from models.formulation.elastic import apply_relaxation, scaled
from models.formulation.portfolio import exact_lp_bound
from models.heuristics.consolidate import consolidate
from models.heuristics.insertion import insert_trials
from models.heuristics.constructive import constructive_schedule
from models.pipeline.bound import find_exactly, finish_bound_search, proven_within_gap, prove_exactly, start_bound_search
from models.pipeline.clock import CHECK_FACTORS, CONSOLIDATION_SHARE, INSERTION_SHARE, LAST_CALL_SECONDS, MIN_VERIFY_SECONDS, REPRODUCIBLE_BOUND_SHARE, timing
from models.pipeline.construct import HeuristicBeside, serial, staff_heuristic
from models.pipeline.budget import add_budget_values
from models.pipeline.compile import compile_stage, unschedulable_plan
from models.pipeline.diagnose import relaxation_explanation, time_limit_moment
from models.contract.precision import money_objective, round_figures
from models.pipeline.finish import add_marginal_values, checked_plan, fall_back, message, reproducible_note, why_gap
from models.pipeline.replan import keep_stage, kept_why_gap, ranked, report_changes, restaff_stage, settled, start_replan, steady_stage
from models.pipeline.rounds import portfolio_rounds
from models.pipeline.state import SolveState
from models.solver.executor import ExecutorLike, as_executor, seconds_until, submit, wait_until, wall_moment
from models.solver.progress import Monitor, ProgressSink, StopFlag
from models.solver.settings import EngineSettings


#: Why a problem is infeasible when the portfolio stage has schedules and the exact model none.
PEOPLE_BIND = (
    "the portfolio stage, which pools each role's people, finds schedules, but the exact model, with every person, "
    "proves that none can be staffed: people's limits of concurrent trials, the months each is available, skills "
    "and regions, and budgets at real rates rule every plan out together"
)


def solve(
    problem: Problem,
    settings: EngineSettings | None = None,
    *,
    progress: ProgressSink | None = None,
    stop: StopFlag | None = None,
    started: float | None = None,
    executor: ExecutorLike | None = None,
) -> Plan:
    """Solve a planning problem and return a complete plan (never raises for infeasibility).

    ``progress`` receives incumbent, bound and gap while HiGHS runs; once ``stop()`` returns
    True the solve stops and returns the best fully staffed plan it can still assemble
    (status ``feasible``), or ``no_solution`` if there is none. The time limit counts from
    ``started`` (a ``time.perf_counter`` moment, e.g. when the command that asked began)
    or else from now; the plan is back within about a second of it.
    ``executor`` (a ``concurrent.futures.Executor`` or a ``distributed.Client``) runs the
    independent sub-problems of an infeasible problem's diagnosis and checks side by side,
    each with the whole of the time left rather than a share; what is not back by the
    limit is abandoned. Without one they run one after another in this process. A feasible
    problem's solve never uses it.
    Raises :class:`ProblemInvalid` for an invalid problem: nothing is solved then.
    """
    began = time.perf_counter() if started is None else min(started, time.perf_counter())
    errors = semantic_errors(problem)
    if errors:
        raise ProblemInvalid(errors)
    pool = None if executor is None else as_executor(executor)
    plan = _stages(problem, settings or EngineSettings.from_problem(problem.settings), Monitor(progress, stop, began), began, pool)
    plan.portfolio = portfolio_ref(problem)
    return round_figures(plan, money_objective(problem))


def _stages(problem: Problem, settings: EngineSettings, monitor: Monitor, began: float, pool: Executor | None) -> Plan:
    """The stages in order (see the module docstring); an infeasible problem's sub-problems on ``pool``."""
    s = compile_stage(problem, settings, monitor, began)
    s.executor = pool
    s.replan = start_replan(s)
    if (unschedulable := unschedulable_plan(s)) is not None:
        return verify_relaxations(s, unschedulable)
    keep_stage(s)
    if settled(s):
        s.converged = True
        return plan_stage(s)
    construct_stage(s)
    if (infeasible := portfolio_rounds(s)) is not None:
        return verify_relaxations(s, infeasible)
    fall_back(s)
    if find_exactly(s.inst, s.settings, s.best, s.clock.deadline, s.monitor, s.timings, s.clock_ruled):
        # Round 0 found schedules, so the diagnosis (which relaxes the portfolio stage) would
        # find "a plan" with every rule in place: what binds is what that stage pools.
        return s.empty("infeasible", "no plan satisfies every rule (the exact model proved it)", [Explanation(reason=PEOPLE_BIND)])
    if s.best.solved is None:
        if s.monitor.stopped():
            return s.empty("no_solution", "stopped on request before any fully staffed plan was found")
        if s.ended == "time":
            return s.empty("no_solution", "no fully staffed plan found within the time limit")
        if not s.converged:
            rounds = s.settings.repair_rounds
            return s.empty("no_solution", f"no fully staffed plan found: staffing did not match the portfolio stage within {rounds} repair rounds")
        return s.empty("no_solution", message(s) or "no fully staffed plan found")
    steady_stage(s)  # these four beside the bound search, which goes on in HiGHS on the other core
    restaff_stage(s)
    insert_stage(s)
    consolidate_stage(s)
    bound_stage(s)
    return plan_stage(s)


def verify_relaxations(s: SolveState, plan: Plan) -> Plan:
    """Each least change of an infeasible plan checked by solving the problem with it applied
    (no diagnosis of its own), then said in plain words among the explanations. The
    portfolio stage prices staffing optimistically, so where the change alone gives no plan
    it is tried again scaled by each of ``CHECK_FACTORS``, and the least scale that gives a
    plan is kept. Without an executor (``SolveState.executor``) the changes are checked one
    after another, each with an equal share of the time left and its scales in turn while
    its share lasts; with one, see :func:`_checks_on`."""
    if s.executor is not None:
        _checks_on(s, plan, s.executor)
    else:
        _checks_in_turn(s, plan)
    plan.explanations.extend(relaxation_explanation(r) for r in plan.relaxations)
    plan.solve_seconds = time.perf_counter() - s.clock.began
    return plan


def _checks_in_turn(s: SolveState, plan: Plan) -> None:
    """The checks in this process, one change after another, each with its share of the time left."""
    pending = plan.relaxations
    for index, least in enumerate(pending):
        until = time.perf_counter() + (s.clock.deadline - time.perf_counter()) / (len(pending) - index)
        for factor in CHECK_FACTORS:
            seconds = until - time.perf_counter()
            if seconds < MIN_VERIFY_SECONDS or s.monitor.stopped():
                break
            change = scaled(s.problem, least, factor)
            began = time.perf_counter()
            check = solve(apply_relaxation(s.problem, change), _check_settings(s.settings, seconds), stop=s.monitor.stopped)
            plan.stages.append(StageTiming(stage=_check_stage(least, factor), seconds=time.perf_counter() - began, status=check.status))
            least.verified = False
            if check.status in ("optimal", "feasible"):
                change.verified = True
                pending[index] = change
                break


#: The stage of the checks run side by side on an executor: the time the solve waited for them.
CHECKS_STAGE = "check-changes"


@dataclass(frozen=True)
class CheckOutcome:
    """A check run on an executor: the changed problem's plan status and the solve's seconds."""

    status: str
    seconds: float


def check_change(problem: Problem, change: Relaxation, settings: EngineSettings, until: float) -> CheckOutcome | None:
    """On an executor: solve ``problem`` with ``change`` applied until the wall-clock moment
    ``until`` (None: too little time left to start when the task began)."""
    seconds = seconds_until(until)
    if seconds < MIN_VERIFY_SECONDS:
        return None
    began = time.perf_counter()
    check = solve(apply_relaxation(problem, change), _check_settings(settings, seconds))
    return CheckOutcome(check.status, time.perf_counter() - began)


def _checks_on(s: SolveState, plan: Plan, executor: Executor) -> None:
    """Every change at every scale handed to ``executor`` at once (each change at its own
    scale first, so the pool takes those before the scaled ones), each with the whole time
    left. A change that gives a plan at one scale cancels its larger scales still queued;
    the least scale that gives a plan is kept once every smaller one came back without
    one, exactly as the checks in turn would keep it. What is not back by the time limit
    (or a stop) is abandoned: its change keeps ``verified`` None, or False if a scale came
    back without a plan. The plan's stages hold ``check-changes``, the wall time of them
    all, and each check that came back, beside it."""
    pending = plan.relaxations
    if not pending or s.clock.left() < MIN_VERIFY_SECONDS or s.monitor.stopped():
        return
    until = wall_moment(s.clock.deadline)
    changes = {(i, factor): scaled(s.problem, least, factor) for factor in CHECK_FACTORS for i, least in enumerate(pending)}
    futures = {key: submit(executor, check_change, s.problem, change, s.settings, until) for key, change in changes.items()}
    key_of = {id(future): key for key, future in futures.items()}
    outcomes: dict[tuple[int, float], CheckOutcome] = {}

    def settled(future: Future[CheckOutcome | None]) -> list[Future[CheckOutcome | None]]:
        """Keep a check's outcome; one that gives a plan makes its change's larger scales unneeded."""
        index, factor = key_of[id(future)]
        if future.exception() is not None or (outcome := future.result()) is None:
            return []
        outcomes[(index, factor)] = outcome
        if outcome.status not in ("optimal", "feasible"):
            return []
        return [futures[(index, larger)] for larger in CHECK_FACTORS[CHECK_FACTORS.index(factor) + 1 :]]

    began = time.perf_counter()
    wait_until(list(futures.values()), time_limit_moment(s), s.monitor.stopped, settled)
    plan.stages.append(StageTiming(stage=CHECKS_STAGE, seconds=time.perf_counter() - began))
    for index, least in enumerate(pending):
        for factor in CHECK_FACTORS:
            outcome = outcomes.get((index, factor))
            if outcome is None:
                break  # abandoned, never started or cancelled: nothing larger may be kept
            plan.stages.append(StageTiming(stage=_check_stage(least, factor), seconds=outcome.seconds, status=outcome.status, alongside=CHECKS_STAGE))
            least.verified = False
            if outcome.status in ("optimal", "feasible"):
                change = changes[(index, factor)]
                change.verified = True
                pending[index] = change
                break


def _check_settings(settings: EngineSettings, seconds: float) -> EngineSettings:
    """A check's settings: any plan answers the question, so the first fully staffed one ends it."""
    return replace(settings, time_limit=seconds, diagnose=False, mip_gap=1.0, bound_search=False)


def _check_stage(least: Relaxation, factor: float) -> str:
    return f"check-change[{least.kind} x{factor:g}]"


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
    kept_proven = settled(s)
    if s.search is not None and first is not None and first.model is not None:
        s.bound = finish_bound_search(s.search, first, s.best.objective, s.bound, settings, s.monitor, s.timings, wait=not kept_proven)
        if s.search.time_limited:
            s.clock_ruled.append("bound-search")
    if not kept_proven:
        s.bound = prove_exactly(s.inst, settings, s.best, s.bound, s.clock.deadline, s.monitor, s.timings, s.clock_ruled)


#: The source names of a plan the last insertion pass, or consolidation, improved.
INSERTED = "insertion"
CONSOLIDATED = "consolidation"


def plan_stage(s: SolveState) -> Plan:
    """The best plan the checker accepts, with its message, marginal values and (when asked)
    what more budget per year would buy."""
    why = kept_why_gap(s) if settled(s) else why_gap(s.inst, s.timings, s.clock.deadline)
    checked = checked_plan(s.inst, ranked(s), s.timings, s.bound, s.settings, message(s), why, s.clock.last_call - LAST_CALL_SECONDS)
    if checked is None:
        return s.empty("no_solution", "no plan found passes the plan checker")
    plan, schedule, source = checked
    reproducible_note(s, plan)
    report_changes(s, plan, source)
    if s.first is not None and not s.monitor.stopped():
        add_marginal_values(plan, s.inst, s.first, schedule, s.settings, s.clock.deadline)
        add_budget_values(s, plan, schedule)
    plan.solve_seconds = time.perf_counter() - s.clock.began
    s.monitor.report("done", plan.objective, plan.best_bound, force=True)
    return plan

def insert_stage(s: SolveState) -> None:
    """Optional trials put back into the best plan while one fits what it leaves free and
    improves its objective (:func:`models.heuristics.insertion.insert_trials`): a plan that
    leaves out a trial it could run at a gain is not the best a planner can be given, and
    the portfolio rounds stop at a gap, not at such a plan. Under ``value`` and
    ``weighted_completion`` only (the others never run an optional trial), within
    ``INSERTION_SHARE`` of the time left; not in reproducible mode (its attempts are timed)."""
    best = s.best.solved
    if best is None or s.monitor.stopped() or s.settings.reproducible:
        return
    if s.problem.objective.kind not in ("value", "weighted_completion"):
        return
    began = time.perf_counter()
    until = began + INSERTION_SHARE * s.clock.left()
    inserted = insert_trials(s.inst, best, s.best.score, s.monitor.cutoff(until))
    if inserted is not best:
        s.best.consider(inserted, INSERTED)
    s.timings.append(StageTiming(stage=INSERTED, seconds=time.perf_counter() - began, status="heuristic"))


def consolidate_stage(s: SolveState) -> None:
    """The best plan's roster with fewer (person, trial) pairs where that costs less
    (:func:`models.heuristics.consolidate.consolidate`): the rosters cover each role-month
    cheapest first and spread a trial over many people, each pair paying the fragmentation
    weight. Within ``CONSOLIDATION_SHARE`` of the time left; not in reproducible mode (it may
    be cut short by time) nor in a re-plan (it would move kept work)."""
    best = s.best.solved
    if best is None or s.monitor.stopped() or s.settings.reproducible or s.replan is not None:
        return
    began = time.perf_counter()
    tighter = consolidate(s.inst, best, s.monitor.cutoff(began + CONSOLIDATION_SHARE * s.clock.left()))
    if tighter is not best:
        s.best.consider(tighter, CONSOLIDATED)
    s.timings.append(StageTiming(stage=CONSOLIDATED, seconds=time.perf_counter() - began, status="heuristic"))

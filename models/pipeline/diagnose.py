"""Why a portfolio is infeasible and the least change that fixes it.

When the portfolio stage proves that no plan exists, a planner needs to know what to
change. For the changes the model can measure (extra budget per year, extra FTE per role
and month, deadline slips) the elastic portfolio stage
(:mod:`models.formulation.elastic`) finds the least change of each kind that admits a
plan; every other family of rules of §2 is relaxed on its own (services unlimited,
windows and deadlines open, predecessors dropped, pins dropped, no limit on concurrent
trials) and the portfolio stage solved again for any schedule at all: a family whose
relaxation alone admits one is named. Stage 1 is a relaxation of the whole problem, so
what it needs the full problem needs at least; the pipeline then solves the problem with
each change applied to say whether it is enough (:func:`models.pipeline.run.verify_relaxations`).

These steps are independent sub-problems of one solve: given an executor, each runs on it
at once with the whole of the diagnosis' time (:func:`infeasibility`), where without one
they run one after another, each with a share of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from typing import TypeVar

from models.formulation.instance import Instance, compile_instance
from models.contract.plan import Explanation, Plan, Relaxation, StageTiming
from models.pipeline.clock import DIAGNOSIS_SHARE, LAST_CALL_SECONDS, MIN_STEP_SECONDS, OVERRUN_SECONDS
from models.pipeline.state import SolveState
from models.formulation.elastic import kinds_for, smallest_relaxation
from models.formulation.portfolio import Reserve, solve_portfolio
from models.contract.problem import Problem
from models.solver.executor import seconds_until, submit, wait_until, wall_moment
from models.solver.settings import EngineSettings

#: Price per uncovered FTE-month when the capacity rules are relaxed (any price will do: only feasibility is asked).
_ANY_PRICE = 1.0

_T = TypeVar("_T")


def _no_budget(p: Problem) -> None:
    p.budget.per_year = {}
    p.budget.total = None


def _uncovered_allowed(p: Problem) -> None:
    p.objective.weights.shortfall = _ANY_PRICE


def _unlimited_services(p: Problem) -> None:
    for svc in p.services:
        svc.capacity = 1e9
        svc.contract_volume = None


def _open_windows(p: Problem) -> None:
    for t in p.trials:
        t.latest_start = None
        t.deadline = None


def _no_predecessors(p: Problem) -> None:
    for t in p.trials:
        t.predecessors = []


def _no_pins(p: Problem) -> None:
    p.pins.trials = []
    p.pins.assignments = []
    p.pins.frozen_until = None


def _unlimited_concurrency(p: Problem) -> None:
    for s in p.staff:
        s.max_concurrent_trials = max(1, len(p.trials))


#: Families the elastic model measures instead of only naming (family -> kind of change).
ELASTIC_FAMILIES = {"budget": "budget", "capacity": "capacity", "services": "services"}

#: (what is relaxed, how to say it binds, the relaxation), in the order they are tried.
RELAXATIONS: tuple[tuple[str, str, Callable[[Problem], None]], ...] = (
    ("budget", "the budget: with no yearly or total cap a plan exists", _no_budget),
    ("capacity", "covering all demand with named people and flex: with demand allowed to go uncovered, a plan exists", _uncovered_allowed),
    ("services", "service capacity or contract volumes: with unlimited services a plan exists", _unlimited_services),
    ("windows", "start windows and deadlines: with no latest start or deadline a plan exists", _open_windows),
    ("predecessors", "predecessors: without them a plan exists", _no_predecessors),
    ("pins", "pins: without the pinned trials, assignments and frozen months a plan exists", _no_pins),
    ("concurrency", "limits of concurrent trials: without them a plan exists", _unlimited_concurrency),
)


def infeasibility(
    problem: Problem,
    settings: EngineSettings,
    deadline: float,
    executor: Executor | None = None,
    give_up: float | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> tuple[list[Explanation], list[Relaxation]]:
    """What makes ``problem`` infeasible and what would fix it.

    First the least change of each kind the elastic model measures (budget, capacity,
    deadlines: :mod:`models.formulation.elastic`), then one explanation per other rule
    family whose relaxation alone admits a plan of the portfolio stage (each is a way out);
    where no single kind or family does, all three kinds of change together. Without an
    executor the steps share the time left until ``deadline``, one after another; with one
    they all run on it at once, each until ``deadline``, and are waited for until
    ``give_up`` (or until ``stopped()``). A step not tried in time is not named."""
    kinds = kinds_for(problem)
    families = [f for f in RELAXATIONS if f[0] not in ELASTIC_FAMILIES or ELASTIC_FAMILIES[f[0]] not in kinds]
    steps = len(kinds) + len(families) + (1 if len(kinds) > 1 else 0)
    if executor is not None:
        found, relaxations, tried = _single_steps_on(executor, problem, settings, kinds, families, deadline, give_up or deadline, stopped)
    else:
        found, relaxations, tried = _single_steps(problem, settings, kinds, families, deadline, steps)
    if not found and not relaxations and len(kinds) > 1 and (left := deadline - time.perf_counter()) > MIN_STEP_SECONDS:
        tried += 1
        combined = smallest_relaxation(problem, settings, kinds, left)
        if combined is not None:
            relaxations.append(combined)
    if not found and not relaxations and tried == steps:
        found.append(Explanation(reason="no single family of rules makes it infeasible on its own: several bind together"))
    return found, relaxations


_Family = tuple[str, str, Callable[[Problem], None]]


def _single_steps(
    problem: Problem, settings: EngineSettings, kinds: list[str], families: list[_Family], deadline: float, steps: int
) -> tuple[list[Explanation], list[Relaxation], int]:
    """Each kind's least change, then each family's relaxation, one after another, each with
    an equal share of the time left; with how many were tried."""
    found: list[Explanation] = []
    relaxations: list[Relaxation] = []
    tried = 0
    for kind in kinds:
        left = deadline - time.perf_counter()
        if left <= MIN_STEP_SECONDS:
            break
        tried += 1
        relaxation = smallest_relaxation(problem, settings, [kind], left / (steps - tried + 1))
        if relaxation is not None:
            relaxations.append(relaxation)
    for _, reason, relax in families:
        left = deadline - time.perf_counter()
        if left <= MIN_STEP_SECONDS:
            break
        tried += 1
        if _feasible(_relaxed(problem, relax), settings, left / (steps - tried + 1)):
            found.append(Explanation(reason=f"infeasible because of {reason}"))
    return found, relaxations, tried


def _single_steps_on(
    executor: Executor,
    problem: Problem,
    settings: EngineSettings,
    kinds: list[str],
    families: list[_Family],
    deadline: float,
    give_up: float,
    stopped: Callable[[], bool],
) -> tuple[list[Explanation], list[Relaxation], int]:
    """The same steps all at once on ``executor``, each until ``deadline``; what is not back
    by ``give_up`` counts as not tried. Results are taken in the steps' order, so the
    explanations read as the sequential ones do."""
    until = wall_moment(deadline)
    elastic = [submit(executor, least_change, problem, settings, [kind], until) for kind in kinds]
    relaxed = [submit(executor, admits_a_plan, _relaxed(problem, relax), settings, until) for _, _, relax in families]
    wait_until([*elastic, *relaxed], give_up, stopped)
    found: list[Explanation] = []
    relaxations: list[Relaxation] = []
    tried = 0
    for future in elastic:
        if (step := _outcome(future)) is not None and step[0]:
            tried += 1
            if step[1] is not None:
                relaxations.append(step[1])
    for future, (_, reason, _) in zip(relaxed, families, strict=True):
        if (step := _outcome(future)) is not None and step[0]:
            tried += 1
            if step[1]:
                found.append(Explanation(reason=f"infeasible because of {reason}"))
    return found, relaxations, tried


def least_change(problem: Problem, settings: EngineSettings, kinds: list[str], until: float) -> tuple[bool, Relaxation | None]:
    """On an executor: (whether it was tried, the least change of ``kinds``), using the time
    until the wall-clock moment ``until``."""
    seconds = seconds_until(until)
    if seconds <= MIN_STEP_SECONDS:
        return False, None
    return True, smallest_relaxation(problem, settings, kinds, seconds)


def admits_a_plan(relaxed: Problem, settings: EngineSettings, until: float) -> tuple[bool, bool]:
    """On an executor: (whether it was tried, whether the relaxed problem's portfolio stage
    has a plan), using the time until the wall-clock moment ``until``."""
    seconds = seconds_until(until)
    if seconds <= MIN_STEP_SECONDS:
        return False, False
    return True, _feasible(relaxed, settings, seconds)


def _outcome(future: Future[_T]) -> _T | None:
    """A finished sub-solve's answer; None for one abandoned, cancelled or failed (its worker lost)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return None
    return future.result()


def _relaxed(problem: Problem, relax: Callable[[Problem], None]) -> Problem:
    relaxed = problem.model_copy(deep=True)
    relax(relaxed)
    return relaxed


def volumes_short(inst: Instance) -> list[Explanation]:
    """Each contract volume below what the trials that must run need at the least (each in
    its option using the fewest units): a proof of infeasibility naming the service."""
    out = []
    for svc, volume in sorted(inst.service_volume.items()):
        need = sum(min((inst.profiles[(t, o.id)].volume(svc) for o in inst.trials[t].options), default=0.0) for t in sorted(inst.forced_run))
        if need > volume * (1 + 1e-9) + 1e-9:
            out.append(Explanation(reason=f"infeasible because of service {svc}: the trials that must run need at least {need:,.6g} units over the horizon, its contract volume is {volume:,.6g}"))
    return out


def nobody_able(inst: Instance) -> list[Explanation]:
    """Each role a trial that must run needs where nobody in the pool can serve it (the role,
    the trial's skills for it, one of its regions for a regional role): only flex can cover
    that demand, and where the role has none, nothing can. Named so that a planner knows whom
    to hire or train."""
    out = []
    for tid in sorted(inst.forced_run):
        trial = inst.trials[tid]
        roles = sorted({r for o in trial.options for month in inst.profiles[(tid, o.id)].demand for r, v in month.items() if v > 0})
        for role in roles:
            if any(inst.can_serve(p, tid, role) for p in inst.staff):
                continue
            needs = [f"skill(s) {', '.join(trial.required_skills[role])}"] if trial.required_skills.get(role) else []
            if role in inst.regional and trial.regions:
                needs.append(f"in {', '.join(trial.regions)}")
            flex = inst.flex_max.get(role, 0.0)
            cover = f"only flex can cover it (at most {flex:g} FTE a month, shared)" if flex > 0 else "and the role has no flex: nothing can cover it"
            who = f"{role} with {' '.join(needs)}" if needs else role
            out.append(Explanation(reason=f"{tid} must run and needs {who}: nobody in the pool can serve it; {cover}"))
    return out


def diagnosed(s: SolveState, message: str, why: list[Explanation]) -> Plan:
    """The infeasible plan with what makes it so and the least changes that fix it, found in
    up to ``DIAGNOSIS_SHARE`` of the time left (the rest checks the changes: see
    :func:`models.pipeline.run.verify_relaxations`), on the solve's executor if it has one
    (``SolveState.executor``). Not at all when ``settings.diagnose`` is off."""
    relaxations: list[Relaxation] = []
    if s.settings.diagnose:
        began = time.perf_counter()
        deadline = began + DIAGNOSIS_SHARE * s.clock.left()
        give_up = min(deadline + OVERRUN_SECONDS, time_limit_moment(s))
        found, relaxations = infeasibility(s.problem, s.settings, deadline, s.executor, give_up, s.monitor.stopped)
        why = [*why, *nobody_able(s.inst), *found]
        s.timings.append(StageTiming(stage="diagnosis", seconds=time.perf_counter() - began))
    plan = s.empty("infeasible", message, why)
    plan.relaxations = relaxations
    return plan


def time_limit_moment(s: SolveState) -> float:
    """The ``time.perf_counter`` moment of the solve's time limit, past which nothing is waited for."""
    return s.clock.last_call - LAST_CALL_SECONDS


def relaxation_explanation(relaxation: Relaxation) -> Explanation:
    """A relaxation in plain words, with whether the engine found a plan once it was applied."""
    what = ("the least " if relaxation.scale == 1.0 else "") + {
        "budget": "extra budget",
        "capacity": "extra FTE",
        "services": "extra service capacity",
        "deadlines": "deadline slips",
        "combined": "change of budget, FTE, services and deadlines together",
    }[relaxation.kind]
    checked = {
        True: " (checked: with it the engine finds a plan)"
        if relaxation.scale == 1.0
        else f" (checked: with it the engine finds a plan; with {1 / relaxation.scale:.0%} of it, the least the portfolio stage needs, staffing found none)",
        False: " (at least this: with it alone the engine still found no plan; staffing needs more)",
        None: "",
    }[relaxation.verified]
    return Explanation(reason=f"infeasible as stated; {what} that makes a plan possible: {relaxation.summary}{checked}")


def _feasible(problem: Problem, settings: EngineSettings, seconds: float) -> bool:
    inst = compile_instance(problem)
    if any(not any(inst.starts[(t, o.id)] for o in inst.trials[t].options) for t in inst.forced_run):
        return False
    # Any schedule will do: the first one HiGHS finds ends the run.
    result = solve_portfolio(inst, replace(settings, mip_gap=1.0, bound_search=False), seconds, Reserve())
    return result.outcome.has_solution

"""The last stages: fallbacks where no plan was found, the plan checked and explained.

After the rounds, the constructive plan is collected (or staffed now, on portfolios too
large to staff it beside round 0), and where nothing was staffed at all the serial plan
is tried. The plan returned is the best candidate the independent checker accepts
(SPEC §4); it says why it ended above the gap asked for, if it did, and each role-month
gets its marginal value while time remains.
"""

from __future__ import annotations

import math
import time

from models.contract.check import check_plan
from models.contract.check_explanations import check_explanations
from models.contract.plan import Plan, StageTiming
from models.formulation.assemble import build_plan, set_bound
from models.formulation.instance import Instance
from models.formulation.portfolio import PortfolioResult, marginal_values
from models.heuristics.shed import Staffed
from models.pipeline.clock import MARGINAL_SECONDS, MIN_SOLVER_SECONDS, late_roster_fits, timing
from models.pipeline.construct import serial, staff_heuristic
from models.pipeline.state import SolveState
from models.solver.settings import EngineSettings


def fall_back(s: SolveState) -> None:
    """The constructive plan collected (or staffed now), and the serial plan where nothing else was staffed."""
    best, timings, clock = s.best, s.timings, s.clock
    if s.beside is not None:
        s.beside.collect(best, timings, alongside="")
        s.beside = None
    # Staffing the constructive schedule takes a roster or more (shedding re-rosters): it
    # starts only if LATE_ROSTER_MARGIN rosters fit before the deadline, or if nothing
    # else was found. Not once the plan is proven within the gap: at 10x that roster took
    # the 57 s left.
    fits = late_roster_fits(timings, clock.left()) and not s.proven
    if s.start is not None and not s.staffed_early and (best.solved is None or (not s.monitor.stopped() and fits)):
        staff_heuristic(s.inst, s.start, best, timings, clock.fallback_by(best.solved is not None), clock.deadline)
    if best.solved is None and not s.monitor.stopped() and not any(t.stage == "serial" for t in timings):
        # Nothing staffed the schedules found: running trials one after another may still fit.
        serial(s.inst, best, timings, clock.last_call)


def message(s: SolveState) -> str:
    """Why the rounds ended where that matters to the planner (empty when a plan needed no repair)."""
    if s.monitor.stopped():
        return "stopped on request: best plan found so far"
    if not s.converged and s.ended == "time":
        return "the time limit ended the repair rounds before staffing matched the portfolio stage: best fully staffed plan found"
    if not s.converged and s.ended == "search":
        return "the portfolio stage found no further schedule within its share of the time before staffing matched it: best fully staffed plan found"
    if not s.converged:
        return f"staffing did not match the portfolio stage within {s.settings.repair_rounds} repair rounds: best fully staffed plan found"
    return ""


def reproducible_note(s: SolveState, plan: Plan) -> None:
    """In reproducible mode, say so where the clock rather than the work limits decided something."""
    if s.settings.reproducible and (s.clock_ruled or s.ended == "time" or s.clock.left() <= MIN_SOLVER_SECONDS):
        ruled = ", ".join(s.clock_ruled) or "the last stages"
        note = f"reproducible mode: the time limit, not the work limit, ended {ruled}: another run may differ"
        plan.message = "; ".join(m for m in (plan.message, note) if m)


def checked_plan(
    inst: Instance,
    ranked: list[tuple[Staffed, str]],
    timings: list[StageTiming],
    bound: float | None,
    settings: EngineSettings,
    message: str,
    why_gap: str,
    limit: float = math.inf,
) -> tuple[Plan, dict[str, tuple[str, int]], str] | None:
    """The first of the ``ranked`` candidates (best first) that the independent checker
    accepts, with its schedule and source (None if none does).

    Every candidate is valid by construction; the checker is the engine's guard against
    its own bugs (SPEC §4: the engine never returns a plan the checker rejects). A
    candidate it rejects is passed over for the next best, and the plan says so."""
    rejected: list[str] = []
    for solved, source in ranked:
        began = time.perf_counter()
        plan = build_plan(inst, solved.schedule, solved.staffing, [*timings, StageTiming(stage=f"chosen: {source}", seconds=0.0, status="heuristic")])
        plan.stages.append(StageTiming(stage="plan", seconds=time.perf_counter() - began))
        set_bound(plan, bound)
        within_gap = plan.gap is not None and plan.gap <= settings.mip_gap + 1e-9
        stopped = message.startswith("stopped")
        plan.status = "optimal" if within_gap and not stopped and not rejected else "feasible"
        began = time.perf_counter()
        violations = check_plan(inst.problem, plan)
        if violations:
            plan.stages.append(StageTiming(stage="check", seconds=time.perf_counter() - began))
            rejected.append(f"{source} ({violations[0].rule}: {violations[0].message})")
            continue
        explained = time.perf_counter() + explanation_check_seconds(inst, plan) <= limit
        if explained:
            withdraw_unfounded(inst, plan)
        plan.stages.append(StageTiming(stage="check", seconds=time.perf_counter() - began))
        # A plan proven within the gap needs no word on how the rounds ended.
        notes = [message] if message and plan.status != "optimal" else []
        if not within_gap and not stopped:
            gap = "no bound" if plan.gap is None else f"gap {plan.gap:.2%}"
            notes.append(f"{gap}, above the {settings.mip_gap:.2%} asked for: {why_gap}")
        if rejected:
            notes.append(f"passed over {len(rejected)} better plan(s) that broke a rule, first {rejected[0]}")
        if not explained and plan.explanations:
            notes.append("the explanations were not checked against the plan: the time limit came first")
        plan.message = "; ".join(notes) or plan.message
        return plan, solved.schedule, source
    return None


#: Time the explanation check needs before the time limit, at least (0.3 s on the reference,
#: 1.2 s with the machine's other core busy) ...
EXPLANATION_CHECK_SECONDS = 0.5
#: ... and per staff-month and explanation (measured: 3.8e-6 s at 10x the reference, 69
#: explanations, 47.6 s; 1.5e-6 s on the reference). With less left than the estimate, the
#: plan goes out with its explanations unchecked and says so, rather than past the planner's limit.
EXPLANATION_CHECK_SECONDS_PER_UNIT = 4e-6


def explanation_check_seconds(inst: Instance, plan: Plan) -> float:
    """What the explanation check of ``plan`` is expected to take (see the constants above)."""
    units = len(inst.staff) * inst.months * len(plan.explanations)
    return max(EXPLANATION_CHECK_SECONDS, EXPLANATION_CHECK_SECONDS_PER_UNIT * units)


def withdraw_unfounded(inst: Instance, plan: Plan) -> None:
    """Each explanation whose facts the independent explanation checker does not find in
    the plan is withdrawn and the trial said to be unexplained: a planner forwards these
    sentences, and one that does not hold is worse than none (a bug of the explainer's,
    which tests/test_explanation_survey.py guards against)."""
    refuted = {v.trial for v in check_explanations(inst.problem, plan)}
    for explanation in plan.explanations:
        if explanation.trial in refuted:
            explanation.reason = "what keeps it out or late could not be established from the plan"
            explanation.facts = []


def why_gap(inst: Instance, timings: list[StageTiming], deadline: float) -> str:
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


def add_marginal_values(
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
        plan.stages.append(timing("marginal-values", outcome))
    for rm in plan.role_months:
        rm.marginal_value = values.get((rm.role, inst.problem.index(rm.month)))

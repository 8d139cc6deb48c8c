"""The re-plan (SPEC §3, the monthly reforecast): the previous plan is the starting point.

With ``pins.previous_plan`` the solve does not start from nothing:

1. **Keep** (:func:`keep_stage`, before the constructive stage): the previous schedule,
   wherever its trials may still start as they did, is staffed with the previous roster
   wherever that still holds (the person is available, eligible, within their FTE and
   concurrency limits, and the trial still demands the work); only what no longer holds
   is staffed anew (:func:`stable_staffing`). That plan is the first candidate, so the
   re-plan is never worse than it, and round 0's warm start.
2. **Search**: the solve goes on as any solve, unless the kept plan is already proven
   within ``mip_gap + stability.tolerance`` of a bound (:func:`settled`), in which case no
   re-plan could be worth its changes. A bound proven for the same world still holds: when
   the problem has the previous plan's fingerprint (no event since), the previous plan's
   bound is used at once.
3. **Fewest changes** (:func:`steady_stage`) and **re-staff** (:func:`restaff_stage`),
   after the rounds, while the bound search goes on: where the best plan changes trials,
   the schedule changing fewest within the tolerance of it (a second, lexicographic run of
   stage 1); and the best schedule itself; each staffed keeping as much of the previous
   roster as still fits.
4. **Choose** (:func:`ranked`): the candidates in the order ``settings.stability`` gives
   them (:class:`~models.contract.problem.Stability`); the plan reports what it changed
   and what stability cost (:func:`changes`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from models.contract.precision import objective_figure
from models.contract.churn import ORIGIN, Baseline, churn, plan_work
from models.contract.identity import fingerprint
from models.contract.plan import FTE_DECIMALS, Churn, Plan, PlanChanges, StageTiming
from models.contract.problem import Problem, Stability, is_month, month_index
from models.contract.validation import FTE_NOISE
from models.formulation.assemble import plan_fte
from models.formulation.instance import Block, Instance
from models.formulation.portfolio import fewest_changes
from models.formulation.staffing import demand_profile, month_blocks, net_demand
from models.heuristics.lp_roster import lp_roster
from models.heuristics.shed import Staffed, budget_roster, service_victims, shed, victims
from models.pipeline.candidates import minimised, tighter
from models.pipeline.clock import FEWEST_CHANGES_SHARE, MIN_SOLVER_SECONDS, timing
from models.pipeline.roster import roster_rank, staff_schedule
from models.pipeline.state import Replan, SolveState
from models.solver.progress import Deadline, cutoff, relative_gap
from models.solver.settings import EngineSettings

Schedule = dict[str, tuple[str, int]]

#: The candidate that keeps the previous plan, as the plan's stages and ``changes`` name it.
KEPT = "previous plan kept"
#: The best schedule found, staffed keeping the previous roster where it fits.
RESTAFFED = "best schedule, previous roster kept"
#: The schedule with the fewest trial changes within the tolerance, staffed keeping the previous roster.
FEWEST = "fewest trial changes"
#: The same schedule rostered afresh.
FEWEST_FRESH = "fewest trial changes, new roster"
#: Kept work below this FTE is not kept (what is left of a block whose demand shrank).
MIN_KEPT_FTE = 1e-6


def churn_of(replan: Replan, inst: Instance, solved: Staffed) -> Churn:
    """A candidate's changes against the previous plan (computed once per candidate), read
    from its blocks as a plan would write them."""
    key = id(solved)
    if key not in replan.churn:
        offset = month_index(inst.problem.horizon.start, ORIGIN)
        work = ((b.staff, b.trial, b.role, b.first + offset, b.last + offset, plan_fte(inst, b)) for b in solved.staffing.blocks)
        running = {t: (o, inst.month(start)) for t, (o, start) in solved.schedule.items()}
        replan.churn[key] = replan.baseline.churn(work, running)
    return replan.churn[key]


def previous_schedule(inst: Instance, previous: Plan) -> Schedule:
    """The previous plan's trials that may still start as they did (option and start in
    their domain) and whose predecessors still run and end in time for them."""
    schedule: Schedule = {}
    for t in previous.trials:
        if not (t.run and t.option is not None and t.start is not None and is_month(t.start) and t.id in inst.trials):
            continue
        start = inst.problem.index(t.start)
        if start in inst.starts.get((t.id, t.option), ()):
            schedule[t.id] = (t.option, start)
    while waiting := [t for t in schedule if not _predecessors_hold(inst, schedule, t)]:
        for t in waiting:
            del schedule[t]
    return schedule


def _predecessors_hold(inst: Instance, schedule: Schedule, trial: str) -> bool:
    _, start = schedule[trial]
    for pred in inst.trials[trial].predecessors:
        if pred.trial not in schedule:
            return False
        option, begun = schedule[pred.trial]
        if start < begun + inst.profiles[(pred.trial, option)].duration + pred.lag:
            return False
    return True


def running_as_before(replan: Replan, schedule: Schedule) -> Schedule:
    """The trials of ``schedule`` that run as they did in the previous plan (same option and start)."""
    return {t: v for t, v in schedule.items() if replan.schedule.get(t) == v}


def kept_blocks(
    inst: Instance, previous: Plan, same: Schedule, since: int, released: AbstractSet[tuple[str, int]] = frozenset()
) -> list[Block]:
    """The previous roster's work from month ``since`` on that still holds for the trials
    that run as they did (``same``: :func:`running_as_before`), none in the ``released``
    role-months.

    Only trials that run as they did keep their people. A month
    of a previous block is kept, at up to its FTE, where the person is in the pool,
    available, eligible for the role on the trial, has FTE left after pins and earlier
    kept work, stays within their concurrent-trial limit, and the trial still demands
    that much of the role (after pins). Blocks are taken in the previous plan's order."""
    net = net_demand(inst, same)
    left = dict(net.demand)
    load: dict[tuple[str, int], float] = defaultdict(float, net.pinned_fte)
    trials_on: dict[tuple[str, int], set[str]] = defaultdict(set, {k: set(v) for k, v in net.pinned_trials.items()})
    worked: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for a in previous.assignments:
        person = inst.staff.get(a.staff)
        if a.trial not in same or person is None or not (is_month(a.start) and is_month(a.end)):
            continue
        if not inst.can_serve(a.staff, a.trial, a.role):
            continue
        first, last = max(inst.problem.index(a.start), since, 0), min(inst.problem.index(a.end), inst.months - 1)
        for m in range(first, last + 1):
            trials = trials_on[(a.staff, m)]
            if not inst.available[a.staff][m] or (a.trial not in trials and len(trials) >= person.max_concurrent_trials):
                continue
            if (a.role, m) in released:
                continue
            fte = round(min(a.fte, left.get((a.trial, a.role, m), 0.0), person.fte - load[(a.staff, m)]), FTE_DECIMALS)
            if fte < MIN_KEPT_FTE:
                continue
            cell = worked[(a.staff, a.trial, a.role)]
            cell[m] = cell.get(m, 0.0) + fte
            left[(a.trial, a.role, m)] -= fte
            load[(a.staff, m)] += fte
            trials.add(a.trial)
    return month_blocks(worked)


def kept_flex(inst: Instance, previous: Plan, same: Schedule, kept: list[Block]) -> dict[tuple[str, str, int], float]:
    """The previous plan's flex, held where it still covers demand: for each trial that runs
    as it did (``same``), in each (role, month) the demand the previous roster left to flex there that
    is still left after pins and the ``kept`` work, within what the previous plan bought that
    role-month and the role's flex limit (trials in id order). Demand left uncovered by a
    leaver is not held: the roster staffs it."""
    left = net_demand(replace(inst, pinned=[*inst.pinned, *kept]), same).demand
    demand = demand_profile(inst, same)
    named: dict[tuple[str, str, int], float] = defaultdict(float)
    for a in previous.assignments:
        if a.trial in same and is_month(a.start) and is_month(a.end):
            for m in range(max(0, inst.problem.index(a.start)), min(inst.problem.index(a.end), inst.months - 1) + 1):
                named[(a.trial, a.role, m)] += a.fte
    bought: dict[tuple[str, int], float] = defaultdict(float)
    for rm in previous.role_months:
        if rm.flex > MIN_KEPT_FTE and is_month(rm.month) and 0 <= inst.problem.index(rm.month) < inst.months:
            bought[(rm.role, inst.problem.index(rm.month))] += rm.flex
    used: dict[tuple[str, int], float] = defaultdict(float)
    flex: dict[tuple[str, str, int], float] = {}
    for (t, r, m), need in sorted(left.items()):
        was = demand.get((t, r, m), 0.0) - named[(t, r, m)]
        room = min(bought.get((r, m), 0.0), inst.flex_max.get(r, 0.0)) - used[(r, m)]
        take = round(min(need, was, room), FTE_DECIMALS)
        if take >= MIN_KEPT_FTE:
            flex[(t, r, m)] = take
            used[(r, m)] += take
    return flex


def stable_staffing(
    inst: Instance, settings: EngineSettings, replan: Replan, schedule: Schedule, deadline: Deadline = math.inf
) -> Staffed | None:
    """``schedule`` staffed keeping the previous roster and flex where they still hold
    (:func:`kept_blocks`, :func:`kept_flex`), the rest rostered around them (the greedy and,
    up to ``EngineSettings.lp_roster_below`` staff x trials, the LP roster: the cheaper). A service a change
    made smaller first sheds the least valuable optional trials using it where it is over
    (:func:`models.heuristics.shed.service_victims`); where a budget then overruns or demand
    cannot be covered, the kept work in the role-months short is let go (once) for the
    roster to pack again, and then the trials shedding picks
    (:func:`models.heuristics.shed.victims`) are left out with their kept work, and the rest
    is staffed again, so only what the change forces moves. None if a trial that must run
    would have to go (or is missing from ``schedule``), or the deadline passes (or a stop is
    asked) first."""
    until = cutoff(deadline)
    while (over := service_victims(inst, schedule)):
        schedule = {t: v for t, v in schedule.items() if t not in over}
    if over is None or not inst.forced_run <= schedule.keys():
        return None
    released: set[tuple[str, int]] = set()
    while True:
        same = running_as_before(replan, schedule)
        kept = kept_blocks(inst, replan.previous, same, replan.since_index, released)
        held = replace(inst, pinned=[*inst.pinned, *kept], held_flex=kept_flex(inst, replan.previous, same, kept))
        roster = budget_roster(held, schedule, until)
        if len(inst.staff) * len(inst.trials) <= settings.lp_roster_below and not until.stopped():
            # The month-by-month LP roster packs the rest more cheaply where budgets are tight.
            lp = lp_roster(held, schedule, cutoff=until)
            roster = min((roster, lp), key=lambda r: roster_rank(held, schedule, r))
        if until.stopped():
            return None
        drop, uncovered = victims(held, schedule, roster)
        if drop is None:
            return None
        if not drop:
            return Staffed(schedule, replace(roster, blocks=one_block_per_month(roster.blocks)))
        short = {(r, m) for (_, r, m), v in roster.shortfall.items() if v > 0} - released
        if uncovered and short:
            # Work the kept roster cannot cover (a leaver's, say) may fit once the kept work of
            # its role in those months is free to be packed again: that first, a trial last.
            released |= short
            continue
        schedule = {t: v for t, v in schedule.items() if t not in drop}


def one_block_per_month(blocks: list[Block]) -> list[Block]:
    """Kept and new work of one person on one trial and role in the same month as one block:
    a planner reads "0.45 and 0.55 FTE in May" as one FTE, and the blocks run while it stays."""
    worked: dict[tuple[str, str, str], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for b in blocks:
        for m in range(b.first, b.last + 1):
            worked[(b.staff, b.trial, b.role)][m] += b.fte
    return month_blocks({key: {m: round(v, FTE_DECIMALS) for m, v in months.items()} for key, months in worked.items()})


def start_replan(s: SolveState) -> Replan | None:
    """The re-plan's context, if the problem gives a previous plan and the engine starts from it."""
    pins = s.problem.pins
    if pins.previous_plan is None or not s.settings.replan_start:
        return None
    since, previous = pins.frozen_until, pins.previous_plan
    return Replan(
        previous=previous,
        since=since,
        since_index=s.problem.index(since) if since else 0,
        stability=s.problem.settings.stability,
        baseline=Baseline(previous, since),
        schedule=previous_schedule(s.inst, previous),
        same_world=previous.portfolio is not None and previous.portfolio.fingerprint == fingerprint(s.problem),
    )


def keep_stage(s: SolveState) -> None:
    """The previous plan kept where it still holds, offered as the first candidate (see the
    module docstring); where nothing changed since the previous plan, its bound too."""
    if s.replan is None:
        return
    began = time.perf_counter()
    replan = s.replan
    # The solve's first candidate: like any first plan, it may run to the last call.
    until = s.monitor.cutoff(s.clock.fallback_by(s.best.solved is not None))
    replan.kept = stable_staffing(s.inst, s.settings, replan, replan.schedule, until)
    if replan.kept is not None:
        s.best.consider(replan.kept, KEPT)
    previous = replan.previous
    if replan.same_world and previous.best_bound is not None:
        # The same world: the previous bound bounds every plan of it, the freeze only restricts them.
        s.bound = s.best.bound = tighter(s.problem.objective.kind, s.bound, previous.best_bound)
    s.timings.append(_stage(KEPT, began))


def settled(s: SolveState) -> bool:
    """Whether the kept plan is already proven within ``mip_gap + stability.tolerance`` of the
    bound: no re-plan could then be worth its changes."""
    replan = s.replan
    if replan is None or replan.kept is None or replan.stability is None or replan.stability.tolerance is None:
        return False
    allowed = s.settings.mip_gap + replan.stability.tolerance + 1e-9
    found = relative_gap(-minimised(s.inst, replan.kept) if s.best.maximise else minimised(s.inst, replan.kept), s.bound)
    return found is not None and found <= allowed


def restaff_stage(s: SolveState) -> None:
    """The best schedule found, when it is not the kept one, staffed keeping as much of the
    previous roster as fits (its rosters end at the solve's deadline, or a stop)."""
    replan = s.replan
    if replan is None or s.best.solved is None or s.monitor.stopped():
        return
    schedule = s.best.solved.schedule
    if replan.kept is not None and schedule == replan.kept.schedule:
        return
    began = time.perf_counter()
    restaffed = stable_staffing(s.inst, s.settings, replan, schedule, s.monitor.cutoff(s.clock.deadline))
    if restaffed is not None:
        s.best.consider(restaffed, RESTAFFED)
    s.timings.append(_stage(RESTAFFED, began))


def steady_stage(s: SolveState) -> None:
    """Where the best plan found changes trials of the previous plan: the schedule that
    changes fewest among those within the stability tolerance of it (stage 1 solved again
    with its objective as a constraint and the changes as the objective:
    :func:`models.formulation.portfolio.fewest_changes`), staffed keeping the previous
    roster and rostered afresh, as two more candidates. Only while ``FEWEST_CHANGES_SHARE``
    of the time left is at least ``MIN_SOLVER_SECONDS``; not in reproducible mode (its time
    is not work-limited)."""
    replan, best = s.replan, s.best
    if replan is None or replan.stability is None or replan.stability.tolerance is None or s.first is None or best.solved is None:
        return
    if s.monitor.stopped() or s.settings.reproducible or best.objective is None:
        return
    if churn_of(replan, s.inst, best.solved).trials_changed == 0:
        return
    seconds = FEWEST_CHANGES_SHARE * s.clock.left()
    if seconds < MIN_SOLVER_SECONDS:
        return
    began = time.perf_counter()
    slack = replan.stability.tolerance * max(1.0, abs(best.objective))
    target = best.objective - slack if best.maximise else best.objective + slack
    previous = {
        t.id: (t.option, s.problem.index(t.start)) if t.run and t.option and t.start and is_month(t.start) else None
        for t in replan.previous.trials
    }
    schedule, outcome = fewest_changes(s.first, previous, target, best.solved.schedule, best.objective, s.settings, seconds, s.monitor)
    if outcome is not None:
        s.timings.append(timing(FEWEST, outcome))
    if schedule is None or schedule == best.solved.schedule:
        return
    until = s.monitor.cutoff(s.clock.deadline)
    if (staffed := stable_staffing(s.inst, s.settings, replan, schedule, until)) is not None:
        best.consider(staffed, FEWEST)
    # Its people kept where they still hold, a schedule met to the last thousand by the best
    # plan's roster may overrun a budget and lose a trial: rostered afresh, it keeps them all.
    if (roster := staff_schedule(s.inst, s.settings, schedule, until, [], 0)) is not None:
        if (fresh := shed(s.inst, schedule, roster, until)) is not None:
            best.consider(fresh, FEWEST_FRESH)
    s.timings.append(_stage(f"{FEWEST}: staffing", began))


def _stage(name: str, began: float) -> StageTiming:
    return StageTiming(stage=name, seconds=time.perf_counter() - began, status="heuristic")


@dataclass(frozen=True)
class Rival:
    """A candidate with what it costs against the best: its objective loss and its changes."""

    solved: Staffed
    source: str
    objective: float
    loss: float
    churn: Churn


def rivals(s: SolveState, stability: Stability) -> list[Rival]:
    """The candidates the stability rule compares, best first: those within the tolerance of
    the best (all, without one), each with its loss against the best (objective units, >= 0)
    and its changes. Counting changes reads every block of a candidate, so the others are
    not counted."""
    replan = s.replan
    assert replan is not None
    scored = [(minimised(s.inst, solved), solved, source) for solved, source in s.best.ranked()]
    if not scored:
        return []
    top = scored[0][0]
    scale = max(1.0, abs(top))
    return [
        Rival(solved, source, -score if s.best.maximise else score, score - top, churn_of(replan, s.inst, solved))
        for score, solved, source in scored
        if stability.tolerance is None or score - top <= stability.tolerance * scale + 1e-9
    ]


def price(stability: Stability, c: Churn) -> float:
    """What a candidate's changes cost at the stability prices (objective units)."""
    return (
        (stability.trial_change or 0.0) * c.trials_changed
        + (stability.person_reassigned or 0.0) * c.people_reassigned
        + (stability.fte_month_moved or 0.0) * c.fte_months_moved
    )


def ranked(s: SolveState) -> list[tuple[Staffed, str]]:
    """The candidates in the order the plan is chosen from: ``settings.stability``'s (the
    best objective first without a previous plan or with stability off)."""
    if s.replan is None or s.replan.stability is None:
        return s.best.ranked()
    stability = s.replan.stability
    within = rivals(s, stability)
    if stability.priced:
        within.sort(key=lambda r: r.loss + price(stability, r.churn))
    else:
        within.sort(key=lambda r: (r.churn.trials_changed, r.churn.people_reassigned, round(r.churn.fte_months_moved, 6), r.loss))
    chosen = {id(r.solved) for r in within}
    return [(r.solved, r.source) for r in within] + [(solved, source) for solved, source in s.best.ranked() if id(solved) not in chosen]


def _figure(x: float) -> str:
    """An objective or a price as a planner reads it: money to the unit, months to six digits."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.6g}"


def describe(stability: Stability | None) -> str:
    """The stability rule in words, as the plan's ``changes`` states it."""
    if stability is None:
        return "off: the best re-plan found, whatever it changes"
    prices = [
        f"{label} {_figure(value)}"
        for label, value in (("per trial changed", stability.trial_change), ("per person reassigned", stability.person_reassigned),
                             ("per FTE-month moved", stability.fte_month_moved))
        if value is not None
    ]
    cap = "" if stability.tolerance is None else f"within {stability.tolerance:.2%} of the best re-plan found"
    if prices:
        return "changes priced " + ", ".join(prices) + (f", {cap}" if cap else "")
    return f"the fewest changes {cap}"


def changes(s: SolveState, plan: Plan, source: str) -> PlanChanges | None:
    """What the returned plan changed of the previous plan, and what stability cost (None
    without a previous plan; with ``EngineSettings.replan_start`` off, the changes alone)."""
    replan = s.replan
    pins = s.problem.pins
    if replan is None:
        if pins.previous_plan is None:
            return None
        measured = churn(pins.previous_plan, plan, pins.frozen_until)
        return PlanChanges(**measured.model_dump(), stability="not used: the previous plan only supplied the freeze", chosen=source,
                           best_objective=objective_figure(s.problem, s.best.objective))
    measured = replan.baseline.churn(plan_work(plan), {t.id: (t.option, t.start) for t in plan.trials if t.run})
    best = objective_figure(s.problem, s.best.objective)
    cost = None if best is None or plan.objective is None else max(0.0, (best - plan.objective) if s.best.maximise else (plan.objective - best))
    cost = objective_figure(s.problem, cost)
    compared = [
        f"{r.source}: objective {_figure(r.objective)}, {r.churn.trials_changed} trial(s) changed, "
        f"{r.churn.people_reassigned} people reassigned, {r.churn.fte_months_moved:,.2f} FTE-months moved"
        for r in (rivals(s, replan.stability) if replan.stability is not None else [])
    ]
    return PlanChanges(**measured.model_dump(), stability=describe(replan.stability), chosen=source, best_objective=best,
                       stability_cost=cost, candidates=compared)


def kept_why_gap(s: SolveState) -> str:
    """Why a re-plan may come back further from its bound than ``mip_gap``: it keeps closer to the previous plan."""
    stability = s.replan.stability if s.replan is not None else None
    tolerance = stability.tolerance if stability is not None and stability.tolerance is not None else 0.0
    return (
        f"the re-plan keeps close to the previous plan: a plan changing no more is proven within the "
        f"{s.settings.mip_gap:.2%} asked for plus the {tolerance:.2%} stability tolerance, so no re-plan could be worth "
        "its changes"
    )


def report_changes(s: SolveState, plan: Plan, source: str) -> None:
    """A re-plan's ``changes`` and a sentence in its message; where nothing changed in the
    world and the previous schedule is kept, the previous plan's marginal values (they
    hold the same schedule fixed in the same world)."""
    found = changes(s, plan, source)
    if found is None:
        return
    plan.changes = found
    previous = s.problem.pins.previous_plan
    if previous is not None and (noisy := float_noise(s.problem, previous)):
        note = f"previous plan: {noisy} FTE figure(s) above their person's FTE by float noise (at most {FTE_NOISE:g}) read as that FTE"
        plan.message = "; ".join(m for m in (plan.message, note) if m)
    if s.replan is None:
        return
    since = f" from {found.since}" if found.since else ""
    cost = f"; {_figure(found.stability_cost)} below the best re-plan found" if found.stability_cost else ""
    note = (
        f"re-plan ({found.chosen}): {found.trials_changed} trial(s) changed, {found.people_reassigned} of "
        f"{found.people_with_work} people reassigned, {found.fte_months_moved:,.2f} FTE-months moved{since}{cost}"
    )
    plan.message = "; ".join(m for m in (plan.message, note) if m)
    if s.replan.same_world and found.trials_changed == 0:
        values = {(rm.role, rm.month): rm.marginal_value for rm in s.replan.previous.role_months}
        for rm in plan.role_months:
            rm.marginal_value = values.get((rm.role, rm.month))


def float_noise(problem: Problem, previous: Plan) -> int:
    """How many of a previous plan's FTE figures exceed their person's FTE by float noise
    only (validation refuses more; the freeze reads them as the person's FTE)."""
    fte = {person.id: person.fte for person in problem.staff}
    return sum(1 for a in previous.assignments if a.staff in fte and 0 < a.fte - fte[a.staff] <= FTE_NOISE)

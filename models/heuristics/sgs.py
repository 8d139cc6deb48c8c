"""Serial schedule generation: quick feasible schedules that tighten the makespan model.

For the makespan objective a feasible schedule's length ``UB`` caps every trial's end:
no optimal plan of the portfolio stage ends later, so start windows shrink to
``s + d + tail(t) <= UB`` (``tail`` being the shortest chain of successors after the
trial), which keeps the time-indexed model small. The schedule is built against
capacity the portfolio stage certainly has (each person counted in their primary role
only, plus flex, plus service capacity), so it is feasible for that stage whenever the
problem has no budget, no skill or region restrictions and no limit of concurrent trials
that can bind (see :func:`applies`); only then is it used, and only once named people
have staffed it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from models.formulation.instance import Instance, compile_instance
from models.heuristics.serial_staffing import staff_in_order
from models.heuristics.shed import Staffed


Schedule = dict[str, tuple[str, int]]
"""Each trial that runs: its option and start month."""

#: Randomly perturbed priority rules tried per schedule search, and how far (share of
#: the list) a trial may move from its longest-path rank.
SAMPLES = 60
NOISE = 0.15


class Ledger(Protocol):
    """Something besides capacity that a placement must fit (e.g. yearly budgets)."""

    def fits(self, trial: str, option: str, start: int) -> bool: ...

    def book(self, trial: str, option: str, start: int) -> None: ...


def applies(inst: Instance) -> bool:
    """Whether an SGS schedule is certainly feasible for the portfolio stage of this problem."""
    problem = inst.problem
    if problem.objective.kind != "makespan" or problem.pins.trials or inst.pinned:
        return False
    if problem.budget.per_year or problem.budget.total is not None:
        return False
    if problem.objective.weights.shortfall is not None:
        return False
    if any(t.required_skills for t in problem.trials):
        return False
    if problem.regional_roles and any(t.regions for t in problem.trials):
        return False
    return all(t.mandatory for t in problem.trials) and not _concurrency_can_bind(inst)


def _concurrency_can_bind(inst: Instance) -> bool:
    """Whether people's limits of concurrent trials can make a schedule that fits role
    capacity impossible to staff. They cannot where everyone may work on every trial at
    once, nor where every person works full time and every demand is whole FTE (as in
    PSPLIB): capacity then has a whole-number cover, one person on one trial each month."""
    if all(s.max_concurrent_trials >= len(inst.trials) for s in inst.staff.values()):
        return False
    whole = all(float(v).is_integer() for prof in inst.profiles.values() for month in prof.demand for v in month.values())
    return not (whole and all(s.fte == 1.0 for s in inst.staff.values()))


def tails(inst: Instance) -> dict[str, int]:
    """Months that must follow each trial's end: the longest chain of shortest successors."""
    memo: dict[str, int] = {}

    def tail(t: str) -> int:
        if t not in memo:
            memo[t] = max((lag + inst.shortest(b) + tail(b) for b, lag in inst.successors(t)), default=0)
        return memo[t]

    return {t: tail(t) for t in inst.trials}


def longest_path_first(inst: Instance) -> list[str]:
    """Trials by the months from their start to the end of their longest chain, longest first."""
    tail = tails(inst)
    return sorted(inst.trials, key=lambda t: (-(tail[t] + inst.shortest(t)), t))


def serial_schedule(
    inst: Instance, priority: list[str], optional: frozenset[str] = frozenset(), ledger: Ledger | None = None
) -> dict[str, tuple[str, int]] | None:
    """Schedule trials one by one (predecessors first, then by ``priority``) at the earliest
    start, over all options, whose demand fits the remaining capacity (and the ``ledger``).

    A trial in ``optional`` that does not fit (or whose predecessor was left out) is left
    out; None if any other trial does not fit.
    """
    capacity, services = certain_capacity(inst)
    rank = {t: i for i, t in enumerate(priority)}
    done: dict[str, tuple[str, int]] = {}
    left_out: set[str] = set()
    pending = set(priority)
    while pending:
        ready = [t for t in pending if all(p.trial in done or p.trial in left_out for p in inst.trials[t].predecessors)]
        if not ready:
            return None
        t = min(ready, key=rank.__getitem__)
        pending.discard(t)
        skip = any(p.trial in left_out for p in inst.trials[t].predecessors)
        best = None if skip else _earliest(inst, t, done, capacity, services, ledger if t in optional else None)
        if best is None:
            if t not in optional:
                return None
            left_out.add(t)
            continue
        option, start = best
        prof = inst.profiles[(t, option)]
        _book(prof, start, capacity, services)
        done[t] = (option, start)
        if ledger is not None:
            ledger.book(t, option, start)
    return done


def certain_capacity(inst: Instance) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """What a schedule may use per month: people in their primary role plus flex, per role; services."""
    capacity: dict[str, list[float]] = {r: [inst.flex_max.get(r, 0.0)] * inst.months for r in inst.roles}
    for p, person in inst.staff.items():
        for m in range(inst.months):
            if inst.available[p][m]:
                capacity[person.role][m] += person.fte
    return capacity, {svc: list(cap) for svc, cap in inst.service_capacity.items()}


def _earliest(
    inst: Instance,
    t: str,
    done: dict[str, tuple[str, int]],
    capacity: dict[str, list[float]],
    services: dict[str, list[float]],
    ledger: Ledger | None,
) -> tuple[str, int] | None:
    """The option and start that ends soonest among those that fit after t's predecessors."""
    best: tuple[int, str, int] | None = None
    floor = max(
        (done[p.trial][1] + inst.profiles[(p.trial, done[p.trial][0])].duration + p.lag for p in inst.trials[t].predecessors),
        default=0,
    )
    for o in inst.trials[t].options:
        prof = inst.profiles[(t, o.id)]
        for s in inst.starts[(t, o.id)]:
            if s < floor:
                continue
            if _fits(prof, s, capacity, services) and (ledger is None or ledger.fits(t, o.id, s)):
                if best is None or s + prof.duration < best[0]:
                    best = (s + prof.duration, o.id, s)
                break
    return None if best is None else (best[1], best[2])


def _fits(prof, start: int, capacity: dict[str, list[float]], services: dict[str, list[float]]) -> bool:
    for k in range(prof.duration):
        for r, v in prof.demand[k].items():
            if capacity[r][start + k] < v - 1e-9:
                return False
        for svc, u in prof.services[k].items():
            if services[svc][start + k] < u - 1e-9:
                return False
    return True


def _book(prof, start: int, capacity: dict[str, list[float]], services: dict[str, list[float]]) -> None:
    """Take an option's demand and service units, started at ``start``, out of what is free."""
    for k in range(prof.duration):
        for r, v in prof.demand[k].items():
            capacity[r][start + k] -= v
        for svc, u in prof.services[k].items():
            services[svc][start + k] -= u


def makespan(inst: Instance, schedule: dict[str, tuple[str, int]]) -> int:
    return max((s + inst.profiles[(t, o)].duration for t, (o, s) in schedule.items()), default=0)


def priority_rules(inst: Instance) -> list[list[str]]:
    """Classic priority orders (Kolisch 1996): latest start first (longest path), latest
    finish first, most successors (direct, and all), greatest rank positional weight (own
    length and the direct successors'), shortest first."""
    tail = tails(inst)
    shortest = {t: inst.shortest(t) for t in inst.trials}
    direct = {t: {b for b, _ in inst.successors(t)} for t in inst.trials}
    every = _all_successors(inst)
    weight = {t: shortest[t] + sum(shortest[b] for b in direct[t]) for t in inst.trials}
    return [
        longest_path_first(inst),
        sorted(inst.trials, key=lambda t: (-tail[t], -shortest[t], t)),
        sorted(inst.trials, key=lambda t: (-len(direct[t]), -tail[t], t)),
        sorted(inst.trials, key=lambda t: (-len(every[t]), -tail[t], t)),
        sorted(inst.trials, key=lambda t: (-weight[t], -tail[t], t)),
        sorted(inst.trials, key=lambda t: (shortest[t], t)),
    ]


def _all_successors(inst: Instance) -> dict[str, set[str]]:
    """Every trial that must wait for each trial, directly or through others."""
    memo: dict[str, set[str]] = {}

    def of(t: str) -> set[str]:
        if t not in memo:
            memo[t] = set()
            for b, _ in inst.successors(t):
                memo[t] |= {b} | of(b)
        return memo[t]

    return {t: of(t) for t in inst.trials}


def best_schedule(inst: Instance, samples: int = SAMPLES, seed: int = 0) -> dict[str, tuple[str, int]] | None:
    """The shortest schedule found by the priority rules, randomly perturbed rules, and
    forward-backward improvement of the best; None if no rule fits.

    Perturbed rules keep the longest-path order but swap nearby trials at random; the
    forward-backward pass (right-justify every trial as late as the makespan allows, then
    left-justify again) closes gaps a serial schedule leaves. A shorter schedule cuts the
    time-indexed model's start windows, which is what lets HiGHS prove optimality.
    """
    rules = priority_rules(inst)
    rng = random.Random(seed)
    base = rules[0]
    for _ in range(samples):
        noisy = {t: i + rng.uniform(0, NOISE * len(base)) for i, t in enumerate(base)}
        rules.append(sorted(base, key=noisy.__getitem__))
    best: dict[str, tuple[str, int]] | None = None
    for rule in rules:
        schedule = serial_schedule(inst, rule)
        if schedule is None:
            continue
        schedule = _forward_backward(inst, schedule)
        if best is None or makespan(inst, schedule) < makespan(inst, best):
            best = schedule
    return best


def _forward_backward(inst: Instance, schedule: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Double justification: the right-justified order's serial schedule, kept if shorter."""
    end = makespan(inst, schedule)
    by_finish = sorted(schedule, key=lambda t: -(schedule[t][1] + inst.profiles[(t, schedule[t][0])].duration))
    late = _right_justify(inst, schedule, by_finish, end)
    if late is None:
        return schedule
    again = serial_schedule(inst, sorted(late, key=lambda t: (late[t][1], t)))
    return again if again is not None and makespan(inst, again) < end else schedule


def _right_justify(
    inst: Instance, schedule: dict[str, tuple[str, int]], order: list[str], end: int
) -> dict[str, tuple[str, int]] | None:
    """Every trial (latest finish first) moved as late as capacity and its successors allow, ending by ``end``."""
    capacity, services = certain_capacity(inst)
    placed: dict[str, tuple[str, int]] = {}
    for t in order:
        o = schedule[t][0]
        prof = inst.profiles[(t, o)]
        latest = min([end] + [placed[b][1] - lag for b, lag in inst.successors(t) if b in placed]) - prof.duration
        start = next((s for s in sorted(inst.starts[(t, o)], reverse=True) if s <= latest and _fits(prof, s, capacity, services)), None)
        if start is None:
            return None
        _book(prof, start, capacity, services)
        placed[t] = (o, start)
    return placed


def quick_schedule(inst: Instance) -> Schedule | None:
    """The best priority-rule schedule (:func:`best_schedule`), searched with room where the horizon is too tight for it."""
    return best_schedule(inst) or _within(inst, best_schedule(_room_to_search(inst)))


def tighten_for_makespan(inst: Instance, found: Sequence[Schedule | None] | None = None) -> Staffed | None:
    """Cut start windows to the shortest of ``found`` (by default the priority rules' best
    schedule) that named people can staff; returns it with that staffing (a plan).

    The schedules are built against role capacity (people in their primary role), which
    ignores limits of concurrent trials and people's secondary roles; the cut is made
    only if named people can staff the schedule (:func:`models.heuristics.serial_staffing.staff_in_order`)
    and it keeps every contract volume, so that its makespan bounds some real plan and no
    plan better than it is cut off."""
    if not applies(inst):
        return None
    tail = tails(inst)
    candidates = [quick_schedule(inst)] if found is None else list(found)
    for schedule in sorted((c for c in candidates if c is not None), key=lambda c: makespan(inst, c)):
        if _within_volumes(inst, schedule) and (staffed := staff_in_order(inst, schedule)) is not None:
            break
    else:
        return None
    upper = makespan(inst, schedule)
    inst.sgs_schedule = schedule
    for (t, o), starts in inst.starts.items():
        d = inst.profiles[(t, o)].duration
        inst.starts[(t, o)] = [s for s in starts if s + d + tail[t] <= upper]
    return staffed


def _within_volumes(inst: Instance, schedule: Schedule) -> bool:
    """Whether the schedule's options keep every service's contract volume (priority rules
    look at monthly capacity only)."""
    return all(
        sum(inst.profiles[(t, o)].volume(svc) for t, (o, _) in schedule.items()) <= volume + 1e-9
        for svc, volume in inst.service_volume.items()
    )


def _room_to_search(inst: Instance) -> Instance:
    """The same problem on a horizon twice as long. Where the horizon is tight (a PSPLIB
    import's is one feasible schedule's length), every priority rule's first schedule may
    overrun it, and the forward-backward passes that would shorten one never start; with
    room, they do. Services given month by month keep their last month's capacity."""
    problem = inst.problem.model_copy(deep=True)
    problem.horizon.months = 2 * inst.months  # past Horizon's own limit on purpose: never validated, never planned
    for svc in problem.services:
        if isinstance(svc.capacity, list):
            svc.capacity = svc.capacity + [svc.capacity[-1]] * inst.months
    return compile_instance(problem)


def _within(inst: Instance, schedule: dict[str, tuple[str, int]] | None) -> dict[str, tuple[str, int]] | None:
    """A schedule found with room, if every start is one ``inst`` allows (so it ends inside its horizon)."""
    if schedule is None or any(s not in inst.starts[(t, o)] for t, (o, s) in schedule.items()):
        return None
    return schedule

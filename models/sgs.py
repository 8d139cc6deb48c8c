"""Serial schedule generation: quick feasible schedules that tighten the makespan model.

For the makespan objective a feasible schedule's length ``UB`` caps every trial's end:
no optimal plan of the portfolio stage ends later, so start windows shrink to
``s + d + tail(t) <= UB`` (``tail`` being the shortest chain of successors after the
trial), which keeps the time-indexed model small. The schedule is built against
capacity the portfolio stage certainly has (each person counted in their primary role
only, plus flex, plus service capacity), so it is feasible for that stage whenever the
problem has no budget and no skill or region restrictions; only then is it used.
"""

from __future__ import annotations

from typing import Protocol

from models.instance import Instance


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
    return all(t.mandatory for t in problem.trials)


def tails(inst: Instance) -> dict[str, int]:
    """Months that must follow each trial's end: the longest chain of shortest successors."""
    successors: dict[str, list[tuple[str, int]]] = {t: [] for t in inst.trials}
    for b, trial in inst.trials.items():
        for pred in trial.predecessors:
            successors[pred.trial].append((b, pred.lag))
    shortest = {t: min(inst.profiles[(t, o.id)].duration for o in trial.options) for t, trial in inst.trials.items()}
    memo: dict[str, int] = {}

    def tail(t: str) -> int:
        if t not in memo:
            memo[t] = max((lag + shortest[b] + tail(b) for b, lag in successors[t]), default=0)
        return memo[t]

    return {t: tail(t) for t in inst.trials}


def serial_schedule(
    inst: Instance, priority: list[str], optional: frozenset[str] = frozenset(), ledger: Ledger | None = None
) -> dict[str, tuple[str, int]] | None:
    """Schedule trials one by one (predecessors first, then by ``priority``) at the earliest
    start, over all options, whose demand fits the remaining capacity (and the ``ledger``).

    A trial in ``optional`` that does not fit (or whose predecessor was left out) is left
    out; None if any other trial does not fit.
    """
    n = inst.months
    capacity: dict[str, list[float]] = {r: [inst.flex_max.get(r, 0.0)] * n for r in inst.roles}
    for p, person in inst.staff.items():
        for m in range(n):
            if inst.available[p][m]:
                capacity[person.role][m] += person.fte
    services = {svc: list(cap) for svc, cap in inst.service_capacity.items()}
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
        for k in range(prof.duration):
            for r, v in prof.demand[k].items():
                capacity[r][start + k] -= v
            for svc, u in prof.services[k].items():
                services[svc][start + k] -= u
        done[t] = (option, start)
        if ledger is not None:
            ledger.book(t, option, start)
    return done


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


def makespan(inst: Instance, schedule: dict[str, tuple[str, int]]) -> int:
    return max((s + inst.profiles[(t, o)].duration for t, (o, s) in schedule.items()), default=0)


def tighten_for_makespan(inst: Instance) -> int | None:
    """Cut start windows to the best of a few priority rules' schedules; returns that makespan."""
    if not applies(inst):
        return None
    tail = tails(inst)
    shortest = {t: min(inst.profiles[(t, o.id)].duration for o in trial.options) for t, trial in inst.trials.items()}
    rules = [
        sorted(inst.trials, key=lambda t: (-(tail[t] + shortest[t]), t)),
        sorted(inst.trials, key=lambda t: (-tail[t], -shortest[t], t)),
        sorted(inst.trials, key=lambda t: (-len([b for b in inst.trials.values() if any(p.trial == t for p in b.predecessors)]), -tail[t], t)),
        sorted(inst.trials, key=lambda t: (shortest[t], t)),
    ]
    schedules = [s for rule in rules if (s := serial_schedule(inst, rule)) is not None]
    if not schedules:
        return None
    upper = min(makespan(inst, s) for s in schedules)
    for (t, o), starts in inst.starts.items():
        d = inst.profiles[(t, o)].duration
        inst.starts[(t, o)] = [s for s in starts if s + d + tail[t] <= upper]
    return upper

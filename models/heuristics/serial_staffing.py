"""Serial schedule generation with people booked as it goes: a plan valid by construction.

The constructive schedule (:mod:`models.heuristics.constructive`) tests a trial's fit against role
capacity counted in people's primary roles, and names people only afterwards. Where most
people hold two or three roles, or may work on one trial at a time, that test is wrong
both ways: it finds no schedule where running one trial at a time plainly fits, and it
accepts schedules no roster can staff. This heuristic places trials one at a time
(predecessors first, then by priority), each in the option and at the earliest start
where every month of it can be staffed from what the trials placed before left over:

- named people with spare FTE in that month, available, eligible for the role (secondary
  roles, skills, regions), and on fewer trials than their limit (or on this trial already);
- then flex within what is left of the role's monthly limit, then, where the objective
  prices it, shortfall;
- services within what is left of their capacity (each month, and over the horizon where a
  contract volume caps them), and the spend it adds (people at their
  own rates) within what is left of every year's budget and the total.

A month is covered greedily (the roles with the fewest people first; people already on
the trial, then the cheapest); where that leaves demand although the role's people
together have the time, the month's least-cost cover is solved exactly
(:class:`models.formulation.labour_cuts.NamedMonthLabour`). What is booked is the plan: it needs no
repair, so it is the fallback a solve can return whenever running trials one after
another fits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from models.formulation.instance import Instance, OptionProfile
from models.formulation.labour_cuts import NamedMonthLabour
from models.heuristics.shed import Staffed
from models.formulation.staffing import StaffingResult, month_blocks, net_demand, uncovered_price
from models.solver.progress import Deadline, cutoff

#: FTE under which an amount counts as none.
TOLERANCE = 1e-9

Schedule = dict[str, tuple[str, int]]
#: One month of a placement: (person, role, FTE) named, flex per role, shortfall per role.
Cover = tuple[list[tuple[str, str, float]], dict[str, float], dict[str, float]]


class _Pool:
    """What people, flex, services and budgets have left, month by month, as trials are booked."""

    def __init__(self, inst: Instance):
        self.inst = inst
        net = net_demand(inst, {})
        self.spare = {
            p: [max(0.0, s.fte - net.pinned_fte.get((p, m), 0.0)) if inst.available[p][m] else 0.0 for m in range(inst.months)]
            for p, s in inst.staff.items()
        }
        self.on: dict[tuple[str, int], set[str]] = defaultdict(set)
        for (p, m), trials in net.pinned_trials.items():
            self.on[(p, m)] |= trials
        self.flex_left = {r: [inst.flex_max.get(r, 0.0)] * inst.months for r in inst.roles}
        self.service_left = {svc: list(cap) for svc, cap in inst.service_capacity.items()}
        self.volume_left = dict(inst.service_volume)
        # Each contract volume keeps back what the trials that must run and are not booked
        # yet need at the least (their thriftiest option): a trial placed early in a
        # greedy option must not leave a later one without any option that fits.
        self.least = {
            t: {svc: min(inst.profiles[(t, o.id)].volume(svc) for o in inst.trials[t].options) for svc in self.volume_left}
            for t in sorted(inst.forced_run)
        }
        self.reserved = {svc: sum(need[svc] for need in self.least.values()) for svc in self.volume_left}
        budget = inst.problem.budget
        self.budget_left = dict(budget.per_year)
        self.total_left = budget.total
        for b in inst.pinned:
            for m in range(b.first, b.last + 1):
                self._spend(inst.year_of[m], inst.rate(b.staff) * b.fte)
        self.shortfall_allowed = inst.problem.objective.weights.shortfall is not None
        self.worked: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
        self.flex: dict[tuple[str, str, int], float] = {}
        self.shortfall: dict[tuple[str, str, int], float] = {}

    def _spend(self, year: str, amount: float) -> None:
        if year in self.budget_left:
            self.budget_left[year] -= amount
        if self.total_left is not None:
            self.total_left -= amount

    def room(self, person: str, trial: str, month: int) -> float:
        """FTE the person can still give this trial in the month (0 at their limit of concurrent trials)."""
        on = self.on[(person, month)]
        if trial not in on and len(on) >= self.inst.staff[person].max_concurrent_trials:
            return 0.0
        return self.spare[person][month]

    def place(self, trial: str, option: str, start: int, pinned: dict[tuple[str, str, int], float]) -> list[Cover] | None:
        """How every month of the option started at ``start`` would be covered, or None if one cannot be
        (or the services or budgets do not have room for it)."""
        inst = self.inst
        prof = inst.profiles[(trial, option)]
        for k, units in enumerate(prof.services):
            if any(self.service_left[svc][start + k] < u - TOLERANCE for svc, u in units.items()):
                return None
        if not self._volumes_fit(trial, prof):
            return None
        covers: list[Cover] = []
        spend: dict[str, float] = defaultdict(float)
        for k, month_demand in enumerate(prof.demand):
            m = start + k
            demand = {r: v - pinned.get((trial, r, m), 0.0) for r, v in month_demand.items()}
            cover = self._cover(trial, m, {r: v for r, v in demand.items() if v > TOLERANCE})
            if cover is None:
                return None
            covers.append(cover)
            named, flex, _ = cover
            spend[inst.year_of[m]] += inst.month_spend(trial, option, k)
            spend[inst.year_of[m]] += sum(inst.rate(p) * fte for p, _, fte in named) + sum(inst.flex_rate[r] * v for r, v in flex.items())
        if self.total_left is not None and sum(spend.values()) > self.total_left + TOLERANCE * max(1.0, self.total_left):
            return None
        if any(v > self.budget_left[y] + TOLERANCE * max(1.0, self.budget_left[y]) for y, v in spend.items() if y in self.budget_left):
            return None
        return covers

    def _volumes_fit(self, trial: str, prof: OptionProfile) -> bool:
        """The option's units fit each contract volume with what the other trials that must run keep back."""
        least = self.least.get(trial, {})
        return all(
            prof.volume(svc) + self.reserved[svc] - least.get(svc, 0.0) <= left + TOLERANCE
            for svc, left in self.volume_left.items()
        )

    def book(self, trial: str, option: str, start: int, covers: list[Cover]) -> None:
        inst = self.inst
        prof = inst.profiles[(trial, option)]
        least = self.least.pop(trial, {})
        for svc in self.volume_left:
            self.volume_left[svc] -= prof.volume(svc)
            self.reserved[svc] -= least.get(svc, 0.0)
        for k, (named, flex, short) in enumerate(covers):
            m = start + k
            for svc, u in prof.services[k].items():
                self.service_left[svc][m] -= u
            self._spend(inst.year_of[m], inst.month_spend(trial, option, k))
            for p, r, fte in named:
                self.spare[p][m] -= fte
                self.on[(p, m)].add(trial)
                self.worked[(p, trial, r)][m] = self.worked[(p, trial, r)].get(m, 0.0) + fte
                self._spend(inst.year_of[m], inst.rate(p) * fte)
            for r, v in flex.items():
                self.flex_left[r][m] -= v
                self.flex[(trial, r, m)] = v
                self._spend(inst.year_of[m], inst.flex_rate[r] * v)
            for r, v in short.items():
                self.shortfall[(trial, r, m)] = v

    def _cover(self, trial: str, m: int, demand: dict[str, float]) -> Cover | None:
        """One month of the trial's demand covered by people, flex and (if priced) shortfall; None if it cannot be."""
        inst = self.inst
        candidates = {r: [p for p in inst.eligible(trial, r) if self.room(p, trial, m) > TOLERANCE] for r in demand}
        for r, v in demand.items():
            # Necessary: the role's own people and flex have the time (else nothing will cover it).
            if not self.shortfall_allowed and sum(self.room(p, trial, m) for p in candidates[r]) + self.flex_left[r][m] < v - TOLERANCE:
                return None
        cover = self._greedy(trial, m, demand, candidates)
        if cover is None:
            cover = self._exact(trial, m, demand, candidates)
        return cover

    def _greedy(self, trial: str, m: int, demand: dict[str, float], candidates: dict[str, list[str]]) -> Cover | None:
        """Roles with the fewest people first; people already on the trial (this month or the last) first, then the cheapest."""
        inst = self.inst
        used: dict[str, float] = defaultdict(float)
        slots: set[str] = set()  # people this month's cover puts on the trial for the first time
        named: list[tuple[str, str, float]] = []
        flex: dict[str, float] = {}
        short: dict[str, float] = {}
        for r in sorted(demand, key=lambda r: (len(candidates[r]), r)):
            need = demand[r]
            staying = [p for p in candidates[r] if trial in self.on[(p, m)] or p in slots or (m > 0 and trial in self.on[(p, m - 1)])]
            for p in _unique([*staying, *candidates[r]]):
                if need <= TOLERANCE:
                    break
                if p not in slots and trial not in self.on[(p, m)] and len(self.on[(p, m)]) >= inst.staff[p].max_concurrent_trials:
                    continue
                take = min(need, self.spare[p][m] - used[p])
                if take > TOLERANCE:
                    named.append((p, r, take))
                    used[p] += take
                    slots.add(p)
                    need -= take
            need = self._flex_and_short(r, m, need, flex, short)
            if need is None:
                return None
        return named, flex, short

    def _exact(self, trial: str, m: int, demand: dict[str, float], candidates: dict[str, list[str]]) -> Cover | None:
        """The month's least-cost cover over every candidate at once (people shared between roles)."""
        inst = self.inst
        people = sorted({p for ps in candidates.values() for p in ps})
        index = {p: i for i, p in enumerate(people)}
        capacity = [(self.room(p, trial, m), inst.rate(p)) for p in people]
        keys = [(r, r, [index[p] for p in candidates[r]]) for r in demand]
        flex_max = {r: self.flex_left[r][m] for r in demand}
        labour = NamedMonthLabour(capacity, keys, flex_max, inst.flex_rate, uncovered_price(inst))
        named: list[tuple[str, str, float]] = []
        covered: dict[str, float] = defaultdict(float)
        flex: dict[str, float] = {}
        for r, i, fte in labour.cover(demand, TOLERANCE):
            covered[r] += fte  # type: ignore[index]
            if i is None:
                flex[r] = fte  # type: ignore[index]
            else:
                named.append((people[i], r, fte))  # type: ignore[arg-type]
        short: dict[str, float] = {}
        for r, v in demand.items():
            left = v - covered[r]
            if left > TOLERANCE:
                if not self.shortfall_allowed:
                    return None
                short[r] = left
        return named, flex, short

    def _flex_and_short(self, role: str, m: int, need: float, flex: dict[str, float], short: dict[str, float]) -> float | None:
        """What people left of a role's demand, bought as flex, then as shortfall where priced; None if some is left."""
        if need <= TOLERANCE:
            return 0.0
        bought = min(need, self.flex_left[role][m])
        if bought > TOLERANCE:
            flex[role] = bought
            need -= bought
        if need <= TOLERANCE:
            return 0.0
        if not self.shortfall_allowed:
            return None
        short[role] = need
        return 0.0

    def staffing(self) -> StaffingResult:
        return StaffingResult(outcome=None, blocks=month_blocks(self.worked, self.inst.pinned), flex=dict(self.flex), shortfall=dict(self.shortfall))


def _unique(people: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    return [p for p in people if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def staffed_serial(inst: Instance, priority: list[str], optional: frozenset[str] = frozenset(), deadline: Deadline = math.inf) -> Staffed | None:
    """Trials placed one by one (predecessors first, then by ``priority``) at the earliest
    start, over all options, at which they can be staffed from what is left (see the module
    docstring). A trial in ``optional`` that does not fit, or whose predecessor was left out,
    is left out; None if any other trial does not fit or the ``deadline`` passes (or a stop is asked)."""
    until = cutoff(deadline)
    pool = _Pool(inst)
    pinned = _pinned_fte(inst)
    rank = {t: i for i, t in enumerate(priority)}
    done: Schedule = {}
    left_out: set[str] = set()
    pending = set(priority)
    while pending:
        if until.passed():
            return None
        ready = [t for t in pending if all(p.trial in done or p.trial in left_out for p in inst.trials[t].predecessors)]
        if not ready:
            return None
        t = min(ready, key=rank.__getitem__)
        pending.discard(t)
        if any(p.trial in left_out for p in inst.trials[t].predecessors) or (placed := _earliest(inst, pool, t, done, pinned)) is None:
            if t not in optional:
                return None
            left_out.add(t)
            continue
        option, start, covers = placed
        pool.book(t, option, start, covers)
        done[t] = (option, start)
    return Staffed(done, pool.staffing())


def staff_in_order(inst: Instance, schedule: Schedule) -> Staffed | None:
    """The given schedule staffed trial by trial (earliest start first) the same way, or None
    if some month of it cannot be: a check that a schedule built against role capacity
    alone is a real plan."""
    pool = _Pool(inst)
    pinned = _pinned_fte(inst)
    for t, (o, s) in sorted(schedule.items(), key=lambda item: (item[1][1], item[0])):
        covers = pool.place(t, o, s, pinned)
        if covers is None:
            return None
        pool.book(t, o, s, covers)
    return Staffed(dict(schedule), pool.staffing())


def _pinned_fte(inst: Instance) -> dict[tuple[str, str, int], float]:
    """FTE that pinned assignments give each (trial, role, month)."""
    pinned: dict[tuple[str, str, int], float] = defaultdict(float)
    for b in inst.pinned:
        for m in range(b.first, b.last + 1):
            pinned[(b.trial, b.role, m)] += b.fte
    return pinned


def _earliest(
    inst: Instance, pool: _Pool, trial: str, done: Schedule, pinned: dict[tuple[str, str, int], float]
) -> tuple[str, int, list[Cover]] | None:
    """The option and start that ends soonest among those that can be staffed after the trial's predecessors."""
    floor = max(
        (done[p.trial][1] + inst.profiles[(p.trial, done[p.trial][0])].duration + p.lag for p in inst.trials[trial].predecessors),
        default=0,
    )
    best: tuple[int, str, int, list[Cover]] | None = None
    for o in inst.trials[trial].options:
        prof = inst.profiles[(trial, o.id)]
        for s in inst.starts[(trial, o.id)]:
            if s < floor or (best is not None and s + prof.duration >= best[0]):
                continue
            covers = pool.place(trial, o.id, s, pinned)
            if covers is not None:
                best = (s + prof.duration, o.id, s, covers)
                break
    return None if best is None else best[1:]  # type: ignore[return-value]

"""A problem compiled once into the sparse index sets and tables both model stages use.

Everything here is plain data derived from the problem: month indices instead of
``YYYY-MM`` strings, per-option demand profiles, the feasible start months of every
(trial, option) after windows, deadlines, predecessors and pins are applied, and
per-person availability. The formulations never look at the raw problem again, so
the rules of §2 are interpreted in exactly one place.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from models.contract.problem import AssignmentPin, Problem, Staff, Trial, TrialPin
from models.contract.stops import effective


@dataclass(frozen=True)
class OptionProfile:
    """One execution option laid out month by month from its start (offset 0)."""

    trial: str
    option: str
    duration: int
    demand: tuple[dict[str, float], ...]
    services: tuple[dict[str, float], ...]
    fixed_cost: float
    #: Service units over the whole run, in no particular month (count only against contract volumes).
    service_totals: dict[str, float] = field(default_factory=dict)

    def volume(self, service: str) -> float:
        """Units of ``service`` the option uses over its run: every month's plus its total."""
        return sum(month.get(service, 0.0) for month in self.services) + self.service_totals.get(service, 0.0)


@dataclass(frozen=True)
class Block:
    """A contiguous assignment in month indices (inclusive): a pin, or a block of a roster."""

    staff: str
    trial: str
    role: str
    first: int
    last: int
    fte: float


@dataclass
class Instance:
    problem: Problem
    months: int
    roles: list[str]
    trials: dict[str, Trial]
    staff: dict[str, Staff]
    profiles: dict[tuple[str, str], OptionProfile]
    starts: dict[tuple[str, str], list[int]]
    available: dict[str, list[bool]]
    staff_roles: dict[str, tuple[str, ...]]
    flex_max: dict[str, float]
    flex_rate: dict[str, float]
    service_capacity: dict[str, list[float]]
    service_cost: dict[str, float]
    #: Contract volume over the horizon, for services that have one.
    service_volume: dict[str, float]
    years: list[str]
    year_of: list[str]
    earliest: dict[str, int]
    deadline: dict[str, int | None]
    pinned: list[Block] = field(default_factory=list)
    #: Flex FTE held fixed per (trial, role, month), as pinned blocks hold named work: a
    #: re-plan keeping the previous plan's flex. The demand it covers is not rostered and it
    #: is part of the greedy and LP rosters' flex (:func:`models.formulation.staffing.net_demand`,
    #: :func:`~models.formulation.staffing.buy_flex`); the re-plan sets it on its own copy of
    #: the instance, which only those rosters staff.
    held_flex: dict[tuple[str, str, int], float] = field(default_factory=dict)
    forced_run: set[str] = field(default_factory=set)
    #: The best serial schedule found when start windows were cut to its makespan (pure scheduling problems).
    sgs_schedule: dict[str, tuple[str, int]] | None = None
    _eligible: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)
    _rates: dict[str, float] = field(default_factory=dict, repr=False)
    _successors: dict[str, list[tuple[str, int]]] | None = field(default=None, repr=False)
    _least_people: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def month(self, index: int) -> str:
        return self.problem.month(index)

    def rate(self, person: str) -> float:
        """Cost of one FTE-month of this person (cached: staffing heuristics ask millions of times)."""
        rate = self._rates.get(person)
        if rate is None:
            s = self.staff[person]
            rate = self._rates[person] = s.monthly_cost / s.fte
        return rate

    def discounted_value(self, trial: str, start: int) -> float:
        """The trial's value as the objective counts it when it starts in ``start`` (§2):
        discounted per month after its earliest start."""
        return self.trials[trial].value * (1 - self.problem.objective.discount_rate) ** (start - self.earliest[trial])

    def late(self, trial: str, option: str, start: int) -> int:
        due = self.deadline[trial]
        end = start + self.profiles[(trial, option)].duration - 1
        return 0 if due is None else max(0, end - due)

    def can_serve(self, person: str, trial: str, role: str) -> bool:
        """Role, skill and region eligibility of a person for a trial role (§2)."""
        if role not in self.staff_roles[person]:
            return False
        s = self.staff[person]
        t = self.trials[trial]
        needed = t.required_skills.get(role, [])
        if needed and not set(needed).issubset(s.skills):
            return False
        if role in self.regional and t.regions and s.region not in t.regions:
            return False
        return True

    def successors(self, trial: str) -> list[tuple[str, int]]:
        """The trials that name ``trial`` as a predecessor, each with its lag (computed once)."""
        if self._successors is None:
            self._successors = {t: [] for t in self.trials}
            for b, t in self.trials.items():
                for pred in t.predecessors:
                    self._successors[pred.trial].append((b, pred.lag))
        return self._successors[trial]

    def shortest(self, trial: str) -> int:
        """Months of the trial's shortest option."""
        return min(self.profiles[(trial, o.id)].duration for o in self.trials[trial].options)

    def eligible(self, trial: str, role: str) -> list[str]:
        """Everyone who may serve ``role`` on ``trial`` and is worth naming, cheapest first
        (computed once per pair, then cached).

        Where shortfall is priced, a person whose FTE-month costs at least that price is
        left out: leaving their share uncovered instead costs no more, spends no budget and
        names one person fewer, so no plan is better for naming them."""
        key = (trial, role)
        if key not in self._eligible:
            price = self.problem.objective.weights.shortfall
            people = [
                p
                for p, roles in self.staff_roles.items()
                if role in roles and self.can_serve(p, trial, role) and (price is None or self.rate(p) < price)
            ]
            self._eligible[key] = sorted(people, key=lambda p: (self.rate(p), p))
        return self._eligible[key]

    def least_people(self, trial: str, option: str) -> int:
        """The fewest distinct people any plan names on the trial when it runs this option and
        all demand must be covered (0 where shortfall is priced: demand may go uncovered).

        In a month, named FTE of role r is at least demand minus the role's flex limit, and no
        person gives a trial more than their FTE; roles no person can serve both of need
        different people. So in each month the trial has at least, per group of its roles
        linked by people eligible for two of them, ceil(sum of those roles' named FTE / the
        largest FTE among their people) people, and over the trial at least the most of any month.
        The fragmentation penalty is charged per (person, trial) pair, so this many pairs
        are charged whatever the roster (a floor stage 1 adds to its objective)."""
        key = (trial, option)
        if key not in self._least_people:
            self._least_people[key] = 0 if self.problem.objective.weights.shortfall is not None else self._count_least_people(trial, option)
        return self._least_people[key]

    def _count_least_people(self, trial: str, option: str) -> int:
        prof = self.profiles[(trial, option)]
        roles = sorted({r for month in prof.demand for r in month})
        eligible = {r: set(self.eligible(trial, r)) for r in roles}
        groups: list[tuple[set[str], set[str]]] = []  # (roles, people) linked by people eligible for two roles
        for r in roles:
            linked = [g for g in groups if g[1] & eligible[r]]
            merged = ({r} | set().union(*(g[0] for g in linked)), set(eligible[r]).union(*(g[1] for g in linked)))
            groups = [g for g in groups if g not in linked] + [merged]
        most = 0
        for month in prof.demand:
            count = 0
            for group_roles, people in groups:
                need = sum(max(0.0, month.get(r, 0.0) - self.flex_max.get(r, 0.0)) for r in group_roles)
                largest = max((self.staff[p].fte for p in people), default=0.0)
                if need > 1e-9 and largest > 0:
                    count += math.ceil(need / largest - 1e-9)
            most = max(most, count)
        return most

    @property
    def regional(self) -> set[str]:
        return set(self.problem.regional_roles)

    def services_cost(self, trial: str, option: str) -> float:
        """Cost of all service units an option uses, whatever the start (monthly and total)."""
        prof = self.profiles[(trial, option)]
        monthly = sum(units * self.service_cost[svc] for month in prof.services for svc, units in month.items())
        return monthly + self._totals_cost(prof)

    def _totals_cost(self, prof: OptionProfile) -> float:
        return sum(units * self.service_cost[svc] for svc, units in prof.service_totals.items())

    def option_cost(self, trial: str, option: str) -> float:
        """External cost of an option: fixed price plus all service units."""
        return self.profiles[(trial, option)].fixed_cost + self.services_cost(trial, option)

    def external_spend(self, schedule: dict[str, tuple[str, int]]) -> dict[str, float]:
        """Fixed prices and services of a schedule, per calendar year."""
        spend: dict[str, float] = defaultdict(float)
        for t, (o, s) in schedule.items():
            for k in range(self.profiles[(t, o)].duration):
                spend[self.year_of[s + k]] += self.month_spend(t, o, k)
        return spend

    def month_spend(self, trial: str, option: str, offset: int) -> float:
        """External spend of an option in its ``offset``-th active month (fixed cost and the
        service totals' cost spread evenly)."""
        prof = self.profiles[(trial, option)]
        services = sum(units * self.service_cost[svc] for svc, units in prof.services[offset].items())
        return (prof.fixed_cost + self._totals_cost(prof)) / prof.duration + services


def _profile(trial: Trial, option_index: int) -> OptionProfile:
    option = trial.options[option_index]
    demand: list[dict[str, float]] = []
    services: list[dict[str, float]] = []
    for stage in option.stages:
        stage_demand = {r: v for r, v in stage.demand.items() if v > 0}
        stage_services = {s: v for s, v in stage.services.items() if v > 0}
        demand.extend(dict(stage_demand) for _ in range(stage.months))
        services.extend(dict(stage_services) for _ in range(stage.months))
    return OptionProfile(
        trial=trial.id,
        option=option.id,
        duration=option.duration,
        demand=tuple(demand),
        services=tuple(services),
        fixed_cost=option.fixed_cost,
        service_totals={s: v for s, v in option.service_totals.items() if v > 0},
    )


def _availability(problem: Problem, person: Staff) -> list[bool]:
    n = problem.horizon.months
    lo = 0 if person.available_from is None else max(0, problem.index(person.available_from))
    hi = n - 1 if person.available_to is None else min(n - 1, problem.index(person.available_to))
    free = [lo <= m <= hi for m in range(n)]
    for month in person.leave:
        m = problem.index(month)
        if 0 <= m < n:
            free[m] = False
    return free


def _topological(trials: dict[str, Trial]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(tid: str) -> None:
        if tid in seen:
            return
        seen.add(tid)
        for pred in trials[tid].predecessors:
            visit(pred.trial)
        order.append(tid)

    for tid in trials:
        visit(tid)
    return order


def _frozen_pins(problem: Problem) -> tuple[dict[str, tuple[str, int]], set[str], list[AssignmentPin]]:
    """Turn ``frozen_until`` + ``previous_plan`` into start pins, start floors and assignment pins."""
    pins = problem.pins
    if pins.frozen_until is None or pins.previous_plan is None:
        return {}, set(), []
    frozen = problem.index(pins.frozen_until)
    fixed: dict[str, tuple[str, int]] = {}
    for tp in pins.previous_plan.trials:
        if tp.run and tp.start is not None and tp.option is not None and problem.index(tp.start) < frozen:
            fixed[tp.id] = (tp.option, problem.index(tp.start))
    floored = {t.id for t in problem.trials} - set(fixed)
    contracted = {s.id: s.fte for s in problem.staff}
    kept: list[AssignmentPin] = []
    for a in pins.previous_plan.assignments:
        if problem.index(a.start) >= frozen:
            continue
        last = min(problem.index(a.end), frozen - 1)
        # Validation refused FTE above the person's by more than noise; the noise is read as their FTE.
        fte = min(a.fte, contracted[a.staff])
        kept.append(AssignmentPin(staff=a.staff, trial=a.trial, role=a.role, start=a.start, end=problem.month(last), fte=fte))
    return fixed, floored, kept


def compile_instance(problem: Problem) -> Instance:
    """Compute every index set once; start domains are as tight as the rules allow. A
    stopped trial is compiled as :func:`models.contract.stops.effective` reads it."""
    problem = effective(problem)
    n = problem.horizon.months
    trials = {t.id: t for t in problem.trials}
    staff = {s.id: s for s in problem.staff}
    profiles = {(t.id, o.id): _profile(t, i) for t in problem.trials for i, o in enumerate(t.options)}
    hard_deadlines = problem.objective.kind == "cost"

    frozen_fixed, frozen_floor, frozen_assignments = _frozen_pins(problem)
    frozen_index = problem.index(problem.pins.frozen_until) if problem.pins.frozen_until else 0
    trial_pins = {p.trial: p for p in problem.pins.trials}
    pinned = [
        Block(a.staff, a.trial, a.role, problem.index(a.start), problem.index(a.end), a.fte)
        for a in [*problem.pins.assignments, *frozen_assignments]
    ]
    pinned_by_trial: dict[str, list[Block]] = defaultdict(list)
    for p in pinned:
        pinned_by_trial[p.trial].append(p)

    earliest = {tid: max(0, problem.index(t.earliest_start)) if t.earliest_start else 0 for tid, t in trials.items()}
    deadline = {tid: problem.index(t.deadline) if t.deadline else None for tid, t in trials.items()}

    starts: dict[tuple[str, str], list[int]] = {}
    earliest_end: dict[str, int] = {}
    for tid in _topological(trials):
        t = trials[tid]
        pin = trial_pins.get(tid)
        pinned_start = problem.index(pin.start) if pin is not None and pin.start is not None else None
        lo = earliest[tid]
        if tid in frozen_floor:
            lo = max(lo, frozen_index)
        for pred in t.predecessors:
            lo = max(lo, earliest_end.get(pred.trial, n) + 1 + pred.lag)
        hi = n - 1 if t.latest_start is None else problem.index(t.latest_start)
        min_end = n
        for o in t.options:
            prof = profiles[(tid, o.id)]
            candidates = range(lo, min(hi, n - prof.duration) + 1)
            domain = [s for s in candidates if _start_allowed(tid, o.id, s, prof, pin, pinned_start, frozen_fixed, pinned_by_trial.get(tid, []))]
            if hard_deadlines and t.mandatory and deadline[tid] is not None:
                domain = [s for s in domain if s + prof.duration - 1 <= deadline[tid]]
            starts[(tid, o.id)] = domain
            if domain:
                min_end = min(min_end, domain[0] + prof.duration - 1)
        earliest_end[tid] = min_end

    forced = {tid for tid, t in trials.items() if t.mandatory}
    forced |= {tid for tid, pin in trial_pins.items() if pin.run}
    forced |= set(frozen_fixed) | set(pinned_by_trial)
    _tighten_latest(trials, profiles, starts, forced)
    if problem.objective.kind in ("cost", "makespan"):
        # These objectives run only the trials the problem makes run (the Objective docstring).
        for (tid, o), domain in starts.items():
            if tid not in forced:
                domain.clear()

    shortfall = problem.objective.weights.shortfall
    years = sorted({problem.month(m)[:4] for m in range(n)})
    capacity: dict[str, list[float]] = {}
    for svc in problem.services:
        cap = svc.capacity
        capacity[svc.id] = list(cap) if isinstance(cap, list) else [float(cap)] * n
    return Instance(
        problem=problem,
        months=n,
        roles=list(problem.roles),
        trials=trials,
        staff=staff,
        profiles=profiles,
        starts=starts,
        available={s.id: _availability(problem, s) for s in problem.staff},
        staff_roles={s.id: (s.role, *[r for r in s.secondary_roles if r != s.role]) for s in problem.staff},
        # Flex that costs at least the shortfall price is never worth buying (see Instance.eligible).
        flex_max={f.role: f.max_fte for f in problem.flex if shortfall is None or f.monthly_rate < shortfall},
        flex_rate={f.role: f.monthly_rate for f in problem.flex},
        service_capacity=capacity,
        service_cost={svc.id: svc.unit_cost for svc in problem.services},
        service_volume={svc.id: svc.contract_volume for svc in problem.services if svc.contract_volume is not None},
        years=years,
        year_of=[problem.month(m)[:4] for m in range(n)],
        earliest=earliest,
        deadline=deadline,
        pinned=pinned,
        forced_run=forced,
    )


def _start_allowed(
    trial: str,
    option: str,
    start: int,
    prof: OptionProfile,
    pin: TrialPin | None,
    pinned_start: int | None,
    frozen_fixed: dict[str, tuple[str, int]],
    pinned: list[Block],
) -> bool:
    """Pins that fix an option or start, and pinned assignments that must fit the demand."""
    if pin is not None:
        if pin.run is False:
            return False
        if pin.option is not None and pin.option != option:
            return False
    if pinned_start is not None and pinned_start != start:
        return False
    if trial in frozen_fixed and frozen_fixed[trial] != (option, start):
        return False
    for p in pinned:
        if p.first < start or p.last > start + prof.duration - 1:
            return False
        if any(prof.demand[m - start].get(p.role, 0.0) < p.fte - 1e-9 for m in range(p.first, p.last + 1)):
            return False
    return True


def _tighten_latest(
    trials: dict[str, Trial],
    profiles: dict[tuple[str, str], OptionProfile],
    starts: dict[tuple[str, str], list[int]],
    forced: set[str],
) -> None:
    """A predecessor of a trial that must run must end before that trial's latest start."""
    for tid in reversed(_topological(trials)):
        if tid not in forced:
            continue
        t = trials[tid]
        latest = max((s for o in t.options for s in starts[(tid, o.id)][-1:]), default=-1)
        for pred in t.predecessors:
            forced.add(pred.trial)
            for o in trials[pred.trial].options:
                d = profiles[(pred.trial, o.id)].duration
                key = (pred.trial, o.id)
                starts[key] = [s for s in starts[key] if s + d + pred.lag <= latest]

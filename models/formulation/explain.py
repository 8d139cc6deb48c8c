"""Why a plan looks the way it does: what binds for each optional trial left out and each late trial.

Each question is answered by re-trying the trial against what the plan leaves free, every
other trial held where the plan put it (the meaning of every claim is
:class:`models.contract.plan.Fact`'s): the spare FTE of the people able to serve the trial
(primary or secondary role, skills, region, window and leave, their limit of concurrent
trials), unused flex, service room and the budget room, and where the plan's predecessors
end. Each claim is sound on its own: a role is called short only if no roster could cover
it (the trial's demand beats the free FTE of everyone able to serve it, Gale's condition
over the roles that share people), a budget exceeded only if even the trial's least cost
exceeds it. The sentence a planner reads is made from the facts, which a test recomputes
from the plan's own tables (:mod:`models.contract.check_explanations`).

- An optional trial left out: first the rules that keep it out whatever the plan does
  (predecessors not run, a pin, the objective's rule under ``cost`` and ``makespan``, no
  start in its window); else every start of every option is tried. Where none fits, the
  start where the fewest rules bind is reported ("option standard from 2027-04: roles CRA
  short in 2027-05..2027-07 (3 months)"); where one fits, whether it could pay by the
  objective's own formula and its least cost (``may_pay``: a plan with it may be better)
  or not (``not_worth``).
- A late trial: how much of its lateness its window and predecessor chains make
  unavoidable, then, with its own work given back, the start that would end it least late
  and what binds there.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from models.contract.plan import Explanation, Fact, Plan
from models.formulation.instance import Instance
from models.formulation.staffing import demand_profile, flex_shares

#: Most roles linked through shared people whose every subset is checked together (Gale's
#: condition); a larger group is checked as a whole and in pairs.
MAX_SUBSET_ROLES = 6
#: FTE and units below this are noise.
EPS = 1e-6


@dataclass
class _Free:
    """What the plan leaves free: spare FTE per (person, month) and the distinct trials each
    works then, unused flex per role, room per service, budget room per year and in total."""

    people: list[str]
    spare: np.ndarray
    trials_on: list[list[set[str]]]
    #: (person, month) at their limit of concurrent trials.
    full: np.ndarray
    flex: dict[str, np.ndarray]
    units: dict[str, np.ndarray]
    year_room: dict[str, float]
    total_room: float | None


@dataclass
class _Seats:
    """What is free for one trial: each person's usable FTE per month (``usable``: spare, or 0
    where they are at their limit of concurrent trials and not on this one), the free FTE of
    each role set's able people plus its unused flex per month, each role's lowest free rate."""

    free: _Free
    usable: np.ndarray
    able: dict[str, np.ndarray]
    groups: list[tuple[str, ...]]
    supply: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)
    rate: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Try:
    """What binds at one start (option, start month index): facts, fewest first."""

    option: str
    start: int
    facts: list[Fact]
    least_cost: dict[str, float]


def explain(inst: Instance, schedule: dict[str, tuple[str, int]], plan: Plan) -> list[Explanation]:
    """One explanation per optional trial left out and per late trial."""
    free = _free(inst, plan)
    out: list[Explanation] = []
    for tid in inst.trials:
        if tid in schedule:
            option, start = schedule[tid]
            if inst.late(tid, option, start):
                out.append(_why_late(inst, schedule, plan, free, tid, option, start))
        elif tid not in inst.forced_run:
            out.append(_why_out(inst, schedule, free, tid))
    return out


def _free(inst: Instance, plan: Plan) -> _Free:
    problem = inst.problem
    people = list(inst.staff)
    row = {p: i for i, p in enumerate(people)}
    spare = np.array([[s.fte if inst.available[p][m] else 0.0 for m in range(inst.months)] for p, s in inst.staff.items()])
    spare = spare.reshape(len(people), inst.months)
    trials_on: list[list[set[str]]] = [[set() for _ in range(inst.months)] for _ in people]
    for a in plan.assignments:
        for m in range(problem.index(a.start), problem.index(a.end) + 1):
            spare[row[a.staff], m] -= a.fte
            trials_on[row[a.staff]][m].add(a.trial)
    flex = {f.role: np.full(inst.months, f.max_fte) for f in problem.flex}
    for rm in plan.role_months:
        if rm.role in flex:
            flex[rm.role][problem.index(rm.month)] -= rm.flex
    units = {svc: np.array(cap, dtype=float) for svc, cap in inst.service_capacity.items()}
    for sm in plan.service_months:
        units[sm.service][problem.index(sm.month)] -= sm.used
    year_room = {y.year: y.budget - y.spend for y in plan.budget.per_year if y.budget is not None}
    total_room = None if plan.budget.total_budget is None else plan.budget.total_budget - plan.budget.total
    most = np.array([inst.staff[p].max_concurrent_trials for p in people]).reshape(len(people), 1)
    full = np.array([[len(on) for on in months] for months in trials_on]).reshape(spare.shape) >= most
    return _Free(people, np.maximum(spare, 0.0), trials_on, full, flex, units, year_room, total_room)


def _seats(inst: Instance, free: _Free, tid: str, running: bool) -> _Seats:
    """What is free for this trial (see :class:`_Seats`); a ``running`` trial's own people may
    keep working on it whatever their limit of concurrent trials."""
    roles = sorted({r for o in inst.trials[tid].options for month in inst.profiles[(tid, o.id)].demand for r in month})
    able = {r: np.array([i for i, p in enumerate(free.people) if inst.can_serve(p, tid, r)], dtype=int) for r in roles}
    limit = free.full
    if running:
        on_it = np.array([[tid in on for on in months] for months in free.trials_on], dtype=bool).reshape(limit.shape)
        limit = limit & ~on_it
    usable = np.where(limit, 0.0, free.spare)
    return _Seats(free, usable, able, _groups(roles, able))


def _groups(roles: list[str], able: dict[str, np.ndarray]) -> list[tuple[str, ...]]:
    """The role sets whose Gale condition is checked: each role, and every larger set of roles
    linked through people able to serve more than one of them (a linked group beyond
    ``MAX_SUBSET_ROLES`` roles as a whole and in pairs)."""
    out: list[tuple[str, ...]] = [(r,) for r in roles]
    linked: dict[str, frozenset[str]] = {r: frozenset([r]) for r in roles}
    holders: dict[int, set[str]] = defaultdict(set)
    for r in roles:
        for i in able[r].tolist():
            holders[i].add(r)
    for held in holders.values():
        if len(held) > 1:
            merged = frozenset().union(*(linked[r] for r in held))
            for r in merged:
                linked[r] = merged
    for component in sorted({c for c in linked.values() if len(c) > 1}, key=sorted):
        members = sorted(component)
        sizes = range(2, len(members) + 1) if len(members) <= MAX_SUBSET_ROLES else [2, len(members)]
        out += [c for n in sizes for c in itertools.combinations(members, n)]
    return out


def _supply(seats: _Seats, group: tuple[str, ...]) -> np.ndarray:
    """Free FTE per month of everyone able to serve any role of the group, plus its unused flex."""
    if group not in seats.supply:
        rows = np.unique(np.concatenate([seats.able[r] for r in group]))
        total = seats.usable[rows].sum(axis=0) if rows.size else np.zeros(seats.usable.shape[1])
        for r in group:
            if r in seats.free.flex:
                total = total + np.maximum(seats.free.flex[r], 0.0)
        seats.supply[group] = total
    return seats.supply[group]


def _rates(inst: Instance, seats: _Seats, role: str) -> np.ndarray:
    """Per month, the lowest rate among unused flex and the role's able people with free FTE
    (0 where there is neither: the shortage is then its own fact)."""
    if role not in seats.rate:
        rows = seats.able[role]
        months = seats.usable.shape[1]
        rate = np.full(months, np.inf)
        if rows.size:
            per = np.array([inst.rate(seats.free.people[i]) for i in rows.tolist()])
            rate = np.where(seats.usable[rows] > EPS, per[:, None], np.inf).min(axis=0)
        if role in seats.free.flex:
            rate = np.minimum(rate, np.where(seats.free.flex[role] > EPS, inst.flex_rate[role], np.inf))
        seats.rate[role] = np.where(np.isfinite(rate), rate, 0.0)
    return seats.rate[role]


def _why_out(inst: Instance, schedule: dict[str, tuple[str, int]], free: _Free, tid: str) -> Explanation:
    trial = inst.trials[tid]
    missing = [p.trial for p in trial.predecessors if p.trial not in schedule]
    if missing:
        facts = [Fact(kind="predecessor_not_run", trial=p) for p in missing]
        return Explanation(trial=tid, reason=f"predecessor(s) not run: {', '.join(missing)}", facts=facts)
    if any(p.trial == tid and p.run is False for p in inst.problem.pins.trials):
        return Explanation(trial=tid, reason="pinned not to run", facts=[Fact(kind="pinned")])
    kind = inst.problem.objective.kind
    if kind in ("cost", "makespan"):
        what = "cost" if kind == "cost" else "months and cost"
        return Explanation(
            trial=tid,
            reason=f"optional trials are not run under the {kind} objective: running one only adds {what}",
            facts=[Fact(kind="objective_rule", rule=kind)],
        )
    candidates = _candidates(inst, schedule, tid)
    if not candidates:
        return Explanation(trial=tid, reason="no start within its window and the horizon after its predecessors end", facts=[Fact(kind="no_start")])
    seats = _seats(inst, free, tid, running=False)
    tries = [_try(inst, schedule, seats, tid, o, s) for o, s in candidates]
    fitting = [t for t in tries if not t.facts]
    if not fitting:
        best = min(tries, key=lambda t: (len(t.facts), t.start))
        return Explanation(trial=tid, reason=f"option {best.option} from {inst.month(best.start)}: " + "; ".join(_say(inst, f) for f in best.facts), facts=best.facts)
    gain, best = max(((_gain(inst, tid, t), t) for t in fitting), key=lambda g: (g[0], -g[1].start))
    where = Fact(kind="fits", option=best.option, start=inst.month(best.start))
    if gain > 0:
        fact = Fact(kind="may_pay", option=best.option, start=inst.month(best.start), amount=round(gain, 2))
        return Explanation(
            trial=tid,
            reason=f"option {best.option} from {inst.month(best.start)} fits what the plan leaves free and could gain up to "
            f"{_amount(inst, gain)} by the objective (its least cost counted): a plan with it may be better than this one",
            facts=[where, fact],
        )
    fact = Fact(kind="not_worth", option=best.option, start=inst.month(best.start), amount=round(gain, 2))
    return Explanation(
        trial=tid,
        reason=f"it fits (best at option {best.option} from {inst.month(best.start)}), but at no start that fits does its "
        f"discounted value cover even its least cost and tardiness: at best {gain:,.0f}",
        facts=[where, fact],
    )


def _candidates(inst: Instance, schedule: dict[str, tuple[str, int]] | None, tid: str) -> list[tuple[str, int]]:
    """Every (option, start) in the trial's window and the horizon, as a trial pin narrows
    them, and (given the plan's ``schedule``) after each predecessor ends plus its lag."""
    problem, trial = inst.problem, inst.trials[tid]
    first = 0 if trial.earliest_start is None else max(0, problem.index(trial.earliest_start))
    last = inst.months - 1 if trial.latest_start is None else problem.index(trial.latest_start)
    for p in trial.predecessors if schedule is not None else []:
        o, s = schedule[p.trial]
        first = max(first, s + inst.profiles[(p.trial, o)].duration + p.lag)
    pin = next((p for p in problem.pins.trials if p.trial == tid), None)
    out = []
    for option in trial.options:
        if pin is not None and pin.option is not None and pin.option != option.id:
            continue
        duration = inst.profiles[(tid, option.id)].duration
        for s in range(first, min(last, inst.months - duration) + 1):
            if pin is None or pin.start is None or problem.index(pin.start) == s:
                out.append((option.id, s))
    return out


def _try(inst: Instance, schedule: dict[str, tuple[str, int]], seats: _Seats, tid: str, option: str, start: int) -> _Try:
    """Every rule the trial breaks at this start against what is free for it."""
    free = seats.free
    prof = inst.profiles[(tid, option)]
    facts = _predecessors(inst, schedule, tid, start) + _roles_short(inst, seats, tid, option, start)
    full: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for k, units in enumerate(prof.services):
        for svc, u in units.items():
            if (over := u - free.units[svc][start + k]) > EPS:
                full[svc].append((start + k, over))
    facts += [
        Fact(kind="service_full", service=svc, months=[inst.month(m) for m, _ in runs], amount=round(max(v for _, v in runs), 6))
        for svc, runs in sorted(full.items())
    ]
    cost = least_cost(inst, seats, tid, option, start)
    for year, c in sorted(cost.items()):
        if year in free.year_room and (over := c - free.year_room[year]) > 0.005:
            facts.append(Fact(kind="budget_year", year=year, amount=round(over, 2)))
    if free.total_room is not None and (over := sum(cost.values()) - free.total_room) > 0.005:
        facts.append(Fact(kind="budget_total", amount=round(over, 2)))
    for f in facts:
        f.option, f.start = option, inst.month(start)
    return _Try(option, start, facts, cost)


def _predecessors(inst: Instance, schedule: dict[str, tuple[str, int]], tid: str, start: int) -> list[Fact]:
    out = []
    for p in inst.trials[tid].predecessors:
        if p.trial in schedule:
            o, s = schedule[p.trial]
            end = s + inst.profiles[(p.trial, o)].duration - 1
            if start <= end + p.lag:
                out.append(Fact(kind="predecessor_ends", trial=p.trial, months=[inst.month(end)], amount=float(p.lag)))
    return out


def _roles_short(inst: Instance, seats: _Seats, tid: str, option: str, start: int) -> list[Fact]:
    """Role sets whose demand beats the free FTE of everyone able to serve any of them plus
    their unused flex (Gale's condition: where no set fails, the trial can be staffed from
    what is free), with the months each is short; a set is named only for months no smaller
    named set already explains."""
    demand = inst.profiles[(tid, option)].demand
    short: dict[tuple[str, ...], list[tuple[int, float]]] = {}
    for group in seats.groups:
        need = np.array([sum(month.get(r, 0.0) for r in group) for month in demand])
        excess = need - _supply(seats, group)[start : start + len(demand)]
        months = [(start + k, float(v)) for k, v in enumerate(excess) if v > EPS and need[k] > EPS]
        if months:
            short[group] = months
    kept: list[tuple[tuple[str, ...], list[tuple[int, float]]]] = []
    for group, months in sorted(short.items(), key=lambda kv: (len(kv[0]), kv[0])):
        covered = {m for g, ms in kept if set(g) <= set(group) for m, _ in ms}
        rest = [(m, v) for m, v in months if m not in covered]
        if rest:
            kept.append((group, rest))
    return [Fact(kind="roles_short", roles=list(g), months=[inst.month(m) for m, _ in ms], amount=round(max(v for _, v in ms), 6)) for g, ms in kept]


def least_cost(inst: Instance, seats: _Seats, tid: str, option: str, start: int) -> dict[str, float]:
    """The trial's least spend per year at this start: the option's external spend, and each
    role-month's demand at the lowest rate among unused flex and the people able to serve it
    with free FTE (no roster costs less)."""
    prof = inst.profiles[(tid, option)]
    cost: dict[str, float] = defaultdict(float)
    for k, demand in enumerate(prof.demand):
        m = start + k
        year = inst.year_of[m]
        cost[year] += inst.month_spend(tid, option, k)
        for r, v in demand.items():
            cost[year] += v * float(_rates(inst, seats, r)[m])
    return cost


def _gain(inst: Instance, tid: str, t: _Try) -> float:
    """The trial's gain at a fitting start by the objective's formula, its least cost counted."""
    objective = inst.problem.objective
    money = sum(t.least_cost.values()) + objective.weights.tardiness * inst.trials[tid].tardiness_penalty * inst.late(tid, t.option, t.start)
    if objective.kind == "value":
        return inst.discounted_value(tid, t.start) - money
    weight = 1.0 if all(x.value == 0 for x in inst.trials.values()) else inst.trials[tid].value
    end = t.start + inst.profiles[(tid, t.option)].duration - 1
    return weight * (inst.months - end - 1) - objective.penalty_scale * money


def _why_late(inst: Instance, schedule: dict[str, tuple[str, int]], plan: Plan, free: _Free, tid: str, option: str, start: int) -> Explanation:
    """How much of the lateness is unavoidable, and what holds the rest, with the trial's own work given back."""
    late = inst.late(tid, option, start)
    due = inst.trials[tid].deadline
    floor_end = earliest_end(inst, tid)
    least = max(0, floor_end - inst.deadline[tid]) if inst.deadline[tid] is not None else 0
    head = f"{late} month(s) late against deadline {due}"
    facts = [Fact(kind="late_unavoidable", months=[inst.month(floor_end)], amount=float(least))] if least else []
    if least >= late:
        return Explanation(
            trial=tid,
            reason=f"{head}, all of it unavoidable: its window and predecessors let it end {inst.month(floor_end)} at the earliest",
            facts=facts,
        )
    given = _given_back(inst, schedule, plan, free, tid, option, start)
    candidates = [(o, s) for o, s in _candidates(inst, None, tid) if inst.late(tid, o, s) < late]
    part = f"{least} of them unavoidable (it cannot end before {inst.month(floor_end)}); " if least else ""
    if not candidates:
        # Its window allows a less late start (else all of it would be unavoidable): a pin holds it.
        return Explanation(trial=tid, reason=f"{head}; {part}a trial pin holds its option or start", facts=[*facts, Fact(kind="pinned")])
    seats = _seats(inst, given, tid, running=True)
    tries = [_try(inst, schedule, seats, tid, o, s) for o, s in candidates]
    best = min(tries, key=lambda t: (len(t.facts), inst.late(tid, t.option, t.start), -t.start))
    target = inst.late(tid, best.option, best.start)
    ending = "on time" if target == 0 else f"{target} month(s) late"
    if not best.facts:
        fits = Fact(kind="fits", option=best.option, start=inst.month(best.start))
        return Explanation(
            trial=tid,
            reason=f"{head}; {part}ending {ending} (option {best.option} from {inst.month(best.start)}) fits what the plan "
            "leaves free: a plan with it earlier may be better than this one",
            facts=[*facts, fits],
        )
    return Explanation(
        trial=tid,
        reason=f"{head}; {part}ending {ending} needs option {best.option} from {inst.month(best.start)}: " + "; ".join(_say(inst, f) for f in best.facts),
        facts=[*facts, *best.facts],
    )


def earliest_end(inst: Instance, tid: str, memo: dict[str, int] | None = None) -> int:
    """The earliest month the trial can end whatever else happens: from its earliest start,
    each predecessor chain at its earliest with the shortest options, its shortest option."""
    memo = {} if memo is None else memo
    if tid not in memo:
        trial = inst.trials[tid]
        first = 0 if trial.earliest_start is None else max(0, inst.problem.index(trial.earliest_start))
        for p in trial.predecessors:
            first = max(first, earliest_end(inst, p.trial, memo) + p.lag + 1)
        memo[tid] = first + inst.shortest(tid) - 1
    return memo[tid]


def _given_back(inst: Instance, schedule: dict[str, tuple[str, int]], plan: Plan, free: _Free, tid: str, option: str, start: int) -> _Free:
    """What is free once the trial's own work is given back: its people's FTE, its units, its
    flex share and its spend."""
    problem = inst.problem
    row = {p: i for i, p in enumerate(free.people)}
    spare = free.spare.copy()
    for a in plan.assignments:
        if a.trial == tid:
            for m in range(problem.index(a.start), problem.index(a.end) + 1):
                spare[row[a.staff], m] += a.fte
    units = {svc: v.copy() for svc, v in free.units.items()}
    prof = inst.profiles[(tid, option)]
    for k, used in enumerate(prof.services):
        for svc, u in used.items():
            units[svc][start + k] += u
    flex = {r: v.copy() for r, v in free.flex.items()}
    share = _flex_share(inst, schedule, plan, tid)
    for (r, m), v in share.items():
        if r in flex:
            flex[r][m] += v
    spend = _trial_spend(inst, plan, share, tid, option, start)
    year_room = {y: room + spend.get(y, 0.0) for y, room in free.year_room.items()}
    total_room = None if free.total_room is None else free.total_room + sum(spend.values())
    return _Free(free.people, spare, free.trials_on, free.full, flex, units, year_room, total_room)


def _flex_share(inst: Instance, schedule: dict[str, tuple[str, int]], plan: Plan, tid: str) -> dict[tuple[str, int], float]:
    """The trial's share of each role-month's flex in the plan, by the rule of §2
    (:func:`models.formulation.staffing.flex_shares`)."""
    problem = inst.problem
    named: dict[tuple[str, str, int], float] = defaultdict(float)
    for a in plan.assignments:
        for m in range(problem.index(a.start), problem.index(a.end) + 1):
            named[(a.trial, a.role, m)] += a.fte
    bought = {(rm.role, problem.index(rm.month)): rm.flex for rm in plan.role_months if rm.flex > 0}
    shares = flex_shares(demand_profile(inst, schedule), named, bought)
    return {(r, m): v for (t, r, m), v in shares.items() if t == tid}


def _trial_spend(inst: Instance, plan: Plan, share: dict[tuple[str, int], float], tid: str, option: str, start: int) -> dict[str, float]:
    """The trial's spend per year in the plan: its people, its flex ``share`` and its external spend."""
    problem = inst.problem
    spend: dict[str, float] = defaultdict(float)
    for a in plan.assignments:
        if a.trial == tid:
            for m in range(problem.index(a.start), problem.index(a.end) + 1):
                spend[inst.year_of[m]] += a.fte * inst.rate(a.staff)
    for (r, m), v in share.items():
        spend[inst.year_of[m]] += v * inst.flex_rate.get(r, 0.0)
    for k in range(inst.profiles[(tid, option)].duration):
        spend[inst.year_of[start + k]] += inst.month_spend(tid, option, k)
    return spend


def _say(inst: Instance, f: Fact) -> str:
    """A fact in words."""
    if f.kind == "predecessor_ends":
        return f"predecessor {f.trial} ends {f.months[0]} (lag {int(f.amount or 0)})"
    if f.kind == "roles_short":
        who = f"role {f.roles[0]}" if len(f.roles) == 1 else "roles " + " and ".join(f.roles) + " together"
        return f"{who} short in {_span(inst, f.months)}: up to {f.amount:g} FTE more than the free people able to serve it and unused flex"
    if f.kind == "service_full":
        return f"service {f.service} full in {_span(inst, f.months)} (up to {f.amount:g} units over)"
    if f.kind == "budget_year":
        return f"budget {f.year} exceeded by at least {f.amount:,.0f}"
    return f"total budget exceeded by at least {f.amount:,.0f}"


def _amount(inst: Instance, gain: float) -> str:
    return f"{gain:,.0f}" if inst.problem.objective.kind == "value" else f"{gain:,.4g}"


def _span(inst: Instance, months: list[str]) -> str:
    """Months as contiguous runs: "2027-03", "2027-03..2027-05 (3 months)", "2028-12, 2029-03..2029-04 (3 months)"."""
    index = sorted({inst.problem.index(m) for m in months})
    runs: list[list[int]] = []
    for m in index:
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    text = ", ".join(inst.month(r[0]) if len(r) == 1 else f"{inst.month(r[0])}..{inst.month(r[-1])}" for r in runs)
    return text if len(index) == 1 else f"{text} ({len(index)} months)"

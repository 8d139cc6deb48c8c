"""Why a plan looks the way it does: what binds for each optional trial left out or late trial.

Each question is answered by re-trying the trial against what the rest of the plan leaves
free, with every other trial held where the plan put it: named capacity of each role plus
unused flex, service capacity, the yearly and total budget (the trial's external cost plus
its demand priced at the role's mean staff rate) and, for a start, where the plan's
predecessors end. A rule the trial breaks at a start is what binds there: relaxing it
alone (the rest of the plan unchanged) would let the trial in.

- An optional trial left out is tried at every start of every option, and the start where
  the fewest rules bind is reported ("option standard from 2027-04: role CRA short in
  2027-05..2027-07 (3 months); budget 2027 exceeded by 461,684"). When one fits, the
  objective did not find the trial worth its cost.
- A late trial is tried, with its own demand given back, at every start of its window
  that would end by its deadline (predecessors checked against where the plan put them); the one where the fewest rules bind says what an on-time start needs
  ("2 month(s) late against deadline 2028-06; on time needs option standard from
  2027-03: predecessor T02 ends 2027-04 (lag 0); role CRA short in 2027-03"). When an
  on-time start fits, lateness was the cheaper choice under the objective.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from models.contract.plan import Explanation, RoleMonth, ServiceMonth
from models.formulation.instance import Instance

#: Most starts tried per trial (see :func:`_spread`).
MAX_TRIED = 48


@dataclass
class _Room:
    """What the plan leaves free: FTE per (role, month), units per (service, month), spend per year."""

    fte: dict[tuple[str, int], float]
    units: dict[tuple[str, int], float]
    spend: dict[str, float]
    mean_rate: dict[str, float]


def explain(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    role_months: list[RoleMonth],
    service_months: list[ServiceMonth],
    spend: dict[str, float],
) -> list[Explanation]:
    room = _Room(
        fte={
            (rm.role, inst.problem.index(rm.month)): rm.capacity + inst.flex_max.get(rm.role, 0.0) - rm.assigned - rm.flex
            for rm in role_months
        },
        units={(sm.service, inst.problem.index(sm.month)): sm.capacity - sm.used for sm in service_months},
        spend=dict(spend),
        mean_rate=_mean_rates(inst),
    )
    out: list[Explanation] = []
    for tid, trial in inst.trials.items():
        if tid in schedule:
            option, start = schedule[tid]
            late = inst.late(tid, option, start)
            if late:
                out.append(Explanation(trial=tid, reason=_why_late(inst, schedule, room, tid, option, start, late)))
            continue
        missing = [p.trial for p in trial.predecessors if p.trial not in schedule]
        if missing:
            out.append(Explanation(trial=tid, reason=f"predecessor(s) not run: {', '.join(missing)}"))
            continue
        candidates = [(o.id, s) for o in trial.options for s in inst.starts[(tid, o.id)]]
        if not candidates:
            out.append(Explanation(trial=tid, reason="no feasible start within its window, the horizon and its predecessors"))
            continue
        (option, start), blockers = _fewest(inst, schedule, room, tid, candidates, prefer_late=False)
        if blockers:
            reason = f"option {option} from {inst.month(start)}: " + "; ".join(blockers)
        elif inst.problem.objective.kind != "value":
            reason = f"optional trials are not run under the {inst.problem.objective.kind} objective"
        else:
            reason = f"option {option} from {inst.month(start)} fits, but its discounted value does not cover its cost and penalties"
        out.append(Explanation(trial=tid, reason=reason))
    return out


def _why_late(
    inst: Instance, schedule: dict[str, tuple[str, int]], room: _Room, trial: str, option: str, start: int, late: int
) -> str:
    """What an on-time start of a late trial needs, with its own demand and spend given back."""
    head = f"{late} month(s) late against deadline {inst.trials[trial].deadline}"
    due = inst.deadline[trial]
    t = inst.trials[trial]
    latest = inst.months - 1 if t.latest_start is None else inst.problem.index(t.latest_start)
    on_time = [
        (o.id, s)
        for o in t.options
        for s in range(inst.earliest[trial], min(latest, due - inst.profiles[(trial, o.id)].duration + 1) + 1)
        if due is not None
    ]
    if not on_time:
        return f"{head}: even from its earliest start it ends after its deadline"
    freed = _Room(dict(room.fte), dict(room.units), dict(room.spend), room.mean_rate)
    for (r, m), v in _demand(inst, trial, option, start):
        freed.fte[(r, m)] = freed.fte.get((r, m), 0.0) + v
    for (svc, m), u in _units(inst, trial, option, start):
        freed.units[(svc, m)] = freed.units.get((svc, m), 0.0) + u
    for year, cost in _cost(inst, room, trial, option, start).items():
        freed.spend[year] = freed.spend.get(year, 0.0) - cost
    (o, s), blockers = _fewest(inst, schedule, freed, trial, on_time, prefer_late=True)
    if not blockers:
        return f"{head}; on time (option {o} from {inst.month(s)}) fits, but starting later costs less under the objective"
    return f"{head}; on time needs option {o} from {inst.month(s)}: " + "; ".join(blockers)


def _fewest(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    room: _Room,
    trial: str,
    candidates: Iterable[tuple[str, int]],
    prefer_late: bool,
) -> tuple[tuple[str, int], list[str]]:
    """The candidate start where the fewest rules bind (ties: the earliest, or the latest with
    ``prefer_late``, nearest the plan's own start), with those rules."""
    best: tuple[tuple[str, int], list[str]] | None = None
    for option, start in _spread(list(candidates)):
        blockers = _binds(inst, schedule, room, trial, option, start)
        better = best is None or len(blockers) < len(best[1]) or (prefer_late and len(blockers) == len(best[1]) and start > best[0][1])
        if better:
            best = ((option, start), blockers)
    assert best is not None
    return best


def _spread(candidates: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """At most ``MAX_TRIED`` candidates, evenly spread with the first and last kept: a large
    portfolio's plan is explained in well under a second (10x the reference leaves out a
    hundred trials with up to 180 starts each)."""
    if len(candidates) <= MAX_TRIED:
        return candidates
    step = (len(candidates) - 1) / (MAX_TRIED - 1)
    return [candidates[round(i * step)] for i in range(MAX_TRIED)]


def _binds(inst: Instance, schedule: dict[str, tuple[str, int]], room: _Room, trial: str, option: str, start: int) -> list[str]:
    """Every rule the trial breaks at this start against what the plan leaves free."""
    out: list[str] = []
    for pred in inst.trials[trial].predecessors:
        if pred.trial in schedule:
            p_option, p_start = schedule[pred.trial]
            end = p_start + inst.profiles[(pred.trial, p_option)].duration - 1
            if start <= end + pred.lag:
                out.append(f"predecessor {pred.trial} ends {inst.month(end)} (lag {pred.lag})")
    short: dict[str, list[int]] = defaultdict(list)
    for (r, m), v in _demand(inst, trial, option, start):
        if v > room.fte.get((r, m), 0.0) + 1e-9:
            short[r].append(m)
    full: dict[str, list[int]] = defaultdict(list)
    for (svc, m), u in _units(inst, trial, option, start):
        if u > room.units.get((svc, m), 0.0) + 1e-9:
            full[svc].append(m)
    out += [f"role {r} short in {_span(inst, ms)}" for r, ms in sorted(short.items())]
    out += [f"service {s} full in {_span(inst, ms)}" for s, ms in sorted(full.items())]
    extra = _cost(inst, room, trial, option, start)
    budget = inst.problem.budget
    for year, cost in sorted(extra.items()):
        cap = budget.per_year.get(year)
        if cap is not None and room.spend.get(year, 0.0) + cost > cap + 1e-6:
            out.append(f"budget {year} exceeded by {room.spend.get(year, 0.0) + cost - cap:,.0f}")
    total = sum(room.spend.values()) + sum(extra.values())
    if budget.total is not None and total > budget.total + 1e-6:
        out.append(f"total budget exceeded by {total - budget.total:,.0f}")
    return out


def _demand(inst: Instance, trial: str, option: str, start: int) -> list[tuple[tuple[str, int], float]]:
    prof = inst.profiles[(trial, option)]
    return [((r, start + k), v) for k in range(prof.duration) for r, v in prof.demand[k].items()]


def _units(inst: Instance, trial: str, option: str, start: int) -> list[tuple[tuple[str, int], float]]:
    prof = inst.profiles[(trial, option)]
    return [((svc, start + k), u) for k in range(prof.duration) for svc, u in prof.services[k].items()]


def _cost(inst: Instance, room: _Room, trial: str, option: str, start: int) -> dict[str, float]:
    """Spend per year of the trial at this start: external spend plus demand at mean staff rates."""
    prof = inst.profiles[(trial, option)]
    cost: dict[str, float] = defaultdict(float)
    for k in range(prof.duration):
        year = inst.year_of[start + k]
        cost[year] += inst.month_spend(trial, option, k)
        for r, v in prof.demand[k].items():
            cost[year] += v * room.mean_rate.get(r, inst.flex_rate.get(r, 0.0))
    return cost


def _span(inst: Instance, months: list[int]) -> str:
    """Months as contiguous runs: "2027-03", "2027-03..2027-05 (3 months)", "2028-12, 2029-03..2029-04 (3 months)"."""
    runs: list[list[int]] = []
    for m in sorted(set(months)):
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    text = ", ".join(inst.month(r[0]) if len(r) == 1 else f"{inst.month(r[0])}..{inst.month(r[-1])}" for r in runs)
    return text if len(months) == 1 else f"{text} ({len(set(months))} months)"


def _mean_rates(inst: Instance) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for p, s in inst.staff.items():
        total[s.role] += inst.rate(p)
        count[s.role] += 1
    return {r: total[r] / count[r] for r in total}

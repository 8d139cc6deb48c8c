"""A roster read off each month's least-cost cover by named people.

The greedy roster (:mod:`models.heuristics.greedy`) hands out long blocks segment by segment. In a
budget-tight year that costs: on the reference's 2027 and 2029 it runs 1.1 and 1.7 %
above what the same people could cover the same months for, and a roster that breaks a
budget by a fraction of a percent makes stage 1 give up a whole trial. This roster
covers each month at least cost with the named month LP of stage 1's named pricing
(:class:`models.formulation.labour_cuts.NamedMonthLabour`: eligibility, availability and spare FTE
after pins exact), then flex. Staying on last month's assignment is
``CONTINUITY_DISCOUNT`` cheaper, so blocks run on while demand holds still. A person the
LP puts on more trials than they may work on at once keeps their largest; what they
drop goes to others with spare FTE, then to flex, and the rest is shortfall. The
pipeline builds it beside the greedy roster in every round (up to
``EngineSettings.lp_roster_below`` staff x trials) and keeps whichever ranks better
(:func:`models.pipeline.roster.roster_rank`).
"""

from __future__ import annotations

from collections import defaultdict

from models.formulation.instance import Instance
from models.formulation.labour_cuts import NamedMonthLabour
from models.formulation.staffing import StaffingResult, buy_flex, month_blocks, net_demand, uncovered_price
from models.solver.progress import NEVER, Cutoff

#: How much cheaper (as a share of a person's rate) the LP sees a person staying on what
#: they did last month: enough to break ties between near-equal people in favour of one
#: block, small against the rate differences that decide the cost.
CONTINUITY_DISCOUNT = 0.02

#: How many times a month's LP is solved again to keep people within their limit of concurrent trials.
LIMIT_ROUNDS = 5

Key = tuple[str, str]


def lp_roster(inst: Instance, schedule: dict[str, tuple[str, int]], tol: float = 1e-6, cutoff: Cutoff = NEVER) -> StaffingResult:
    """The month-by-month least-cost roster of ``schedule`` (see the module docstring). A stop
    asked through ``cutoff`` ends it between months, the months left uncovered as
    shortfall: an incomplete roster the caller drops."""
    net = net_demand(inst, schedule)
    months: dict[int, dict[Key, float]] = defaultdict(dict)
    for (t, r, m), v in net.demand.items():
        months[m][(t, r)] = v
    people = list(inst.staff)
    index = {p: i for i, p in enumerate(people)}
    price = uncovered_price(inst)
    worked: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    uncovered: dict[tuple[str, str, int], float] = {}
    stay: set[tuple[int, Key]] = set()
    for m in sorted(months):
        if cutoff.stopped():
            uncovered.update(((t, r, m), v) for (t, r), v in months[m].items())
            continue
        demand = months[m]
        spare = [
            (max(0.0, inst.staff[p].fte - net.pinned_fte.get((p, m), 0.0)) if inst.available[p][m] else 0.0, inst.rate(p))
            for p in people
        ]
        keys = [(key, key[1], [index[p] for p in inst.eligible(*key) if spare[index[p]][0] > tol]) for key in demand]
        previous = stay

        def rate(key: object, i: int) -> float:
            return spare[i][1] * (1.0 - CONTINUITY_DISCOUNT if (i, key) in previous else 1.0)

        month = NamedMonthLabour(spare, keys, inst.flex_max, inst.flex_rate, price, rate)
        load = _cover_within_limits(inst, people, net.pinned_trials, m, month, demand, tol)
        residual = dict(demand)
        used = [0.0] * len(people)
        trials: dict[int, set[str]] = {i: set(net.pinned_trials.get((p, m), ())) for i, p in enumerate(people)}
        for i, keys_of in load.items():
            limit = inst.staff[people[i]].max_concurrent_trials
            for key, fte in sorted(keys_of.items(), key=lambda kv: -kv[1]):
                if key[0] not in trials[i] and len(trials[i]) >= limit:
                    continue
                trials[i].add(key[0])
                used[i] += fte
                residual[key] -= fte
                worked[(people[i], key[0], key[1])][m] = fte
        stay = {(index[p], (t, r)) for (p, t, r), by_month in worked.items() if m in by_month}
        _fill(inst, m, residual, spare, used, trials, people, index, worked, tol)
        uncovered.update(((t, r, m), left) for (t, r), left in residual.items())
    flex, shortfall = buy_flex(inst, uncovered, tol)
    return StaffingResult(outcome=None, blocks=month_blocks(worked, inst.pinned), flex=flex, shortfall=shortfall)


def _cover_within_limits(
    inst: Instance,
    people: list[str],
    pinned: dict[tuple[str, int], set[str]],
    m: int,
    month: NamedMonthLabour,
    demand: dict[Key, float],
    tol: float,
) -> dict[int, dict[Key, float]]:
    """Each person's FTE per key in the month's least-cost cover, solved again with people
    kept off their smallest trials while the LP puts anyone on more trials than their limit
    (at most ``LIMIT_ROUNDS`` times; whatever still breaks a limit is dropped by the caller)."""
    load: dict[int, dict[Key, float]] = {}
    for _ in range(LIMIT_ROUNDS):
        load = defaultdict(dict)
        for key, i, fte in month.cover(demand, tol):
            if i is not None:
                load[i][key] = fte  # type: ignore[index]
        over: list[tuple[Key, int]] = []
        for i, keys_of in load.items():
            room = inst.staff[people[i]].max_concurrent_trials - len(pinned.get((people[i], m), ()))
            kept: set[str] = set()
            for key, _ in sorted(keys_of.items(), key=lambda kv: -kv[1]):
                if key[0] in kept or len(kept) < room:
                    kept.add(key[0])
                else:
                    over.append((key, i))
        if not over:
            break
        month.exclude(over)
    return load


def _fill(
    inst: Instance,
    m: int,
    residual: dict[Key, float],
    spare: list[tuple[float, float]],
    used: list[float],
    trials: dict[int, set[str]],
    people: list[str],
    index: dict[str, int],
    worked: dict[tuple[str, str, str], dict[int, float]],
    tol: float,
) -> None:
    """What people dropped at their limit of concurrent trials, from others with spare FTE (cheapest first)."""
    for (t, r), left in residual.items():
        if left <= tol:
            continue
        for p in inst.eligible(t, r):
            i = index[p]
            room = spare[i][0] - used[i]
            if room <= tol or (t not in trials[i] and len(trials[i]) >= inst.staff[p].max_concurrent_trials):
                continue
            share = min(room, left)
            trials[i].add(t)
            used[i] += share
            worked[(p, t, r)][m] = worked[(p, t, r)].get(m, 0.0) + share
            left -= share
            if left <= tol:
                break
        residual[(t, r)] = left


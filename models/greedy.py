"""A constructive staffing heuristic: named people in large contiguous blocks, fast at any size.

Segments (a trial's demand for one role over a run of months at one FTE level) are
staffed in order of start month, the most restricted (fewest eligible people) first.
Each step scores every eligible person by the block they can take, in FTE-months
(more for people already on the trial, fewer people per trial being what a planner
wants, and less for a secondary role), and gives the block to the cheapest person whose
score is at least half the best, so the pool is used cheapest first, as the portfolio
stage assumes, without cutting it into slivers. Months a person
cannot work (leave, outside their window, no spare FTE, or already at their limit of
concurrent trials) are skipped and filled by the next person; what people cannot cover
goes to flex within its monthly limit, and the rest is shortfall.

Every rule of §2 that concerns people holds by construction, so the result is always
a valid staffing of the given schedule apart from shortfall, which the pipeline repairs.
"""

from __future__ import annotations

from collections import defaultdict

from models.instance import Instance
from models.staffing import Block, StaffingResult, merge_blocks, net_demand, segments

#: Score multipliers that shape the roster the way a planner would.
SAME_TRIAL_BONUS = 1.5
SECONDARY_ROLE_FACTOR = 0.7
#: Among people whose block is at least this share of the largest possible block, the
#: cheapest is chosen: cost matters, but not at the price of slivers of FTE.
GOOD_ENOUGH_SHARE = 0.5


def greedy_staffing(inst: Instance, schedule: dict[str, tuple[str, int]], tol: float = 1e-9) -> StaffingResult:
    net = net_demand(inst, schedule)
    residual = dict(net.demand)
    spare: dict[str, list[float]] = {
        p: [
            (inst.staff[p].fte - net.pinned_fte.get((p, m), 0.0)) if inst.available[p][m] else 0.0
            for m in range(inst.months)
        ]
        for p in inst.staff
    }
    working_on: dict[tuple[str, int], set[str]] = defaultdict(set)
    for (p, m), trials in net.pinned_trials.items():
        working_on[(p, m)] |= trials
    people_by_role: dict[str, list[str]] = defaultdict(list)
    for p, roles in inst.staff_roles.items():
        for r in roles:
            people_by_role[r].append(p)
    eligible: dict[tuple[str, str], list[str]] = {}
    segs = segments(net.demand)
    for seg in segs:
        key = (seg.trial, seg.role)
        if key not in eligible:
            eligible[key] = [p for p in people_by_role.get(seg.role, []) if inst.can_serve(p, seg.trial, seg.role)]
    segs.sort(key=lambda s: (s.first, len(eligible[(s.trial, s.role)]), -s.fte))

    blocks: list[Block] = []
    on_trial: set[tuple[str, str]] = {(p.staff, p.trial) for p in inst.pinned}
    for seg in segs:
        t, r = seg.trial, seg.role
        months = range(seg.first, seg.last + 1)
        while True:
            need = [m for m in months if residual[(t, r, m)] > tol]
            if not need:
                break
            options: list[tuple[float, float, str, list[int], float]] = []
            for p in eligible[(t, r)]:
                limit = inst.staff[p].max_concurrent_trials
                free = spare[p]
                usable = [
                    m for m in need if free[m] > tol and (t in working_on[(p, m)] or len(working_on[(p, m)]) < limit)
                ]
                if not usable:
                    continue
                amount = min(min(free[m] for m in usable), min(residual[(t, r, m)] for m in usable))
                score = amount * len(usable)
                if (p, t) in on_trial:
                    score *= SAME_TRIAL_BONUS
                if inst.staff[p].role != r:
                    score *= SECONDARY_ROLE_FACTOR
                options.append((score, inst.rate(p), p, usable, amount))
            if not options:
                break
            good_enough = GOOD_ENOUGH_SHARE * max(o[0] for o in options)
            best = min((o for o in options if o[0] >= good_enough), key=lambda o: (o[1], -o[0], o[2]))
            _, _, p, usable, amount = best
            for m in usable:
                spare[p][m] -= amount
                residual[(t, r, m)] -= amount
                working_on[(p, m)].add(t)
            on_trial.add((p, t))
            blocks.extend(_runs(p, t, r, usable, amount))

    flex_left = {r: [inst.flex_max.get(r, 0.0)] * inst.months for r in inst.roles}
    flex: dict[tuple[str, str, int], float] = {}
    shortfall: dict[tuple[str, str, int], float] = {}
    for (t, r, m), left in sorted(residual.items()):
        if left <= tol:
            continue
        bought = min(left, flex_left[r][m])
        if bought > tol:
            flex[(t, r, m)] = bought
            flex_left[r][m] -= bought
            left -= bought
        if left > tol:
            shortfall[(t, r, m)] = left
    for pin in inst.pinned:
        blocks.append(Block(pin.staff, pin.trial, pin.role, pin.first, pin.last, pin.fte))
    return StaffingResult(outcome=None, blocks=merge_blocks(blocks), flex=flex, shortfall=shortfall)


def _runs(person: str, trial: str, role: str, months: list[int], fte: float) -> list[Block]:
    """Consecutive months as blocks (a person's block breaks around leave)."""
    out: list[Block] = []
    first = prev = months[0]
    for m in months[1:]:
        if m != prev + 1:
            out.append(Block(person, trial, role, first, prev, fte))
            first = m
        prev = m
    out.append(Block(person, trial, role, first, prev, fte))
    return out

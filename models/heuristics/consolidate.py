"""Consolidation: fewer (person, trial) pairs in a valid roster, where that lowers its cost.

Every objective charges ``weights.fragmentation`` (1,000 by default) per distinct (person,
trial) pair, but the rosters cover each role-month cheapest first, and a fractional
cheapest-first cover spreads a trial over many people: on the reference under ``cost``
the plan had 1,093 pairs for 12 trials, 1.09 M of fragmentation, which was all of its
1.9 % gap (its spend alone sat below the bound). Consolidation takes the pairs one at a
time, smallest first, and hands all of a person's work on a trial to people already on it
who hold the role (skills, region), are available, have the FTE spare and stay within their
limit of concurrent trials; it keeps the move where the rate difference costs less than
the pair it removes and every budget still holds. Pinned work stays where it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from models.formulation.instance import Block, Instance
from models.formulation.staffing import StaffingResult
from models.heuristics.shed import Staffed, trial_year_spend, year_totals
from models.solver.progress import Cutoff

#: FTE below this is noise.
EPS = 1e-9


@dataclass
class _Roster:
    """The roster as FTE per (person, trial, role, month), with what each person uses per
    month, the trials they work each month, and the pairs."""

    work: dict[tuple[str, str, str, int], float]
    used: dict[tuple[str, int], float]
    on: dict[tuple[str, int], set[str]]
    pairs: dict[tuple[str, str], list[tuple[str, int]]]
    people_on: dict[str, set[str]]


def consolidate(inst: Instance, solved: Staffed, until: Cutoff) -> Staffed:
    """``solved`` with pairs removed while one can be at a lower cost (see the module docstring);
    ``solved`` itself where none can. Ends early, with the moves made so far, once ``until`` passes."""
    weight = inst.problem.objective.weights.fragmentation
    if weight <= 0:
        return solved
    roster = _roster(solved)
    pinned = {(b.staff, b.trial) for b in inst.pinned}
    spend = year_totals(trial_year_spend(inst, solved.schedule, solved.staffing))
    caps = inst.problem.budget.per_year
    moved = False
    for pair in sorted(roster.pairs, key=lambda k: (_fte_months(roster, k), k)):
        if until.passed():
            break
        if pair in pinned:
            continue
        plan = _handover(inst, roster, pair)
        if plan is None:
            continue
        extra = _extra_spend(inst, pair[0], plan)
        if sum(extra.values()) >= weight or any(spend[y] + v > caps[y] + 1e-6 for y, v in extra.items() if y in caps and v > 0):
            continue
        if inst.problem.budget.total is not None and sum(spend.values()) + sum(extra.values()) > inst.problem.budget.total + 1e-6:
            continue
        _apply(roster, pair, plan)
        for y, v in extra.items():
            spend[y] += v
        moved = True
    if not moved:
        return solved
    staffing = StaffingResult(solved.staffing.outcome, blocks_of(roster.work), dict(solved.staffing.flex), dict(solved.staffing.shortfall))
    return Staffed(dict(solved.schedule), staffing)


def _roster(solved: Staffed) -> _Roster:
    work: dict[tuple[str, str, str, int], float] = defaultdict(float)
    used: dict[tuple[str, int], float] = defaultdict(float)
    on: dict[tuple[str, int], set[str]] = defaultdict(set)
    pairs: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    people_on: dict[str, set[str]] = defaultdict(set)
    for b in solved.staffing.blocks:
        people_on[b.trial].add(b.staff)
        for mo in range(b.first, b.last + 1):
            work[(b.staff, b.trial, b.role, mo)] += b.fte
            used[(b.staff, mo)] += b.fte
            on[(b.staff, mo)].add(b.trial)
            pairs[(b.staff, b.trial)].append((b.role, mo))
    return _Roster(work, used, on, pairs, people_on)


def _fte_months(roster: _Roster, pair: tuple[str, str]) -> float:
    person, trial = pair
    return sum(roster.work[(person, trial, r, mo)] for r, mo in set(roster.pairs[pair]))


def _handover(inst: Instance, roster: _Roster, pair: tuple[str, str]) -> list[tuple[str, str, int, float]] | None:
    """Who takes each piece of the pair's work: (receiver, role, month, FTE), cheapest
    receivers first; None where some piece finds no one."""
    giver, trial = pair
    receivers = sorted(roster.people_on[trial] - {giver}, key=lambda p: (inst.rate(p), p))
    taken: dict[tuple[str, int], float] = defaultdict(float)
    plan: list[tuple[str, str, int, float]] = []
    for role, mo in sorted(set(roster.pairs[pair]), key=lambda k: (k[1], k[0])):
        need = roster.work[(giver, trial, role, mo)]
        for q in receivers:
            if need <= EPS:
                break
            if not inst.available[q][mo] or not inst.can_serve(q, trial, role):
                continue
            busy = roster.on[(q, mo)]
            if trial not in busy and len(busy) >= inst.staff[q].max_concurrent_trials:
                continue
            spare = inst.staff[q].fte - roster.used[(q, mo)] - taken[(q, mo)]
            give = min(spare, need)
            if give > EPS:
                taken[(q, mo)] += give
                plan.append((q, role, mo, give))
                need -= give
        if need > EPS:
            return None
    return plan


def _extra_spend(inst: Instance, giver: str, plan: list[tuple[str, str, int, float]]) -> dict[str, float]:
    """What the handover adds to each year's spend (negative where the receivers cost less)."""
    extra: dict[str, float] = defaultdict(float)
    for q, _, mo, fte in plan:
        extra[inst.year_of[mo]] += fte * (inst.rate(q) - inst.rate(giver))
    return extra


def _apply(roster: _Roster, pair: tuple[str, str], plan: list[tuple[str, str, int, float]]) -> None:
    giver, trial = pair
    roster.people_on[trial].discard(giver)
    for role, mo in set(roster.pairs.pop(pair)):
        fte = roster.work.pop((giver, trial, role, mo), 0.0)
        roster.used[(giver, mo)] -= fte
        roster.on[(giver, mo)].discard(trial)
    for q, role, mo, fte in plan:
        roster.work[(q, trial, role, mo)] += fte
        roster.used[(q, mo)] += fte
        roster.on[(q, mo)].add(trial)
        roster.pairs[(q, trial)].append((role, mo))


def blocks_of(work: dict[tuple[str, str, str, int], float]) -> list[Block]:
    """FTE per (person, trial, role, month) as contiguous blocks of equal FTE."""
    out: list[Block] = []
    run: Block | None = None
    for (p, t, r, mo), fte in sorted(work.items()):
        if fte <= EPS:
            continue
        if run is not None and (run.staff, run.trial, run.role, run.last + 1) == (p, t, r, mo) and abs(run.fte - fte) <= 1e-12:
            run = Block(p, t, r, run.first, mo, fte)
            continue
        if run is not None:
            out.append(run)
        run = Block(p, t, r, mo, mo, fte)
    if run is not None:
        out.append(run)
    return out

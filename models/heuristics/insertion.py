"""Insertion: put optional trials back into a valid plan while one still fits.

Shedding (:mod:`models.heuristics.shed`) leaves whole trials out to bring a roster inside its
budgets, and it estimates from each trial's own spend, so it usually frees more than the
overrun: on the reference, round 0 overruns two years by well under a million and
shedding drops two trials worth over a hundred million, leaving budget and people idle.
Insertion hands some of that back: every optional trial not run (whose predecessors run)
is tried at each option and start that passes quick necessary checks against the plan as
it stands (service capacity, the spare FTE of the people eligible for each role plus
unused flex, external spend plus cheapest-eligible labour within each year's budget
slack), most promising first; the plan is re-rostered with it and kept only if every
rule still holds and the objective improves. Each attempt is one greedy roster, so
the number of attempts is capped and the deadline is respected.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.formulation.instance import Instance
from models.formulation.staffing import StaffingResult
from models.heuristics.consolidate import blocks_of
from models.heuristics.shed import (
    Staffed,
    budget_roster,
    overruns,
    trial_year_spend,
    year_totals,
)
from models.solver.progress import Cutoff, Deadline, cutoff

#: Most re-rosters one insertion pass spends.
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class _Candidate:
    trial: str
    option: str
    start: int
    estimate: float


def insert_trials(
    inst: Instance,
    solved: Staffed,
    score: Callable[[Staffed], float],
    deadline: Deadline,
    max_attempts: int = MAX_ATTEMPTS,
    roster_seconds: float = 0.0,
) -> Staffed:
    """``solved`` with optional trials added while one fits and lowers ``score`` (smaller is better).

    ``solved`` must keep every rule; so does the result. Each attempt is one roster and
    starts only if one as long as the last (before any, ``roster_seconds``) fits before the
    ``deadline``; a stop asked through it ends the pass at once with the best plan so far
    (the attempt it cut short is dropped).
    """
    until = cutoff(deadline)
    best, best_score = solved, score(solved)
    tried: set[tuple[str, str, int]] = set()
    attempts = 0
    attempt_seconds = roster_seconds
    while attempts < max_attempts and not until.passed():
        candidates = [c for c in _candidates(inst, best, until) if (c.trial, c.option, c.start) not in tried]
        accepted = False
        for c in candidates:
            # An attempt is one roster: it starts only if one as long as the last fits.
            if attempts >= max_attempts or not until.fits(attempt_seconds):
                break
            tried.add((c.trial, c.option, c.start))
            # First into what the roster leaves free, the roster untouched (no roster run).
            added = staffed_into(inst, best, c.trial, c.option, c.start)
            if added is not None and _keeps_rules(inst, added) and (value := score(added)) < best_score:
                best, best_score, accepted = added, value, True
                break
            attempts += 1
            began = time.perf_counter()
            schedule = {**best.schedule, c.trial: (c.option, c.start)}
            # The attempt's roster runs to its end once started (the deadline was checked
            # above): only a stop cuts it short.
            staffing = budget_roster(inst, schedule, Cutoff(stop=until.stop))
            if until.stopped():
                return best
            attempt = Staffed(schedule, staffing)
            attempt_seconds = time.perf_counter() - began
            if not _keeps_rules(inst, attempt):
                continue
            if (value := score(attempt)) < best_score:
                best, best_score, accepted = attempt, value, True
                break
        if not accepted:
            break
    return best


def staffed_into(inst: Instance, solved: Staffed, trial: str, option: str, start: int) -> Staffed | None:
    """``solved`` with the trial added at this start and staffed from what its roster leaves
    free, the roster itself untouched: each role-month's demand from the people able to serve
    it with spare FTE who may take one more trial (those already given work on it first, to
    keep the pairs few, then the cheapest), then unused flex, then, where the problem prices
    it, shortfall. None where that does not cover the demand."""
    row = {p: i for i, p in enumerate(inst.staff)}
    spare = _spare_fte(inst, solved, row)
    on: dict[tuple[str, int], set[str]] = defaultdict(set)
    for b in solved.staffing.blocks:
        for mo in range(b.first, b.last + 1):
            on[(b.staff, mo)].add(b.trial)
    flex_left = {r: np.full(inst.months, inst.flex_max.get(r, 0.0)) for r in inst.roles}
    for (_, r, mo), v in solved.staffing.flex.items():
        flex_left[r][mo] -= v
    priced = inst.problem.objective.weights.shortfall is not None
    given: dict[tuple[str, str, int], float] = defaultdict(float)
    flex: dict[tuple[str, str, int], float] = {}
    short: dict[tuple[str, str, int], float] = {}
    chosen: list[str] = []
    for k, demand in enumerate(inst.profiles[(trial, option)].demand):
        mo = start + k
        for r, need in sorted(demand.items()):
            people = sorted(inst.eligible(trial, r), key=lambda p: (p not in chosen, inst.rate(p), p))
            for p in people:
                if need <= 1e-9:
                    break
                busy = on[(p, mo)]
                if trial not in busy and len(busy) >= inst.staff[p].max_concurrent_trials:
                    continue
                give = min(float(spare[row[p], mo]), need)
                if give > 1e-9:
                    spare[row[p], mo] -= give
                    given[(p, r, mo)] += give
                    busy.add(trial)
                    need -= give
                    if p not in chosen:
                        chosen.append(p)
            if need > 1e-9:
                bought = min(need, max(0.0, float(flex_left[r][mo])))
                if bought > 1e-9:
                    flex[(trial, r, mo)] = bought
                    flex_left[r][mo] -= bought
                    need -= bought
            if need > 1e-9:
                if not priced:
                    return None
                short[(trial, r, mo)] = need
    staffing = StaffingResult(
        outcome=solved.staffing.outcome,
        blocks=[*solved.staffing.blocks, *blocks_of({(p, trial, r, mo): fte for (p, r, mo), fte in given.items()})],
        flex={**solved.staffing.flex, **flex},
        shortfall={**solved.staffing.shortfall, **short},
    )
    return Staffed({**solved.schedule, trial: (option, start)}, staffing)


def _keeps_rules(inst: Instance, solved: Staffed) -> bool:
    """No uncovered demand (unless the problem prices it) and no budget overrun."""
    if inst.problem.objective.weights.shortfall is None and solved.staffing.shortfall:
        return False
    return not overruns(inst, solved.schedule, solved.staffing)


def _candidates(inst: Instance, solved: Staffed, until: Cutoff) -> list[_Candidate]:
    """Every (trial, option, start) that passes the quick checks, the most promising first
    (only those found before the deadline: on a large portfolio the scan itself takes time)."""
    schedule, staffing = solved.schedule, solved.staffing
    row = {p: i for i, p in enumerate(inst.staff)}
    spare = _spare_fte(inst, solved, row)
    flex_left = {r: np.full(inst.months, inst.flex_max.get(r, 0.0)) for r in inst.roles}
    for (_, r, mo), v in staffing.flex.items():
        flex_left[r][mo] -= v
    used: dict[str, np.ndarray] = {svc: np.zeros(inst.months) for svc in inst.service_capacity}
    for t, (o, s) in schedule.items():
        for k, units in enumerate(inst.profiles[(t, o)].services):
            for svc, u in units.items():
                used[svc][s + k] += u
    volume_left = {svc: v - sum(inst.profiles[(t, o)].volume(svc) for t, (o, _) in schedule.items()) for svc, v in inst.service_volume.items()}
    slack = _budget_slack(inst, solved)
    ends = {t: s + inst.profiles[(t, o)].duration for t, (o, s) in schedule.items()}
    objective = inst.problem.objective
    out: list[_Candidate] = []
    for t, trial in inst.trials.items():
        if until.passed():
            break
        if t in schedule or not all(p.trial in schedule for p in trial.predecessors):
            continue
        ready = max((ends[p.trial] + p.lag for p in trial.predecessors), default=0)
        for option in trial.options:
            prof = inst.profiles[(t, option.id)]
            if any(prof.volume(svc) > left + 1e-9 for svc, left in volume_left.items()):
                continue
            for s in inst.starts[(t, option.id)]:
                if s < ready:
                    continue
                # Services first: the check is cheap, and on budget-tight portfolios most
                # candidates fail it (the people check scans every eligible person).
                if not _services_fit(inst, t, option.id, s, used):
                    continue
                labour = _labour_if_fits(inst, t, option.id, s, spare, row, flex_left)
                if labour is None:
                    continue
                spend = defaultdict(float)
                for k in range(prof.duration):
                    spend[inst.year_of[s + k]] += inst.month_spend(t, option.id, k) + labour[k]
                if any(spend[y] > room for y, room in slack.items() if y in spend) or ("" in slack and sum(spend.values()) > slack[""]):
                    continue
                money = sum(spend.values()) + objective.weights.tardiness * trial.tardiness_penalty * inst.late(t, option.id, s)
                gain = inst.discounted_value(t, s) - money
                if objective.kind == "value" and gain <= 0:
                    continue
                out.append(_Candidate(t, option.id, s, gain if objective.kind == "value" else -s))
    out.sort(key=lambda c: (-c.estimate, c.trial, c.option, c.start))
    return out


def _spare_fte(inst: Instance, solved: Staffed, row: dict[str, int]) -> np.ndarray:
    """FTE each person (``row``: their row, in ``inst.staff`` order) has left per month under the roster."""
    spare = np.array([[s.fte if inst.available[p][mo] else 0.0 for mo in range(inst.months)] for p, s in inst.staff.items()])
    for b in solved.staffing.blocks:
        spare[row[b.staff], b.first : b.last + 1] -= b.fte
    return spare


def _labour_if_fits(
    inst: Instance,
    trial: str,
    option: str,
    start: int,
    spare: np.ndarray,
    row: dict[str, int],
    flex_left: dict[str, np.ndarray],
) -> list[float] | None:
    """Labour cost per active month if the eligible people's spare FTE and unused flex
    cover every role's demand (cheapest first), else None. A necessary check: it ignores
    the limit on concurrent trials and how the roster cuts blocks."""
    prof = inst.profiles[(trial, option)]
    cost = [0.0] * prof.duration
    for k, demand in enumerate(prof.demand):
        mo = start + k
        taken: dict[str, float] = defaultdict(float)
        for r, need in demand.items():
            for p in inst.eligible(trial, r):
                if need <= 1e-9:
                    break
                free = spare[row[p], mo] - taken[p]
                if free > 1e-9:
                    give = min(free, need)
                    taken[p] += give
                    need -= give
                    cost[k] += give * inst.rate(p)
            if need > flex_left[r][mo] + 1e-9:
                return None
            cost[k] += need * inst.flex_rate.get(r, 0.0)
    return cost


def _services_fit(inst: Instance, trial: str, option: str, start: int, used: dict[str, np.ndarray]) -> bool:
    for k, units in enumerate(inst.profiles[(trial, option)].services):
        for svc, u in units.items():
            if used[svc][start + k] + u > inst.service_capacity[svc][start + k] + 1e-9:
                return False
    return True


def _budget_slack(inst: Instance, solved: Staffed) -> dict[str, float]:
    """Budget left per year (and in total, keyed ``""``) under the plan's spend."""
    budget = inst.problem.budget
    spend = year_totals(trial_year_spend(inst, solved.schedule, solved.staffing))
    slack = {y: cap - spend[y] for y, cap in budget.per_year.items()}
    if budget.total is not None:
        slack[""] = budget.total - sum(spend.values())
    return slack


"""Rows that stage 1 learns when named people cannot cover a role in a month.

Stage 1 checks each restricted set of people (a skill, a region) on its own, which is
necessary but not enough: trials whose sets overlap can each fit while together they do
not (on a generated 40-person portfolio, five trials wanting CRAs with different skills
and regions in one month overran flex by 0.7 FTE, and stage 1 kept proposing them, four
repair rounds in a row). The exact condition is Hall's: for every set S of trials, S's
demand for the role fits the people eligible for any trial in S, plus the role's flex.
When staffing leaves a role short in a month, the most violated S is read off an LP
(minimum shortfall of the month's transportation problem; its duals are 0/1 on a vertex,
and the trials with dual 1 are S) and becomes a row stage 1 keeps from then on. The row
holds for every plan, so stage 1 stays a relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from models.instance import Instance

#: FTE under which a shortfall or a violation counts as none.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class CoverageCut:
    """sum_{t in trials} demand[t, role, month] <= capacity (people eligible for any of them, plus flex)."""

    role: str
    month: int
    trials: frozenset[str]
    capacity: float


def role_demand(inst: Instance, schedule: dict[str, tuple[str, int]], role: str, month: int) -> dict[str, float]:
    """Each scheduled trial's demand for ``role`` in ``month``."""
    out: dict[str, float] = {}
    for t, (o, s) in schedule.items():
        profile = inst.profiles[(t, o)]
        k = month - s
        if 0 <= k < profile.duration and profile.demand[k].get(role, 0.0) > 0:
            out[t] = profile.demand[k][role]
    return out


def violated_coverage(inst: Instance, schedule: dict[str, tuple[str, int]], role: str, month: int) -> CoverageCut | None:
    """The set of trials whose demand for ``role`` in ``month`` most exceeds what the people
    eligible for them (and flex) can give under ``schedule``; None if every demand fits."""
    demand = role_demand(inst, schedule, role, month)
    if not demand:
        return None
    trials = sorted(demand)
    people = sorted({p for t in trials for p in inst.eligible(t, role) if inst.available[p][month] and inst.staff[p].fte > 0})
    column = {p: i for i, p in enumerate(people)}
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    flex = inst.flex_max.get(role, 0.0)
    # Columns: one per (trial, eligible person), one flex and one shortfall per trial.
    pairs = [(t, p) for t in trials for p in inst.eligible(t, role) if p in column]
    n = len(pairs) + 2 * len(trials)
    cost = np.zeros(n)
    cost[len(pairs) + len(trials) :] = 1.0
    h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    by_person: dict[str, list[int]] = {p: [] for p in people}
    by_trial: dict[str, list[int]] = {t: [] for t in trials}
    for i, (t, p) in enumerate(pairs):
        by_person[p].append(i)
        by_trial[t].append(i)
    for p, cols in by_person.items():
        if cols:
            h.addRow(-highspy.kHighsInf, inst.staff[p].fte, len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))
    flex_cols = [len(pairs) + j for j in range(len(trials))]
    h.addRow(-highspy.kHighsInf, flex, len(flex_cols), np.array(flex_cols, dtype=np.int32), np.ones(len(flex_cols)))
    first_cover = h.getNumRow()
    for j, t in enumerate(trials):
        cols = by_trial[t] + [len(pairs) + j, len(pairs) + len(trials) + j]
        h.addRow(demand[t], highspy.kHighsInf, len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal or h.getInfo().objective_function_value <= TOLERANCE:
        return None
    duals = h.getSolution().row_dual
    short = frozenset(t for j, t in enumerate(trials) if duals[first_cover + j] > 0.5)
    eligible = {p for t in short for p in inst.eligible(t, role) if p in column}
    capacity = sum(inst.staff[p].fte for p in eligible) + flex
    if sum(demand[t] for t in short) <= capacity + TOLERANCE:
        return None
    return CoverageCut(role=role, month=month, trials=short, capacity=capacity)

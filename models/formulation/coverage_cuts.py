"""Rows that stage 1 learns when named people cannot cover a role in a month.

Stage 1 checks each restricted set of people (a skill, a region) on its own, which is
necessary but not enough: trials whose sets overlap can each fit while together they do
not (on a generated 40-person portfolio, five trials wanting CRAs with different skills
and regions in one month overran flex by 0.7 FTE, and stage 1 kept proposing them, four
repair rounds in a row). The exact condition is Hall's: for every set S of trials, S's
demand for the role fits the people eligible for any trial in S, plus the role's flex.
When staffing leaves a role short in a month, the most violated S is read off an LP
(minimum shortfall of the month's transportation problem, :class:`models.formulation.labour_cuts.NamedMonthLabour`
at zero rates; its duals are 0/1 on a vertex, and the trials with dual 1 are S) and becomes a row stage 1 keeps from then on. The row
holds for every plan, so stage 1 stays a relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.formulation.instance import Instance
from models.formulation.labour_cuts import NamedMonthLabour
from models.formulation.staffing import demand_profile

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
    return {t: v for (t, r, mo), v in demand_profile(inst, schedule).items() if r == role and mo == month and v > 0}


def violated_coverage(inst: Instance, schedule: dict[str, tuple[str, int]], role: str, month: int) -> CoverageCut | None:
    """The set of trials whose demand for ``role`` in ``month`` most exceeds what the people
    eligible for them (and flex) can give under ``schedule``; None if every demand fits."""
    demand = role_demand(inst, schedule, role, month)
    if not demand:
        return None
    trials = sorted(demand)
    people = sorted({p for t in trials for p in inst.eligible(t, role) if inst.available[p][month] and inst.staff[p].fte > 0})
    index = {p: k for k, p in enumerate(people)}
    flex = inst.flex_max.get(role, 0.0)
    # The month's named labour LP with people and flex free and an uncovered FTE costing 1:
    # its value is the least shortfall, and its coverage duals are 1 exactly on the set S.
    least_shortfall = NamedMonthLabour(
        [(inst.staff[p].fte, 0.0) for p in people],
        [(t, role, [index[p] for p in inst.eligible(t, role) if p in index]) for t in trials],
        {role: flex},
        {role: 0.0},
        uncovered_price=1.0,
    )
    price = least_shortfall.price(demand)
    if price is None or price.cost <= TOLERANCE:
        return None
    short = frozenset(t for t in trials if price.marginal[t] > 0.5)
    eligible = {p for t in short for p in inst.eligible(t, role) if p in index}
    capacity = sum(inst.staff[p].fte for p in eligible) + flex
    if sum(demand[t] for t in short) <= capacity + TOLERANCE:
        return None
    return CoverageCut(role=role, month=month, trials=short, capacity=capacity)

"""Labour priced month by month as a small LP, for stage 1's outer approximation.

Stage 1 can price labour exactly on each group's cheapest-first cost curve with one
column per cost step and month (15,000 columns on the reference): its LP is tight, but
every branch-and-bound node re-solves that LP, and HiGHS spends most of round 0 there.
The cost of covering one month's role demand ``D`` from the groups and flex is the
value ``V_m(D)`` of a small LP (a transportation problem), convex and piecewise linear
in ``D``. So stage 1 can instead carry one variable ``theta_m`` per month and the cuts
``theta_m >= V_m(D0) + pi . (D - D0)`` read off this LP's duals at demand points ``D0``
(Benders' outer approximation): each cut is a supporting plane of a convex function,
so a model with any set of them stays a relaxation and its bound stays valid, and at a
point where the cuts are exact the model prices labour exactly as the step columns do.
Whether some demand can be covered at all is Hall's condition, stated in the model
itself (see :func:`role_components`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import highspy
import numpy as np

from models.solver.progress import StopFlag, never


class _Step(Protocol):
    rate: float
    capacity: tuple[float, ...]


class _Group(Protocol):
    roles: tuple[str, ...]
    steps: tuple[_Step, ...]

    def capacity(self, month: int) -> float: ...


@dataclass(frozen=True)
class Price:
    """``V_m`` at one demand point and its subgradient: what each role's last FTE costs."""

    cost: float
    marginal: dict[Hashable, float]


class MonthLabour:
    """The labour LP of one month, loaded in HiGHS once; each demand point changes only
    the coverage rows' bounds, so HiGHS re-solves from the last basis.

    min  sum_{g,k} rate_gk step_gk + sum_r flexrate_r flex_r
    s.t. sum_r use_gr = sum_k step_gk            (each group's FTE comes out of its steps)
         sum_g use_gr + flex_r >= D_r            (each role's demand is covered)
         0 <= step_gk <= cap_gk,  0 <= flex_r <= flexmax_r,  use_gr >= 0
    """

    def __init__(
        self,
        groups: Sequence[_Group],
        roles: Sequence[str],
        month: int,
        flex_max: Mapping[str, float],
        flex_rate: Mapping[str, float],
    ):
        self.roles = list(roles)
        h = self.highs = highspy.Highs()
        h.setOptionValue("output_flag", False)
        cost: list[float] = []
        upper: list[float] = []
        covering: dict[str, list[int]] = {r: [] for r in self.roles}
        balance: list[tuple[list[int], list[float]]] = []
        for group in groups:
            if group.capacity(month) <= 0:
                continue
            uses = []
            for r in group.roles:
                uses.append(len(cost))
                covering[r].append(len(cost))
                cost.append(0.0)
                upper.append(highspy.kHighsInf)
            steps = []
            for step in group.steps:
                if step.capacity[month] > 0:
                    steps.append(len(cost))
                    cost.append(step.rate)
                    upper.append(step.capacity[month])
            balance.append((uses + steps, [1.0] * len(uses) + [-1.0] * len(steps)))
        for r in self.roles:
            if flex_max.get(r, 0.0) > 0:
                covering[r].append(len(cost))
                cost.append(flex_rate[r])
                upper.append(flex_max[r])
        n = len(cost)
        h.addVars(n, np.zeros(n), np.array(upper, dtype=np.float64))
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(cost, dtype=np.float64))
        for index, value in balance:
            h.addRow(0.0, 0.0, len(index), np.array(index, dtype=np.int32), np.array(value, dtype=np.float64))
        self.cover_row: dict[Hashable, int] = {}
        for r in self.roles:
            self.cover_row[r] = h.getNumRow()
            index = covering[r]
            h.addRow(0.0, highspy.kHighsInf, len(index), np.array(index, dtype=np.int32), np.ones(len(index)))

    def price(self, demand: Mapping[str, float]) -> Price | None:
        """``V_m(demand)`` and its duals; None if no mix of people and flex covers it."""
        return _priced(self.highs, self.cover_row, demand)


class NamedMonthLabour:
    """The labour LP of one month over named people: demand comes per key (a trial's role,
    or FTE held back for a role), each covered by the people eligible for it, at their own
    rates, and by the role's flex. Uncovered demand costs ``uncovered_price`` per FTE: the
    LP then has a value everywhere, never above the true cost (which is infinite where
    nothing covers), so its cuts stay valid.

    min  sum_{p,k} rate_p a_pk + sum_k flexrate_r(k) f_k + M sum_k s_k
    s.t. sum_k a_pk <= fte_p (available people),  sum_{k of role r} f_k <= flexmax_r,
         sum_p a_pk + f_k + s_k >= D_k
    """

    def __init__(
        self,
        people: Sequence[tuple[float, float]],
        keys: Sequence[tuple[Hashable, str, Sequence[int]]],
        flex_max: Mapping[str, float],
        flex_rate: Mapping[str, float],
        uncovered_price: float,
        rate: Callable[[Hashable, int], float] | None = None,
    ):
        self.keys: list[Hashable] = [key for key, _, _ in keys]
        h = self.highs = highspy.Highs()
        h.setOptionValue("output_flag", False)
        cost: list[float] = []
        #: What each column is: (key, person index) for a person, (key, None) for flex; uncovered columns are not listed.
        self.columns: dict[int, tuple[Hashable, int | None]] = {}
        by_person: dict[int, list[int]] = {}
        by_flex: dict[str, list[int]] = {}
        covering: list[list[int]] = []
        for key, role, eligible in keys:
            cols = []
            for p in eligible:
                by_person.setdefault(p, []).append(len(cost))
                self.columns[len(cost)] = (key, p)
                cols.append(len(cost))
                cost.append(people[p][1] if rate is None else rate(key, p))
            if flex_max.get(role, 0.0) > 0:
                by_flex.setdefault(role, []).append(len(cost))
                self.columns[len(cost)] = (key, None)
                cols.append(len(cost))
                cost.append(flex_rate[role])
            cols.append(len(cost))
            cost.append(uncovered_price)
            covering.append(cols)
        n = len(cost)
        h.addVars(n, np.zeros(n), np.full(n, highspy.kHighsInf))
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(cost, dtype=np.float64))
        for p, cols in by_person.items():
            h.addRow(-highspy.kHighsInf, people[p][0], len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))
        for role, cols in by_flex.items():
            h.addRow(-highspy.kHighsInf, flex_max[role], len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))
        self.cover_row: dict[Hashable, int] = {}
        for key, cols in zip(self.keys, covering):
            self.cover_row[key] = h.getNumRow()
            h.addRow(0.0, highspy.kHighsInf, len(cols), np.array(cols, dtype=np.int32), np.ones(len(cols)))

    def price(self, demand: Mapping[Hashable, float]) -> Price | None:
        return _priced(self.highs, self.cover_row, demand)

    def exclude(self, pairs: Iterable[tuple[Hashable, int]]) -> None:
        """Keep these people off these keys in later solves (their columns fixed at 0)."""
        column = {cp: col for col, cp in self.columns.items()}
        cols = [column[pair] for pair in pairs if pair in column]
        if cols:
            n = len(cols)
            self.highs.changeColsBounds(n, np.array(cols, dtype=np.int32), np.zeros(n), np.zeros(n))

    def cover(self, demand: Mapping[Hashable, float], tol: float) -> list[tuple[Hashable, int | None, float]]:
        """Who covers what at least cost: (key, person index or None for flex, FTE) above ``tol``,
        never more than a key's demand in all.

        The coverage rows are ``>=`` (cuts need a price that never falls as demand grows),
        so where people cost nothing the LP may cover a key several times over at no cost;
        a roster read from it must not name more FTE than the trial demands (§2)."""
        if self.price(demand) is None:
            return []
        values = self.highs.getSolution().col_value
        left = {key: max(0.0, float(demand.get(key, 0.0))) for key in self.keys}
        out: list[tuple[Hashable, int | None, float]] = []
        for col, (key, p) in self.columns.items():
            fte = min(values[col], left[key])
            if fte > tol:
                left[key] -= fte
                out.append((key, p, fte))
        return out


def _priced(h: highspy.Highs, cover_row: Mapping[Hashable, int], demand: Mapping[Hashable, float]) -> Price | None:
    """Set each coverage row's demand, re-solve from the last basis, read cost and duals."""
    for key, row in cover_row.items():
        h.changeRowBounds(row, max(0.0, float(demand.get(key, 0.0))), highspy.kHighsInf)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    duals = h.getSolution().row_dual
    return Price(cost=h.getInfo().objective_function_value, marginal={key: max(0.0, duals[row]) for key, row in cover_row.items()})


class LabourPricing:
    """One month LP (:class:`MonthLabour` or :class:`NamedMonthLabour`) per month that can have demand."""

    def __init__(self, months: Mapping[int, MonthLabour | NamedMonthLabour]):
        self.months = dict(months)

    def price(self, demand: Mapping[int, Mapping[Hashable, float]], stop: StopFlag = never) -> dict[int, Price | None]:
        """Each month's price at ``demand``, month by month; once ``stop()`` is true the months
        not priced yet are left out (each month is an LP: at 5x the reference, 36 of them took 1.6 s)."""
        priced: dict[int, Price | None] = {}
        for mo, lp in self.months.items():
            if stop():
                break
            priced[mo] = lp.price(demand.get(mo, {}))  # type: ignore[arg-type]
        return priced


def group_pricing(
    groups: Sequence[_Group], roles: Sequence[str], months: Iterable[int], flex_max: Mapping[str, float], flex_rate: Mapping[str, float]
) -> LabourPricing:
    """Demand per role, covered by capacity groups on their cheapest-first curves."""
    return LabourPricing({mo: MonthLabour(groups, roles, mo, flex_max, flex_rate) for mo in months})


def role_components(role_sets: Iterable[Sequence[str]], roles: Sequence[str]) -> list[list[str]]:
    """Roles linked by people who can serve more than one of them (``role_sets``: what each
    person, or each group of people, can serve).

    Demand ``D`` of a month can be covered iff for every set ``S`` of roles
    ``sum_{r in S} D_r <= sum_{g serving a role in S} cap_g + sum_{r in S} flexmax_r``
    (Hall's condition for the transportation problem of :class:`MonthLabour`). Sets that
    span two components follow from the sets within each, so only subsets of a component
    need a row.
    """
    parent = {r: r for r in roles}

    def find(r: str) -> str:
        while parent[r] != r:
            r = parent[r]
        return r

    for served in role_sets:
        for other in served[1:]:
            parent[find(other)] = find(served[0])
    components: dict[str, list[str]] = {}
    for r in roles:
        components.setdefault(find(r), []).append(r)
    return list(components.values())


def linked(roles: Sequence[str], groups: Sequence[_Group]) -> bool:
    """Whether ``roles`` form one piece when two roles are joined by a group serving both.

    Hall's row for a set that falls into unlinked pieces is the sum of the pieces' rows
    (their serving groups are disjoint), so it adds nothing.
    """
    wanted = set(roles)
    reached = {roles[0]}
    frontier = [roles[0]]
    while frontier:
        r = frontier.pop()
        for group in groups:
            if r in group.roles:
                for other in wanted.intersection(group.roles) - reached:
                    reached.add(other)
                    frontier.append(other)
    return reached == wanted

"""Stage 2, the staffing model: who works on which trial, in contiguous blocks.

With the schedule fixed by stage 1, each (trial, role) demand profile splits into
*segments*: maximal runs of months with the same FTE demand (in practice, the stages).
A person takes a share ``z[p, seg]`` of a segment at a constant FTE for all of it (so a
plan reads "Anna, CRA on T5 at 0.5 FTE, 2027-03 to 2027-12"); in a leave month their
share is zero and flex covers the gap. Binaries ``u[p, t]`` say whether a person works
on a trial at all: they carry the limit on concurrent trials and the fragmentation
price. Flex and (where allowed) shortfall close each month's remaining demand.

Eligibility (role, skills, region) and availability are enforced by which variables
exist; capacity, concurrency, coverage, flex limits and budget are constraints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
import time
from dataclasses import dataclass, replace

import pyomo.environ as pyo

from models.solver.highs import PROVEN_INFEASIBLE, SolveOutcome, TriviallyInfeasible, Watch, add_row, solve
from models.solver.progress import Monitor
from models.formulation.instance import Block, Instance
from models.solver.settings import EngineSettings

#: Uncovered demand, when the problem forbids it, is priced this many times the dearest
#: FTE-month or fragmentation price, so the model leaves demand uncovered only when
#: nothing else fits (stage 1 is then solved again with that capacity reserved).
UNCOVERED_PRICE_FACTOR = 1000.0


@dataclass(frozen=True)
class Segment:
    trial: str
    role: str
    first: int
    last: int
    fte: float


@dataclass
class StaffingResult:
    outcome: SolveOutcome | None
    blocks: list[Block]
    flex: dict[tuple[str, str, int], float]
    shortfall: dict[tuple[str, str, int], float]


def flex_shares(
    demand: dict[tuple[str, str, int], float],
    named: dict[tuple[str, str, int], float],
    bought: dict[tuple[str, int], float],
) -> dict[tuple[str, str, int], float]:
    """Each trial's share of a role-month's flex (``bought`` per (role, month)), pro rata to
    its demand left after named staff (§2): a roster may buy flex for one trial and leave
    another short in the same role and month, but flex and what it costs are reported by
    that rule, and the plan's explanations give a trial's share back by it."""
    left: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
    for (t, r, m), d in demand.items():
        if (r, m) in bought and d - min(d, named.get((t, r, m), 0.0)) > 0:
            left[(r, m)].append((t, d - min(d, named.get((t, r, m), 0.0))))
    shares: dict[tuple[str, str, int], float] = {}
    for (r, m), amount in bought.items():
        total = sum(v for _, v in left[(r, m)])
        for t, v in left[(r, m)]:
            shares[(t, r, m)] = min(amount, total) * v / total
    return shares


def demand_profile(inst: Instance, schedule: dict[str, tuple[str, int]]) -> dict[tuple[str, str, int], float]:
    """FTE demand per (trial, role, month) of the chosen schedule."""
    demand: dict[tuple[str, str, int], float] = {}
    for t, (o, s) in schedule.items():
        prof = inst.profiles[(t, o)]
        for k, month_demand in enumerate(prof.demand):
            for r, v in month_demand.items():
                demand[(t, r, s + k)] = v
    return demand


@dataclass
class NetDemand:
    """Demand per (trial, role, month) left after pinned assignments, and what the pins take."""

    demand: dict[tuple[str, str, int], float]
    pinned_fte: dict[tuple[str, int], float]
    pinned_trials: dict[tuple[str, int], set[str]]


def net_demand(inst: Instance, schedule: dict[str, tuple[str, int]]) -> NetDemand:
    """The schedule's demand less what pinned blocks and held flex cover (see :attr:`Instance.held_flex`)."""
    demand = demand_profile(inst, schedule)
    for key, fte in inst.held_flex.items():
        if key in demand:
            demand[key] -= fte
    pinned_fte: dict[tuple[str, int], float] = defaultdict(float)
    pinned_trials: dict[tuple[str, int], set[str]] = defaultdict(set)
    for p in inst.pinned:
        for mo in range(p.first, p.last + 1):
            pinned_fte[(p.staff, mo)] += p.fte
            pinned_trials[(p.staff, mo)].add(p.trial)
            demand[(p.trial, p.role, mo)] = demand.get((p.trial, p.role, mo), 0.0) - p.fte
    return NetDemand({k: v for k, v in demand.items() if v > 1e-9}, dict(pinned_fte), dict(pinned_trials))


def candidate_bound(inst: Instance, schedule: dict[str, tuple[str, int]]) -> int:
    """At least as many as the staffing model's (person, segment) candidates: every eligible
    person per segment, before the check that they are free for half its months."""
    return sum(len(inst.eligible(s.trial, s.role)) for s in segments(net_demand(inst, schedule).demand))


def segments(demand: dict[tuple[str, str, int], float]) -> list[Segment]:
    """Maximal runs of consecutive months with equal positive demand, per (trial, role)."""
    by_tr: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for (t, r, m), v in demand.items():
        if v > 1e-9:
            by_tr[(t, r)].append((m, v))
    out: list[Segment] = []
    for (t, r), months in sorted(by_tr.items()):
        months.sort()
        first, level = months[0]
        prev = first
        for m, v in months[1:]:
            if m != prev + 1 or abs(v - level) > 1e-9:
                out.append(Segment(t, r, first, prev, level))
                first, level = m, v
            prev = m
        out.append(Segment(t, r, first, prev, level))
    return out


class StaffingModel:
    """Builds the stage-2 model from sparse candidate lists, one method per constraint family."""

    def __init__(
        self,
        inst: Instance,
        schedule: dict[str, tuple[str, int]],
    ):
        self.inst = inst
        self.schedule = schedule
        net = net_demand(inst, schedule)
        self.pinned_fte = net.pinned_fte
        self.pinned_trials = net.pinned_trials
        self.demand = net.demand
        self.segments = segments(self.demand)
        self._candidates()

    def build(self) -> None:
        """Create the Pyomo model (separate from __init__ so callers can look at the size first)."""
        self.m = pyo.ConcreteModel(name="staffing")
        self._variables()
        self._person_capacity()
        self._concurrency()
        self._coverage()
        self._flex_limit()
        self._budget()
        self._objective()

    def _spare(self, person: str, month: int) -> float:
        if not self.inst.available[person][month]:
            return 0.0
        return self.inst.staff[person].fte - self.pinned_fte.get((person, month), 0.0)

    def _candidates(self) -> None:
        """(person, segment) pairs: eligible, and free for at least half of the segment's months."""
        inst = self.inst
        self.pairs: list[tuple[str, int]] = []
        self.ub: list[float] = []
        for j, seg in enumerate(self.segments):
            length = seg.last - seg.first + 1
            for p in inst.eligible(seg.trial, seg.role):
                free = [self._spare(p, mo) for mo in range(seg.first, seg.last + 1)]
                working = [f for f in free if f > 1e-9]
                if 2 * len(working) < length:
                    continue
                self.pairs.append((p, j))
                self.ub.append(min(min(working), seg.fte))

    def _variables(self) -> None:
        m, inst = self.m, self.inst
        m.z = pyo.Var(range(len(self.pairs)), domain=pyo.NonNegativeReals, bounds=lambda _, i: (0, self.ub[i]))
        self.person_trials = sorted({(p, self.segments[j].trial) for p, j in self.pairs})
        m.u = pyo.Var(self.person_trials, domain=pyo.Binary)
        self.flex_index = [k for k in self.demand if inst.flex_max.get(k[1], 0) > 0]
        m.flex = pyo.Var(self.flex_index, domain=pyo.NonNegativeReals)
        m.short = pyo.Var(list(self.demand), domain=pyo.NonNegativeReals)
        self.working: dict[int, list[int]] = {}
        for i, (p, j) in enumerate(self.pairs):
            seg = self.segments[j]
            self.working[i] = [mo for mo in range(seg.first, seg.last + 1) if self._spare(p, mo) > 1e-9]

    def _person_capacity(self) -> None:
        """A person's FTE over all trials in a month stays within their spare FTE:
        sum_{seg active in m} z[p,seg] <= fte_p - pinned_p(m), for months they work."""
        m = self.m
        terms: dict[tuple[str, int], list[int]] = defaultdict(list)
        for i, (p, _) in enumerate(self.pairs):
            for mo in self.working[i]:
                terms[(p, mo)].append(i)
        m.capacity = pyo.ConstraintList()
        for (p, mo), idx in terms.items():
            spare = self._spare(p, mo)
            if sum(self.ub[i] for i in idx) > spare + 1e-9:
                add_row(m.capacity, sum(m.z[i] for i in idx) <= spare)

    def _concurrency(self) -> None:
        """z only on trials the person works on (z <= ub*u), and at most max_concurrent_trials
        distinct trials per month: sum_{t active in m} u[p,t] <= k_p - |pinned trials of p in m|."""
        m, inst = self.m, self.inst
        m.link = pyo.Constraint(
            range(len(self.pairs)),
            rule=lambda _, i: m.z[i] <= self.ub[i] * m.u[self.pairs[i][0], self.segments[self.pairs[i][1]].trial],
        )
        active: dict[tuple[str, int], set[str]] = defaultdict(set)
        for i, (p, j) in enumerate(self.pairs):
            for mo in self.working[i]:
                active[(p, mo)].add(self.segments[j].trial)
        m.concurrent = pyo.ConstraintList()
        seen: set[tuple[str, frozenset[str], int]] = set()
        for (p, mo), trials in active.items():
            pinned = self.pinned_trials.get((p, mo), set())
            free = trials - pinned
            limit = inst.staff[p].max_concurrent_trials - len(pinned)
            key = (p, frozenset(free), limit)
            if len(free) <= limit or key in seen:
                continue
            seen.add(key)
            add_row(m.concurrent, sum(m.u[p, t] for t in free) <= max(0, limit))

    def _coverage(self) -> None:
        """Each trial-role-month demand is met exactly: sum_p z + flex + short = demand (so never over-assigned)."""
        m = self.m
        terms: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        for i, (_, j) in enumerate(self.pairs):
            seg = self.segments[j]
            for mo in self.working[i]:
                terms[(seg.trial, seg.role, mo)].append(i)
        flex = set(self.flex_index)

        def rule(_, t: str, r: str, mo: int):
            supply = sum(m.z[i] for i in terms.get((t, r, mo), []))
            if (t, r, mo) in flex:
                supply += m.flex[t, r, mo]
            return supply + m.short[t, r, mo] == self.demand[(t, r, mo)]

        m.cover = pyo.Constraint(list(self.demand), rule=rule)

    def _flex_limit(self) -> None:
        """Flex bought for a role in a month stays within its limit: sum_t flex[t,r,m] <= flexmax_r."""
        m, inst = self.m, self.inst
        by_rm: dict[tuple[str, int], list[tuple[str, str, int]]] = defaultdict(list)
        for k in self.flex_index:
            by_rm[(k[1], k[2])].append(k)
        m.flex_limit = pyo.Constraint(
            list(by_rm), rule=lambda _, r, mo: sum(m.flex[k] for k in by_rm[(r, mo)]) <= inst.flex_max[r]
        )

    def _staff_cost(self, i: int, year: str | None = None) -> float:
        p, _ = self.pairs[i]
        months = [mo for mo in self.working[i] if year is None or self.inst.year_of[mo] == year]
        return self.inst.rate(p) * len(months)

    def _budget(self) -> None:
        """Staff and flex spend fit in what the budget leaves after external costs, per year and in total."""
        m, inst = self.m, self.inst
        budget = inst.problem.budget
        m.budget = pyo.ConstraintList()
        if not budget.per_year and budget.total is None:
            return
        external = inst.external_spend(self.schedule)
        pinned_cost: dict[str, float] = defaultdict(float)
        for p in inst.pinned:
            for mo in range(p.first, p.last + 1):
                pinned_cost[inst.year_of[mo]] += inst.rate(p.staff) * p.fte
        spend: dict[str, pyo.Expression] = {}
        for y in inst.years:
            staff = sum(self._staff_cost(i, y) * m.z[i] for i in range(len(self.pairs)) if self._staff_cost(i, y))
            flex = sum(inst.flex_rate[k[1]] * m.flex[k] for k in self.flex_index if inst.year_of[k[2]] == y)
            spend[y] = staff + flex
            if y in budget.per_year:
                add_row(m.budget, spend[y] <= budget.per_year[y] - external[y] - pinned_cost[y])
        if budget.total is not None:
            add_row(m.budget, sum(spend.values()) <= budget.total - sum(external.values()) - sum(pinned_cost.values()))

    def _objective(self) -> None:
        """Minimise staff + flex cost + uncovered price + fragmentation (a price per person on a trial)."""
        m, inst = self.m, self.inst
        weights = inst.problem.objective.weights
        uncovered = uncovered_price(inst)
        m.obj = pyo.Objective(
            expr=sum(self._staff_cost(i) * m.z[i] for i in range(len(self.pairs)))
            + sum(inst.flex_rate[k[1]] * m.flex[k] for k in self.flex_index)
            + uncovered * sum(m.short[k] for k in self.demand)
            + weights.fragmentation * sum(m.u[k] for k in self.person_trials),
            sense=pyo.minimize,
        )

    def blocks(self, tol: float) -> list[Block]:
        """Read z back as contiguous blocks: a share splits at months the person does not work."""
        out: list[Block] = []
        for i, (p, j) in enumerate(self.pairs):
            fte = pyo.value(self.m.z[i])
            if fte is None or fte <= tol:
                continue
            seg = self.segments[j]
            run: list[int] = []
            for mo in range(seg.first, seg.last + 2):
                if mo <= seg.last and mo in self.working[i]:
                    run.append(mo)
                elif run:
                    out.append(Block(p, seg.trial, seg.role, run[0], run[-1], round(fte, 9)))
                    run = []
        return merge_blocks(out + self.inst.pinned)

    def flex_used(self, tol: float) -> dict[tuple[str, str, int], float]:
        return {k: v for k in self.flex_index if (v := pyo.value(self.m.flex[k]) or 0.0) > tol}

    def shortfall(self, tol: float) -> dict[tuple[str, str, int], float]:
        return {k: v for k in self.demand if (v := pyo.value(self.m.short[k]) or 0.0) > tol}


def buy_flex(
    inst: Instance, residual: dict[tuple[str, str, int], float], tol: float
) -> tuple[dict[tuple[str, str, int], float], dict[tuple[str, str, int], float]]:
    """What people left uncovered per (trial, role, month), bought as flex within each role's
    monthly limit (trials in id order) after the held flex, which the result includes, and
    the rest as shortfall."""
    flex_left: dict[tuple[str, int], float] = {}
    flex: dict[tuple[str, str, int], float] = dict(inst.held_flex)
    for (_, r, m), held in inst.held_flex.items():
        flex_left[(r, m)] = flex_left.get((r, m), inst.flex_max.get(r, 0.0)) - held
    shortfall: dict[tuple[str, str, int], float] = {}
    for (t, r, m), left in sorted(residual.items()):
        if left <= tol:
            continue
        bought = min(left, flex_left.setdefault((r, m), inst.flex_max.get(r, 0.0)))
        if bought > tol:
            flex[(t, r, m)] = flex.get((t, r, m), 0.0) + bought
            flex_left[(r, m)] -= bought
            left -= bought
        if left > tol:
            shortfall[(t, r, m)] = left
    return flex, shortfall


def merge_blocks(blocks: list[Block]) -> list[Block]:
    """Join blocks of one person, trial and role that touch and have the same FTE."""
    blocks = sorted(blocks, key=lambda b: (b.staff, b.trial, b.role, b.first))
    merged: list[Block] = []
    for b in blocks:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.staff, last.trial, last.role) == (b.staff, b.trial, b.role)
            and last.last + 1 == b.first
            and abs(last.fte - b.fte) <= 1e-9
        ):
            merged[-1] = Block(b.staff, b.trial, b.role, last.first, b.last, b.fte)
        else:
            merged.append(b)
    return merged


def month_blocks(worked: Mapping[tuple[str, str, str], Mapping[int, float]], pinned: Sequence[Block] = ()) -> list[Block]:
    """FTE per month of each (person, trial, role) as blocks, a block running while the FTE
    stays the same, merged with the ``pinned`` blocks."""
    out: list[Block] = list(pinned)
    for (p, t, r), by_month in worked.items():
        run: list[int] = []
        for m in sorted(by_month):
            if run and (m != run[-1] + 1 or abs(by_month[m] - by_month[run[0]]) > 1e-9):
                out.append(Block(p, t, r, run[0], run[-1], by_month[run[0]]))
                run = []
            run.append(m)
        out.append(Block(p, t, r, run[0], run[-1], by_month[run[0]]))
    return merge_blocks(out)


def uncovered_price(inst: Instance) -> float:
    """Price of an uncovered FTE-month in the staffing stage (see UNCOVERED_PRICE_FACTOR)."""
    weights = inst.problem.objective.weights
    if weights.shortfall is not None:
        return weights.shortfall
    dearest = max([inst.rate(p) for p in inst.staff] + list(inst.flex_rate.values()) + [weights.fragmentation, 1.0])
    return UNCOVERED_PRICE_FACTOR * dearest


def staffing_cost(inst: Instance, result: StaffingResult) -> float:
    """The staffing stage's objective for any staffing of a schedule, however it was made."""
    staff = sum(inst.rate(b.staff) * b.fte * (b.last - b.first + 1) for b in result.blocks)
    flex = sum(inst.flex_rate[r] * v for (_, r, _), v in result.flex.items())
    pairs = len({(b.staff, b.trial) for b in result.blocks})
    fragmentation = inst.problem.objective.weights.fragmentation * pairs
    return staff + flex + uncovered_price(inst) * sum(result.shortfall.values()) + fragmentation


def solve_staffing_mip(
    model: StaffingModel, settings: EngineSettings, time_limit: float, monitor: Monitor | None = None, nodes: int | None = None
) -> StaffingResult:
    """Solve the staffing MIP (at most ``nodes`` branch-and-bound nodes if given); a stop
    request through ``monitor`` ends it with its incumbent."""
    began = time.perf_counter()
    try:
        model.build()
    except TriviallyInfeasible:
        return StaffingResult(PROVEN_INFEASIBLE, [], {}, {})
    built = time.perf_counter() - began
    watch = Watch(monitor, "staffing", report=False) if monitor is not None else None
    outcome = replace(solve(model.m, settings, max(0.1, time_limit - built), settings.staffing_gap, watch, nodes=nodes), build_seconds=built)
    if not outcome.has_solution:
        return StaffingResult(outcome, [], {}, {})
    tol = settings.tolerance
    return StaffingResult(outcome, model.blocks(tol), model.flex_used(tol), model.shortfall(tol))

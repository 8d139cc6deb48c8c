"""Stage 1, the portfolio model: which trials run, in which option, starting when.

A time-indexed MIP over binaries ``x[t,o,s]`` (trial t runs option o starting in month
s; only starts that survive windows, deadlines, predecessors and pins exist) with the
named pool aggregated into *capacity groups*: people who can serve the same set of
roles, split into cost tiers. Aggregation makes this stage a relaxation of the full
problem (each tier is priced at its cheapest member; skills and regions enter only as
necessary conditions), so its best bound is a valid bound on the whole plan. Stage 2
(:mod:`models.formulation.staffing`) then names the people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
import itertools
import math
import time
from dataclasses import dataclass, field, replace

import pyomo.environ as pyo
from pyomo.core.base.constraint import ConstraintData
from pyomo.core.base.var import VarData

from models.formulation.coverage_cuts import CoverageCut
from models.solver.highs import (
    PROVEN_INFEASIBLE,
    STOPPED,
    PersistentHighs,
    SolveOutcome,
    TriviallyInfeasible,
    Watch,
    add_row,
    linear,
    solve,
    stop_flag,
)
from models.formulation.instance import Instance
from models.formulation.labour_cuts import LabourPricing, NamedMonthLabour, Price, group_pricing, linked, role_components
from models.solver.progress import Monitor, StopFlag, StopRequested, never, relative_gap
from models.solver.settings import EngineSettings

Key = tuple[str, str, int]


def schedule_keys(schedule: Mapping[str, tuple[str, int]]) -> frozenset[Key]:
    """The starts a schedule uses, as stage 1 indexes them: (trial, option, start month)."""
    return frozenset((t, o, s) for t, (o, s) in schedule.items())

#: Currency under which a cut's violation counts as none (labour per month is in the millions).
CUT_TOLERANCE = 1.0
#: Relative slack within which a budget row counts as holding at exact labour prices.
BUDGET_TOLERANCE = 1e-7
#: Uncovered demand in the named month LP costs this many times the dearest rate per FTE-month.
UNCOVERED_PRICE_FACTOR = 100.0
#: Hall's rows number 2^k - 1 per month for k linked roles: above this, stage 1 keeps its step columns.
MAX_LINKED_ROLES = 8


@dataclass(frozen=True)
class CostStep:
    """People of one group whose rates lie within the step tolerance, priced at the cheapest of them."""

    rate: float
    capacity: tuple[float, ...]


@dataclass(frozen=True)
class CapacityGroup:
    """People interchangeable at portfolio level (same role set), with their cheapest-first cost curve."""

    roles: tuple[str, ...]
    steps: tuple[CostStep, ...]

    def capacity(self, month: int) -> float:
        return sum(step.capacity[month] for step in self.steps)


@dataclass
class Reserve:
    """What repair rounds learn about staffing and feed back into stage 1.

    ``capacity`` is FTE per (role, month) that staffing could not deliver; ``labour_factor``
    per year is how much dearer real staffing came out than stage 1's tier prices (its
    budget rows scale labour by it); ``budget`` is spend per year still to hold back;
    ``coverage`` are rows learnt from people who could not cover overlapping trials
    (:mod:`models.formulation.coverage_cuts`): valid for every plan, they stay once added. ``tried``
    are schedules (their starts) already staffed into plans: a round that only looks for a
    better plan skips them rather than staff one again.
    """

    capacity: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    labour_factor: dict[str, float] = field(default_factory=lambda: defaultdict(lambda: 1.0))
    budget: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    coverage: list[CoverageCut] = field(default_factory=list)
    tried: list[frozenset[Key]] = field(default_factory=list)

    def relaxes(self) -> bool:
        """Whether stage 1 under this reserve is still a relaxation of the whole problem (it
        only adds coverage rows), so that its bound bounds every plan as round 0's does."""
        return (
            not any(v > 0 for v in self.capacity.values())
            and all(f == 1.0 for f in self.labour_factor.values())
            and not any(v > 0 for v in self.budget.values())
            and not self.tried
        )


@dataclass
class PortfolioResult:
    """One stage-1 run; ``model`` and ``solver`` stay loaded for a persistent re-solve."""

    outcome: SolveOutcome
    schedule: dict[str, tuple[str, int]]
    bound: float | None
    labour: dict[str, float] = field(default_factory=dict)
    model: PortfolioModel | None = None
    solver: PersistentHighs | None = None


def capacity_groups(inst: Instance, tiers: int | None) -> list[CapacityGroup]:
    """Group the pool by role set; within a group, cost steps cheapest first.

    With ``tiers``, a group's people (sorted by rate) are split into that many equal-sized
    steps, each priced at its cheapest member: a coarse curve that keeps the MIP quick.
    Without, every distinct rate is its own step: the exact cheapest-first curve. Either
    way the curve never prices labour above what some roster pays, so stage 1 stays a
    relaxation of the whole problem.
    """
    by_roles: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for pid, roles in inst.staff_roles.items():
        by_roles[tuple(sorted(roles))].append(pid)
    groups: list[CapacityGroup] = []
    for roles, people in sorted(by_roles.items()):
        people.sort(key=inst.rate)
        members: list[list[str]] = []
        if tiers is not None:
            size = -(-len(people) // tiers)
            members = [people[i : i + size] for i in range(0, len(people), size)]
        else:
            for p in people:
                if members and inst.rate(p) == inst.rate(members[-1][0]):
                    members[-1].append(p)
                else:
                    members.append([p])
        steps = tuple(
            CostStep(
                rate=inst.rate(step[0]),
                capacity=tuple(sum(inst.staff[p].fte for p in step if inst.available[p][mo]) for mo in range(inst.months)),
            )
            for step in members
        )
        groups.append(CapacityGroup(roles=roles, steps=steps))
    return groups


class PortfolioModel:
    """Builds the stage-1 model from precomputed sparse index sets, one method per constraint family.

    ``stop`` is asked before each family: at 5x the reference the build takes seconds, and
    a planner's cancel must not wait for it. Once it is true the build is abandoned with
    :class:`StopRequested` (see :meth:`_build`)."""

    def __init__(
        self,
        inst: Instance,
        settings: EngineSettings,
        reserve: Reserve,
        tiers: int | None = None,
        relax: bool = False,
        stop: StopFlag = never,
    ) -> None:
        self.inst = inst
        self.settings = settings
        self.stop = stop
        self.keys: list[Key] = [(t, o, s) for (t, o), dom in inst.starts.items() for s in dom]
        self.by_trial: dict[str, list[int]] = defaultdict(list)
        for i, (t, _, _) in enumerate(self.keys):
            self.by_trial[t].append(i)
        self.role_terms: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
        self.service_terms: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
        self.spend_terms: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for i, (t, o, s) in enumerate(self.keys):
            prof = inst.profiles[(t, o)]
            for k in range(prof.duration):
                m = s + k
                for r, v in prof.demand[k].items():
                    self.role_terms[(r, m)].append((i, v))
                for svc, u in prof.services[k].items():
                    self.service_terms[(svc, m)].append((i, u))
                self.spend_terms[inst.year_of[m]][i] += inst.month_spend(t, o, k)
        self.groups = capacity_groups(inst, tiers)
        self.shortfall_price = inst.problem.objective.weights.shortfall
        self.scale = settings.money_scale if inst.problem.objective.kind in ("value", "cost") else 1.0
        self.m = pyo.ConcreteModel(name=self.name)
        self.m.x = pyo.Var(range(len(self.keys)), domain=pyo.UnitInterval if relax else pyo.Binary)
        self._choice_variables(relax)
        self._reserve_parameters()
        self.apply(reserve)
        self._build(
            self._staffing_variables,
            self._one_option_per_trial,
            self._staffing_constraints,
            self._service_capacity,
            self._predecessors,
            self._yearly_labour,
            self._budget,
            self._objective,
        )

    name = "portfolio"

    def _build(self, *families: Callable[[], None]) -> None:
        """Build the families in turn, asking ``stop`` before each: a stop abandons the model
        (:class:`StopRequested`) rather than finish what nobody will solve. Between families
        the model is only incomplete, never inconsistent, and it is discarded whole."""
        for family in families:
            if self.stop():
                raise StopRequested(f"{self.name} model abandoned before {family.__name__}")
            family()

    def _reserve_parameters(self) -> None:
        """What repair rounds learn enters as numbers a persistent solver can change in place,
        so a round hands HiGHS only those: FTE held back per role and month, the labour price
        factor and the budget held back per year. Held FTE is a variable pinned by its bounds
        rather than a parameter: the rows it enters (Hall's rows, cuts) stay plain linear
        rows that reach HiGHS by the fast path (:func:`models.solver.highs.flat_row`), and a new
        reserve changes only column bounds."""
        m, inst = self.m, self.inst
        m.held = pyo.Var(list(self.role_terms), bounds=(0.0, 0.0), initialize=0.0)
        m.labour_factor = pyo.Param(inst.years, mutable=True, initialize=1.0)
        m.budget_held = pyo.Param(inst.years, mutable=True, initialize=0.0)
        m.coverage = pyo.ConstraintList()
        self.coverage: set[CoverageCut] = set()
        m.tried = pyo.ConstraintList()
        self.tried: dict[frozenset[Key], ConstraintData] = {}

    def apply(self, reserve: Reserve) -> None:
        """Set a repair round's reserve into the parameters (an empty one restores the plain model)."""
        m = self.m
        for key, held in m.held.items():
            amount = reserve.capacity.get(key, 0.0)
            held.setlb(amount)
            held.setub(amount)
            held.set_value(amount)
        for y in self.inst.years:
            m.labour_factor[y] = reserve.labour_factor[y]
            m.budget_held[y] = reserve.budget.get(y, 0.0)
        for cut in reserve.coverage:
            if cut not in self.coverage:
                self.coverage.add(cut)
                terms = [(v, m.x[i]) for i, v in self.role_terms.get((cut.role, cut.month), []) if self.keys[i][0] in cut.trials]
                add_row(m.coverage, linear(terms) <= cut.capacity)
        self._skip_tried(reserve.tried)

    def _skip_tried(self, tried: list[frozenset[Key]]) -> None:
        """Cut off each schedule S tried (and only it): sum_{i in S} x[i] - sum_{i not in S} x[i] <= |S| - 1.
        Rows of schedules no longer in the reserve are withdrawn (an empty reserve restores the model)."""
        m = self.m
        for schedule in list(self.tried):
            if schedule not in tried:
                self.tried.pop(schedule).deactivate()
        known = set(self.keys)
        for schedule in tried:
            if schedule in self.tried or not schedule <= known:
                continue
            terms = [(1.0 if key in schedule else -1.0, m.x[i]) for i, key in enumerate(self.keys)]
            self.tried[schedule] = m.tried.add(linear(terms) <= len(schedule) - 1)

    # -- variables ---------------------------------------------------------------------
    def _staffing_variables(self) -> None:
        """Group capacity used per role and month, role-level flex and (if priced) shortfall."""
        m, inst = self.m, self.inst
        self.use_index = [
            (g, r, mo)
            for g, grp in enumerate(self.groups)
            for r in grp.roles
            for mo in range(inst.months)
            if grp.capacity(mo) > 0 and (r, mo) in self.role_terms
        ]
        m.use = pyo.Var(self.use_index, domain=pyo.NonNegativeReals)
        used_gm = {(g, mo) for g, _, mo in self.use_index}
        self.step_index = [
            (g, k, mo)
            for g, mo in sorted(used_gm)
            for k, step in enumerate(self.groups[g].steps)
            if step.capacity[mo] > 0
        ]
        m.step = pyo.Var(
            self.step_index,
            domain=pyo.NonNegativeReals,
            bounds=lambda _, g, k, mo: (0, self.groups[g].steps[k].capacity[mo]),
        )
        self.flex_index = [(r, mo) for (r, mo) in self.role_terms if inst.flex_max.get(r, 0) > 0]
        m.flex = pyo.Var(self.flex_index, domain=pyo.NonNegativeReals, bounds=lambda _, r, mo: (0, inst.flex_max[r]))
        self.short_index = list(self.role_terms) if self.shortfall_price is not None else []
        m.short = pyo.Var(self.short_index, domain=pyo.NonNegativeReals)

    def _choice_variables(self, relax: bool) -> None:
        """Whether each optional trial runs (``run[t]``) and, for a trial with more than one
        option, whether it runs in option o (``pick[t,o]``): sums of starts, binary already
        through ``x``, stated as binaries of their own so that branch-and-bound can branch on
        them. Branching on one start (x[t,o,s] = 0) mostly moves the trial to the next start;
        branching on run[t] decides whether it runs at all. On round 0's model of the
        reference, HiGHS proved its optimum in 10-14 s with them, 27-37 s without (three seeds each)."""
        m, inst = self.m, self.inst
        self.by_option: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, (t, o, _) in enumerate(self.keys):
            self.by_option[(t, o)].append(i)
        options: dict[str, list[str]] = defaultdict(list)
        for t, o in self.by_option:
            options[t].append(o)
        self.run_index = [t for t in inst.trials if self.by_trial[t] and t not in inst.forced_run]
        self.pick_index = [(t, o) for t in inst.trials for o in options[t] if len(options[t]) > 1]
        domain = pyo.UnitInterval if relax else pyo.Binary
        m.run = pyo.Var(self.run_index, domain=domain)
        m.pick = pyo.Var(self.pick_index, domain=domain)

    def set_integral(self, integral: bool) -> None:
        """Make the starts and choices binary, or relax them to [0, 1] (an LP of the same rows)."""
        domain = pyo.Binary if integral else pyo.UnitInterval
        for var in (self.m.x, self.m.run, self.m.pick):
            for v in var.values():
                v.domain = domain

    def start_values_at(self, x: Sequence[float]) -> list[tuple[VarData, float]]:
        """Every start and choice variable at the starts ``x``, as a warm start."""
        m = self.m
        values = list(zip(m.x.values(), x))
        values += [(m.run[t], float(sum(x[i] for i in self.by_trial[t]))) for t in self.run_index]
        values += [(m.pick[t, o], float(sum(x[i] for i in self.by_option[(t, o)]))) for t, o in self.pick_index]
        return values

    # -- constraint families -----------------------------------------------------------
    def _staffing_constraints(self) -> None:
        self._build(self._group_capacity, self._role_coverage, self._eligible_capacity, self._concurrency_slots)

    def _one_option_per_trial(self) -> None:
        """Each trial runs at most once, in one option and start: sum_{o,s} x[t,o,s] = run[t] <= 1
        (= 1 if it must run), and sum_s x[t,o,s] = pick[t,o] where a trial has options to pick from."""
        m, inst = self.m, self.inst
        m.once = pyo.ConstraintList()
        for t in inst.trials:
            starts = [(1.0, m.x[i]) for i in self.by_trial[t]]
            if t in inst.forced_run:
                add_row(m.once, linear(starts) == 1)
            elif starts:
                add_row(m.once, linear(starts + [(-1.0, m.run[t])]) == 0)
        for t, o in self.pick_index:
            add_row(m.once, linear([(1.0, m.x[i]) for i in self.by_option[(t, o)]] + [(-1.0, m.pick[t, o])]) == 0)

    def _group_capacity(self) -> None:
        """A group's FTE spread over its roles comes out of its cost steps, each within what its
        people have: sum_r use[g,r,m] = sum_k step[g,k,m], 0 <= step[g,k,m] <= cap[g,k,m]."""
        m = self.m
        by_gm: dict[tuple[int, int], list[tuple[int, str, int]]] = defaultdict(list)
        for key in self.use_index:
            by_gm[(key[0], key[2])].append(key)
        steps: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        for key in self.step_index:
            steps[(key[0], key[2])].append(key)
        m.group_cap = pyo.Constraint(
            list(by_gm), rule=lambda _, g, mo: sum(m.use[k] for k in by_gm[(g, mo)]) == sum(m.step[k] for k in steps[(g, mo)])
        )

    def _role_coverage(self) -> None:
        """Demand of every role and month is met: sum demand*x + reserve <= sum_g use + flex + short."""
        m = self.m
        uses: dict[tuple[str, int], list[tuple[int, str, int]]] = defaultdict(list)
        for key in self.use_index:
            uses[(key[1], key[2])].append(key)
        flex = set(self.flex_index)
        short = set(self.short_index)

        def rule(_, r: str, mo: int):
            supply = sum(m.use[k] for k in uses[(r, mo)])
            if (r, mo) in flex:
                supply += m.flex[r, mo]
            if (r, mo) in short:
                supply += m.short[r, mo]
            demand = sum(v * m.x[i] for i, v in self.role_terms[(r, mo)])
            return demand + m.held[r, mo] <= supply

        m.cover = pyo.Constraint(list(self.role_terms), rule=rule)

    def _eligible_capacity(self) -> None:
        """Trials that need the same restricted set E of people (skills, regions) fit in it:
        sum_{t needs E} demand[t,r,m] <= sum_{p in E} fte_p * available[p,m] + flexmax[r].

        Necessary, not sufficient; stage 2 enforces eligibility person by person. Not stated
        where demand may go uncovered at a price (nothing is then out of reach).
        """
        m = self.m
        m.eligible = pyo.ConstraintList()
        if self.shortfall_price is not None:
            return
        for _, _, terms, cap in self.eligible_rows():
            add_row(m.eligible, sum(v * m.x[i] for i, v in terms) <= cap)

    def eligible_rows(self) -> list[tuple[str, int, list[tuple[int, float]], float]]:
        """The restricted-set rows that can bind: (role, month, (start column, demand) terms, capacity)."""
        inst = self.inst
        need: dict[tuple[str, frozenset[str]], set[str]] = defaultdict(set)
        for t, trial in inst.trials.items():
            roles = {r for (tt, o), prof in inst.profiles.items() if tt == t for d in prof.demand for r in d}
            # Sorted: a set of strings iterates in an order that changes from one process to
            # the next, and HiGHS's path (so the plan) follows the order of the rows.
            for r in sorted(roles):
                restricted = bool(trial.required_skills.get(r)) or (r in inst.regional and trial.regions)
                if restricted:
                    people = frozenset(inst.eligible(t, r))
                    need[(r, people)].add(t)
        rows = []
        for (r, people), trials in need.items():
            for mo in range(inst.months):
                terms = [
                    (i, v) for i, v in self.role_terms.get((r, mo), []) if self.keys[i][0] in trials
                ]
                if not terms:
                    continue
                cap = sum(inst.staff[p].fte for p in sorted(people) if inst.available[p][mo]) + inst.flex_max.get(r, 0.0)
                if sum(v for _, v in terms) > cap:
                    rows.append((r, mo, terms, cap))
        return rows

    def _concurrency_slots(self) -> None:
        """The people running trials need in a month fit in the trial slots people have: for
        each role set S (each role, and each set of roles linked by people holding two of
        them) and month m,
        sum_{t,o,s} need_S[t,o,m-s] x[t,o,s] <= sum_{p holding a role of S, available in m} max_concurrent_trials_p,
        with need_S = ceil(sum_{r in S} max(0, demand_r - flexmax_r) / the largest FTE of
        S's people): no person gives a trial more than their FTE, and each person is on at
        most their limit of trials. Capacity in FTE ignores this: three full-time people
        limited to one trial each cannot run two trials of 1.5 FTE at once, though they
        have 3 FTE. A row is stated only where it can bind (the trials' largest needs
        together exceed the slots); none where shortfall is priced (demand may go uncovered)."""
        m, inst = self.m, self.inst
        m.slots = pyo.ConstraintList()
        if self.shortfall_price is not None:
            return
        components = role_components(inst.staff_roles.values(), inst.roles)
        sets = sorted({(r,) for r in inst.roles} | {tuple(sorted(c)) for c in components if len(c) > 1})
        holders = {roles: [p for p, held in inst.staff_roles.items() if set(held) & set(roles)] for roles in sets}
        for roles in sets:
            largest = max((inst.staff[p].fte for p in holders[roles]), default=0.0)
            if largest <= 0:
                continue
            need = {
                key: [math.ceil(sum(max(0.0, d.get(r, 0.0) - inst.flex_max.get(r, 0.0)) for r in roles) / largest - 1e-9) for d in prof.demand]
                for key, prof in inst.profiles.items()
            }
            # The most each trial can need in any month bounds what it needs in each: months
            # where even that fits the slots need no row (all of them, on the reference).
            most: dict[str, int] = defaultdict(int)
            for (t, o), profile in need.items():
                most[t] = max([most[t], *profile])
            for mo in range(inst.months):
                slots = sum(inst.staff[p].max_concurrent_trials for p in holders[roles] if inst.available[p][mo])
                if sum(most.values()) <= slots:
                    continue
                terms: list[tuple[float, VarData]] = []
                active: dict[str, int] = defaultdict(int)
                for i, (t, o, s) in enumerate(self.keys):
                    if 0 <= mo - s < len(need[(t, o)]) and (count := need[(t, o)][mo - s]) > 0:
                        terms.append((float(count), m.x[i]))
                        active[t] = max(active[t], count)
                if sum(active.values()) > slots:
                    add_row(m.slots, linear(terms) <= slots)

    def _service_capacity(self) -> None:
        """Service units used per month stay within capacity: sum units*x <= cap[svc,m]; and
        over the horizon within a contract volume: sum volume[t,o,svc]*x[t,o,s] <= volume[svc]
        (stated only where the starts could exceed it)."""
        m, inst = self.m, self.inst
        m.service_cap = pyo.ConstraintList()
        for (svc, mo), terms in self.service_terms.items():
            if sum(u for _, u in terms) > inst.service_capacity[svc][mo]:
                add_row(m.service_cap, sum(u * m.x[i] for i, u in terms) <= inst.service_capacity[svc][mo])
        for svc, volume in sorted(inst.service_volume.items()):
            terms = [(i, u) for i, (t, o, _) in enumerate(self.keys) if (u := inst.profiles[(t, o)].volume(svc)) > 0]
            most: dict[str, float] = defaultdict(float)
            for i, u in terms:
                most[self.keys[i][0]] = max(most[self.keys[i][0]], u)
            if sum(most.values()) > volume:
                add_row(m.service_cap, sum(u * m.x[i] for i, u in terms) <= volume)

    def _predecessors(self) -> None:
        """B starts only after A has ended plus the lag, and only if A runs (disaggregated, one row per B start):
        for every start month tau of B: sum_{s<=tau} x[B,.,s] <= sum_{s'+d'+lag<=tau} x[A,.,s']."""
        m, inst = self.m, self.inst
        m.precedence = pyo.ConstraintList()
        for b, trial in inst.trials.items():
            b_keys = self.by_trial[b]
            for pred in trial.predecessors:
                a_keys = self.by_trial[pred.trial]
                ready = sorted(
                    (self.keys[i][2] + inst.profiles[(pred.trial, self.keys[i][1])].duration + pred.lag, i)
                    for i in a_keys
                )
                for tau in sorted({self.keys[i][2] for i in b_keys}):
                    lhs = [i for i in b_keys if self.keys[i][2] <= tau]
                    rhs = [i for r, i in ready if r <= tau]
                    add_row(m.precedence, sum(m.x[i] for i in lhs) <= sum(m.x[i] for i in rhs))

    def _yearly_labour(self) -> None:
        """Labour cost per calendar year: the budget rows price it, and a solved round reports it."""
        inst = self.inst
        self.labour = {y: self._labour_cost({mo for mo in range(inst.months) if inst.year_of[mo] == y}) for y in inst.years}

    def _labour_cost(self, months: set[int] | None = None) -> pyo.Expression:
        """Staff (priced cheapest first along each group's cost steps) and flex cost, in the given months or all."""
        m, inst = self.m, self.inst
        staff = sum(
            self.groups[g].steps[k].rate * m.step[g, k, mo] for g, k, mo in self.step_index if months is None or mo in months
        )
        flex = sum(inst.flex_rate[r] * m.flex[r, mo] for r, mo in self.flex_index if months is None or mo in months)
        return staff + flex

    def _penalties(self) -> pyo.Expression:
        """Priced shortfall."""
        return sum((self.shortfall_price or 0.0) * self.m.short[k] for k in self.short_index)

    def _fragmentation_floor(self, trial: str, option: str) -> float:
        """The fragmentation penalty every roster of the trial pays at least (see
        :meth:`models.formulation.instance.Instance.least_people`): without it the bound ignored a
        penalty every plan pays, whatever its weight."""
        return self.inst.problem.objective.weights.fragmentation * self.inst.least_people(trial, option)

    def _money(self) -> pyo.Expression:
        """External cost, tardiness and the fragmentation floor per x, labour cost and penalties."""
        m, inst = self.m, self.inst
        tard = inst.problem.objective.weights.tardiness
        per_x = [
            inst.option_cost(t, o) + tard * inst.trials[t].tardiness_penalty * inst.late(t, o, s) + self._fragmentation_floor(t, o)
            for t, o, s in self.keys
        ]
        return sum(c * m.x[i] for i, c in enumerate(per_x) if c) + self._labour_cost() + self._penalties()

    def _budget(self) -> None:
        """Spend per calendar year and in total within budget (staff priced at tier rates, a relaxation)."""
        m, inst = self.m, self.inst
        budget = inst.problem.budget
        m.budget = pyo.ConstraintList()
        if not budget.per_year and budget.total is None:
            return
        scale = self.settings.money_scale
        year_spend: dict[str, pyo.Expression] = {}
        for y in inst.years:
            if not self.spend_terms[y] and isinstance(self.labour[y], (int, float)):
                continue  # nothing can be spent that year
            ext = sum(c * m.x[i] for i, c in self.spend_terms[y].items())
            year_spend[y] = ext + m.labour_factor[y] * self.labour[y]
            if y in budget.per_year:
                add_row(m.budget, scale * year_spend[y] <= scale * (budget.per_year[y] - m.budget_held[y]))
        if budget.total is not None and year_spend:
            held = sum(m.budget_held[y] for y in inst.years)
            add_row(m.budget, scale * sum(year_spend.values()) <= scale * (budget.total - held))

    def _objective(self) -> None:
        """Minimise the objective in its minimisation form (value is maximised as its negative)."""
        m, inst = self.m, self.inst
        obj = inst.problem.objective
        money = self._money()
        n = inst.months
        if obj.kind == "value":
            gain = [
                inst.discounted_value(t, s) for t, o, s in self.keys
            ]
            net = money - sum(g * m.x[i] for i, g in enumerate(gain) if g)
            m.obj = pyo.Objective(expr=self.scale * net, sense=pyo.minimize)
        elif obj.kind == "cost":
            m.obj = pyo.Objective(expr=self.scale * money, sense=pyo.minimize)
        elif obj.kind == "makespan":
            m.makespan = pyo.Var(domain=pyo.NonNegativeReals, bounds=(0, n))
            m.span = pyo.ConstraintList()
            for t, idx in self.by_trial.items():
                ends = [(self.keys[i][2] + inst.profiles[(t, self.keys[i][1])].duration, i) for i in idx]
                add_row(m.span, m.makespan >= sum(e * m.x[i] for e, i in ends))
            m.obj = pyo.Objective(expr=m.makespan + obj.penalty_scale * money, sense=pyo.minimize)
        else:
            weights = completion_weights(inst)
            terms = []
            for t in inst.trials:
                w = weights[t]
                ends = [(self.keys[i][2] + inst.profiles[(t, self.keys[i][1])].duration, i) for i in self.by_trial[t]]
                terms.append(w * (n + 1) + sum(w * (e - n - 1) * m.x[i] for e, i in ends))
            m.obj = pyo.Objective(expr=sum(terms) + obj.penalty_scale * money, sense=pyo.minimize)

    def in_objective_sense(self, value: float | None) -> float | None:
        """A solver objective or bound in the plan's units and sense (value is maximised)."""
        if value is None:
            return None
        value /= self.scale
        return -value if self.inst.problem.objective.kind == "value" else value

    def in_solver_sense(self, value: float | None) -> float | None:
        """A plan objective as the solver sees it (minimised, scaled): the inverse of :meth:`in_objective_sense`."""
        if value is None:
            return None
        value *= self.scale
        return -value if self.inst.problem.objective.kind == "value" else value

    def start_values(self, schedule: dict[str, tuple[str, int]]) -> list[tuple[VarData, float]]:
        """Every start and choice variable as a warm start for ``schedule``; empty if a start it uses is not in this model."""
        chosen = schedule_keys(schedule)
        if not chosen <= set(self.keys):
            return []
        return self.start_values_at([float(key in chosen) for key in self.keys])

    def schedule(self) -> dict[str, tuple[str, int]]:
        return {t: (o, s) for i, (t, o, s) in enumerate(self.keys) if pyo.value(self.m.x[i]) > 0.5}


class CutPortfolioModel(PortfolioModel):
    """Stage 1 with labour as one variable per month bounded by cuts (:mod:`models.formulation.labour_cuts`).

    The trial, service, predecessor, eligibility and budget rows are the step model's;
    ``theta[m]`` replaces the cost-step, group and flex columns, Hall's condition replaces
    the ``cover`` rows, and :meth:`refine` adds a cut wherever ``theta`` underprices a
    demand point. Only for problems where uncovered demand is not allowed (no shortfall
    price): a priced shortfall would make every demand point coverable and Hall's rows moot.
    """

    name = "portfolio-cuts"

    def _staffing_variables(self) -> None:
        """One labour variable per month that can have demand, and the (growing) list of cuts."""
        m, inst = self.m, self.inst
        self.months_used = sorted({mo for (_, mo) in self.role_terms})
        m.theta = pyo.Var(self.months_used, domain=pyo.NonNegativeReals)
        m.cuts = pyo.ConstraintList()
        self.use_index, self.step_index, self.flex_index, self.short_index = [], [], [], []
        # Marginal values read the role-level LP; the cuts come from the named one where it is small.
        self.role_pricing = group_pricing(self.groups, inst.roles, self.months_used, inst.flex_max, inst.flex_rate)
        self.named = len(inst.staff) * len(inst.trials) <= self.settings.named_pricing_below
        self.keys_of = self._demand_keys(self.named)
        self.pricing = self._named_pricing(self.keys_of) if self.named else self.role_pricing

    def _demand_keys(self, named: bool) -> dict[int, dict[Hashable, tuple[list[tuple[int, float]], str | None]]]:
        """What each cut prices, per month: a role's demand (role-level LP), or each trial's
        demand for a role and each role's held FTE (named LP); with the starts that make it up."""
        keys_of: dict[int, dict[Hashable, tuple[list[tuple[int, float]], str | None]]] = defaultdict(dict)
        for (r, mo), terms in self.role_terms.items():
            if not named:
                keys_of[mo][r] = (terms, r)
                continue
            by_trial: dict[str, list[tuple[int, float]]] = defaultdict(list)
            for i, v in terms:
                by_trial[self.keys[i][0]].append((i, v))
            for t, trial_terms in by_trial.items():
                keys_of[mo][(t, r)] = (trial_terms, None)
            keys_of[mo][("", r)] = ([], r)
        return keys_of

    def _named_pricing(self, keys_of: Mapping[int, Mapping[Hashable, object]]) -> LabourPricing:
        """Each month's LP over named people: eligibility and availability priced exactly."""
        inst = self.inst
        people = list(inst.staff)
        index = {p: k for k, p in enumerate(people)}
        price = UNCOVERED_PRICE_FACTOR * max([inst.rate(p) for p in people] + list(inst.flex_rate.values()) + [1.0])
        months = {}
        for mo in self.months_used:
            capacity = [(inst.staff[p].fte if inst.available[p][mo] else 0.0, inst.rate(p)) for p in people]
            keys = []
            for key in keys_of[mo]:
                t, r = key  # type: ignore[misc]
                eligible = [p for p in people if r in inst.staff_roles[p]] if t == "" else inst.eligible(t, r)
                keys.append((key, r, [index[p] for p in eligible if capacity[index[p]][0] > 0]))
            months[mo] = NamedMonthLabour(capacity, keys, inst.flex_max, inst.flex_rate, price)
        return LabourPricing(months)

    def named_cuts(self) -> Callable[[Sequence[float], Mapping[int, float]], list[tuple[list[tuple[float, VarData]], float]]]:
        """Cuts from each month's LP over named people, for a copy of this model searched on
        elsewhere (:mod:`models.solver.bound_search`); this model is left as it is. The returned
        function takes the starts ``x`` and ``theta`` of a solution of the copy and gives
        ``(terms, lower)`` for every month whose named price is above that ``theta``: rows
        ``sum terms >= lower`` over this model's variables. It builds its month LPs on its
        first call, so that work happens on the caller's thread. Held FTE is read now."""
        keys_of = self._demand_keys(True)
        held = {key: var.lb for key, var in self.m.held.items()}
        pricing: list[LabourPricing] = []

        def cuts(x: Sequence[float], theta: Mapping[int, float]) -> list[tuple[list[tuple[float, VarData]], float]]:
            if not pricing:
                pricing.append(self._named_pricing(keys_of))
            demand = self._demand_at(keys_of, x, lambda r, mo: held[(r, mo)])
            rows = []
            for mo, price in pricing[0].price(demand).items():
                if price is not None and price.cost > theta.get(mo, 0.0) + max(CUT_TOLERANCE, 1e-7 * price.cost):
                    rows.append(self._cut(mo, price, demand[mo], keys_of[mo]))
            return rows

        return cuts

    def _staffing_constraints(self) -> None:
        self._build(self._coverable, self._eligible_capacity, self._concurrency_slots)

    def _coverable(self) -> None:
        """Hall's condition per month, for every linked set S of roles within one component:
        sum_{r in S} (demand[r,m] + held[r,m]) <= sum_{g serving S} cap[g,m] + sum_{r in S} flexmax[r].

        A set that splits into parts no group serves together is the sum of its parts' rows,
        so only sets linked through the groups need one (at 10x the reference, the rows hold
        two million terms). A row is stated only once it can bind (see :meth:`_state_hall_rows`)."""
        m, inst = self.m, self.inst
        m.coverable = pyo.ConstraintList()
        self.hall: list[_HallRow] = []
        components = role_components((g.roles for g in self.groups), inst.roles)
        for mo in self.months_used:
            for component in components:
                for size in range(1, len(component) + 1):
                    for roles in itertools.combinations(component, size):
                        if not linked(roles, self.groups):
                            continue
                        per_start: dict[int, float] = defaultdict(float)  # a start enters once per role of S it demands
                        for r in roles:
                            for i, v in self.role_terms.get((r, mo), []):
                                per_start[i] += v
                        if not per_start:
                            continue
                        serving = sum(g.capacity(mo) for g in self.groups if set(g.roles) & set(roles))
                        most: dict[str, float] = defaultdict(float)
                        for i, v in per_start.items():
                            most[self.keys[i][0]] = max(most[self.keys[i][0]], v)
                        self.hall.append(
                            _HallRow(
                                month=mo,
                                held=[r for r in roles if (r, mo) in self.role_terms],
                                terms=list(per_start.items()),
                                capacity=serving + sum(inst.flex_max.get(r, 0.0) for r in roles),
                                most=sum(most.values()),
                            )
                        )
        self._state_hall_rows()

    def apply(self, reserve: Reserve) -> None:
        """Set the reserve, then state the Hall rows its held FTE lets bind (the first call
        comes from the constructor, before the Hall rows exist)."""
        super().apply(reserve)
        if hasattr(self.m, "coverable"):
            self._state_hall_rows()

    def _state_hall_rows(self) -> None:
        """State each Hall row that the held FTE now lets bind. One whose demand, at each
        trial's largest start (a trial has one start), plus the FTE held back cannot exceed
        its capacity holds for every schedule and every LP point, since each trial's starts
        sum to at most one: it would only slow every LP (on the reference 331 of 715 rows
        are such, and HiGHS proved round 0's optimum in 9-11 s instead of 12-14 s). Rows
        are stated, never withdrawn: a repair round that holds FTE back adds the ones it needs."""
        m = self.m
        for row in self.hall:
            if row.stated:
                continue
            held = sum(m.held[r, row.month].ub for r in row.held)
            if row.most + held <= row.capacity * (1 - 1e-9):
                continue
            row.stated = True
            add_row(m.coverable, linear([(v, m.x[i]) for i, v in row.terms] + [(1.0, m.held[r, row.month]) for r in row.held]) <= row.capacity)

    def _labour_cost(self, months: set[int] | None = None) -> pyo.Expression:
        return sum(self.m.theta[mo] for mo in self.months_used if months is None or mo in months)

    def demand(self, x: Sequence[float]) -> dict[int, dict[Hashable, float]]:
        """Demand per month and key (held FTE included) at the values ``x`` of the start variables."""
        return self._demand_at(self.keys_of, x, lambda r, mo: self.m.held[r, mo].lb)

    @staticmethod
    def _demand_at(
        keys_of: Mapping[int, Mapping[Hashable, tuple[list[tuple[int, float]], str | None]]],
        x: Sequence[float],
        held: Callable[[str, int], float],
    ) -> dict[int, dict[Hashable, float]]:
        out: dict[int, dict[Hashable, float]] = defaultdict(dict)
        for mo, keys in keys_of.items():
            for key, (terms, role) in keys.items():
                out[mo][key] = sum(v * x[i] for i, v in terms) + (held(role, mo) if role else 0.0)
        return out

    def refine(self, x: Sequence[float], stop: StopFlag = never) -> dict[int, float]:
        """Price labour exactly at ``x``; add the cut of every month ``theta`` underprices there.
        Returns each month's exact labour cost (a month that cannot be covered is left out,
        and so are the months not priced once ``stop()`` is true: each cut stays valid alone)."""
        m = self.m
        demand = self.demand(x)
        exact: dict[int, float] = {}
        for mo, price in self.pricing.price(demand, stop).items():
            if price is None:
                continue
            exact[mo] = price.cost
            if price.cost <= pyo.value(m.theta[mo]) + max(CUT_TOLERANCE, 1e-7 * price.cost):
                continue
            terms, lower = self._cut(mo, price, demand[mo], self.keys_of[mo])
            add_row(m.cuts, linear(terms) >= lower)
        return exact

    def _cut(
        self,
        mo: int,
        price: Price,
        demand: Mapping[Hashable, float],
        keys: Mapping[Hashable, tuple[list[tuple[int, float]], str | None]],
    ) -> tuple[list[tuple[float, VarData]], float]:
        """The supporting plane of month ``mo``'s labour cost at ``demand``, scaled like money:
        theta[m] >= V_m(D0) + sum_k pi_k (demand_k(x) + held_k - D0_k)."""
        m = self.m
        scale = self.settings.money_scale
        terms: list[tuple[float, VarData]] = [(scale, m.theta[mo])]
        rhs = price.cost
        for key, pi in price.marginal.items():
            if pi <= 0 or key not in keys:
                continue
            starts, held = keys[key]
            terms.extend((-scale * pi * v, m.x[i]) for i, v in starts)
            if held:
                terms.append((-scale * pi, m.held[held, mo]))
            rhs -= pi * demand[key]
        return terms, scale * rhs

    def prime(self, settings: EngineSettings, solver: PersistentHighs, deadline: float, watch: Watch | None = None) -> list[SolveOutcome]:
        """Kelley's loop on the LP relaxation: solve, cut where theta underprices, repeat
        until the LP prices labour exactly, so the MIP starts from an exact LP bound.
        Returns the LP runs (their HiGHS time is the stage's too).

        A stop asked through the ``watch`` ends the loop between LPs and between the months
        priced, and interrupts a running LP: at 5x the reference the loop took 6 s, the
        first pricing alone 1.6 s. The LPs report no progress (their values are no plan's)."""
        m = self.m
        runs: list[SolveOutcome] = []
        stop = stop_flag(watch)
        lp_watch = None if watch is None else Watch(watch.monitor, watch.stage, report=False)
        self.set_integral(False)
        try:
            for _ in range(settings.cut_rounds_lp):
                left = deadline - time.perf_counter()
                if left <= 0 or stop():
                    break
                outcome = solve(m, settings, left, 0.0, lp_watch, solver=solver)
                runs.append(outcome)
                if not outcome.has_solution or stop():
                    break
                before = len(m.cuts)
                self.refine([pyo.value(m.x[i]) for i in range(len(self.keys))], stop)
                if len(m.cuts) == before:
                    break
        finally:
            self.set_integral(True)
        return runs

    def exact_point(self, x: Sequence[float]) -> tuple[float, bool, dict[str, float]] | None:
        """Objective (solver sense), whether every budget row holds, and labour per year, with
        ``theta`` set to the exact labour cost at ``x`` (None if some month cannot be covered)."""
        m = self.m
        exact = self.refine(x)
        if len(exact) < len(self.months_used):
            return None
        for i, v in enumerate(x):
            m.x[i].set_value(v, skip_validation=True)
        for mo, cost in exact.items():
            m.theta[mo].set_value(cost, skip_validation=True)
        holds = all(
            (row.upper is None or pyo.value(row.body) <= pyo.value(row.upper) + BUDGET_TOLERANCE * max(1.0, abs(pyo.value(row.upper))))
            for row in m.budget.values()
        )
        labour = {y: pyo.value(expr) for y, expr in self.labour.items()}
        return pyo.value(m.obj), holds, labour

    @staticmethod
    def applies(inst: Instance, settings: EngineSettings) -> bool:
        """Whether stage 1 prices labour by cuts here: asked for, exact curve, no shortfall
        price, and Hall's rows few enough (every role set links at most ``MAX_LINKED_ROLES``)."""
        if not settings.labour_cuts or settings.cost_tiers is not None or inst.problem.objective.weights.shortfall is not None:
            return False
        components = role_components(inst.staff_roles.values(), inst.roles)
        return max((len(c) for c in components), default=0) <= MAX_LINKED_ROLES

    def marginal_values(self, schedule: dict[str, tuple[str, int]]) -> dict[tuple[str, int], float]:
        """The duals of each month's labour LP at the schedule's demand: what the last FTE-month costs."""
        self.apply(Reserve())
        chosen = schedule_keys(schedule)
        x = [float(key in chosen) for key in self.keys]
        demand: dict[int, dict[str, float]] = defaultdict(dict)
        for (r, mo), terms in self.role_terms.items():
            demand[mo][r] = sum(v * x[i] for i, v in terms)
        values: dict[tuple[str, int], float] = {}
        for mo, price in self.role_pricing.price(demand).items():
            if price is None:
                continue
            for r, v in price.marginal.items():
                if (r, mo) in self.role_terms:
                    # No demand, nothing to save (the LP's dual there is any rate up to the cheapest person's).
                    values[(r, mo)] = round(v, 2) if demand[mo][r] > self.settings.tolerance else 0.0
        return values

def completion_weights(inst: Instance) -> dict[str, float]:
    """Trial values as completion weights; all 1 when no trial has a value."""
    if all(t.value == 0 for t in inst.trials.values()):
        return {t: 1.0 for t in inst.trials}
    return {t: trial.value for t, trial in inst.trials.items()}


def solve_portfolio(
    inst: Instance,
    settings: EngineSettings,
    time_limit: float,
    reserve: Reserve,
    watch: Watch | None = None,
    warm: dict[str, tuple[str, int]] | None = None,
    beat: float | None = None,
    previous: PortfolioResult | None = None,
    late: Callable[[], tuple[dict[str, tuple[str, int]], float] | None] | None = None,
    settle: bool = False,
    nodes: int | None = None,
) -> PortfolioResult:
    """Solve stage 1, from the ``warm`` schedule if given; the bound is returned in the objective's own sense and currency.

    ``beat`` is the objective of a plan already in hand (plan units and sense): stage 1
    prices labour no dearer than any roster, so a schedule whose stage-1 objective does not
    beat it cannot become a better plan, and HiGHS is told to prune it. With a
    ``previous`` run that kept its model loaded, that model gets the new reserve and is
    re-solved persistently instead of being built and handed over again. ``late`` returns a
    schedule still being worked out when HiGHS starts and its plan's objective (None
    until it is ready): HiGHS is handed it as a solution at the first point it takes one
    after that, unless it has a solution at least as good by then. With ``settle``
    (a repair round that is no relaxation) the cut model stops at its first schedule that
    beats ``beat`` and keeps every budget at exact labour prices (see :func:`_solve_with_cuts`).
    ``nodes`` caps each HiGHS run's branch-and-bound nodes (reproducible mode).
    A stop asked through the ``watch`` while the model is built abandons it: no solution
    and nothing proven (the caller sees the stop on its monitor).
    """
    began = time.perf_counter()
    if previous is not None and previous.model is not None and previous.solver is not None:
        model, solver = previous.model, previous.solver
        model.apply(reserve)
    else:
        kind = CutPortfolioModel if CutPortfolioModel.applies(inst, settings) else PortfolioModel
        try:
            model = kind(inst, settings, reserve, tiers=settings.cost_tiers, stop=stop_flag(watch))
        except TriviallyInfeasible:
            return PortfolioResult(outcome=PROVEN_INFEASIBLE, schedule={}, bound=None)
        except StopRequested:
            return PortfolioResult(outcome=replace(STOPPED, build_seconds=time.perf_counter() - began), schedule={}, bound=None)
        solver = PersistentHighs()
    gap = settings.mip_gap
    if inst.problem.objective.kind == "makespan":
        gap = min(gap, 0.9 / inst.months)  # a relative gap must not hide a whole month
    built = time.perf_counter() - began
    if watch is not None:
        watch.units = model.in_objective_sense
        if warm:
            watch.start = model.start_values(warm)
        if late is not None:
            watch.late_start = lambda: None if (got := late()) is None else (model.start_values(got[0]), model.in_solver_sense(got[1]))
    cutoff = model.in_solver_sense(beat)
    if isinstance(model, CutPortfolioModel):
        outcome, schedule, labour = _solve_with_cuts(model, solver, settings, began + time_limit, gap, watch, cutoff, settle, nodes)
        outcome = replace(outcome, build_seconds=built, seconds=time.perf_counter() - began - built)
    else:
        outcome = replace(solve(model.m, settings, max(0.1, time_limit - built), gap, watch, cutoff, solver, nodes=nodes), build_seconds=built)
        if outcome.has_solution:
            schedule, labour = model.schedule(), {y: pyo.value(expr) for y, expr in model.labour.items()}
    bound = model.in_objective_sense(outcome.bound)
    if not outcome.has_solution:
        return PortfolioResult(outcome=outcome, schedule={}, bound=bound)
    return PortfolioResult(outcome=outcome, schedule=schedule, bound=bound, labour=labour, model=model, solver=solver)


@dataclass
class _HallRow:
    """One Hall row of the cut model: its month, roles with held FTE, terms (start index,
    its FTE summed over the row's roles), capacity, and the most its starts can demand
    (each trial at its largest start)."""

    month: int
    held: list[str]
    terms: list[tuple[int, float]]
    capacity: float
    most: float
    stated: bool = False


@dataclass
class _Candidate:
    """A master solution priced exactly: its objective (solver sense), whether the budgets hold."""

    objective: float
    holds: bool
    labour: dict[str, float]
    schedule: dict[str, tuple[str, int]]
    x: list[float]

    def beats(self, other: "_Candidate | None") -> bool:
        return other is None or (self.holds, -self.objective) > (other.holds, -other.objective)

    def within(self, bound: float | None, gap: float) -> bool:
        """Valid and within ``gap`` of ``bound`` (up to float noise, so that a gap of 0 can be met)."""
        found = relative_gap(self.objective, bound)
        return self.holds and found is not None and found <= gap + 1e-9


def _solve_with_cuts(
    model: CutPortfolioModel,
    solver: PersistentHighs,
    settings: EngineSettings,
    deadline: float,
    gap: float,
    watch: Watch | None,
    cutoff: float | None,
    settle: bool = False,
    nodes: int | None = None,
) -> tuple[SolveOutcome, dict[str, tuple[str, int]], dict[str, float]]:
    """Solve the cut model to ``gap``: MIP, price its schedule exactly, cut, re-solve.

    Every run's bound is valid (cuts only underprice labour), so the tightest is kept. A
    schedule priced exactly is a candidate; the best one whose budgets hold at exact prices
    wins (one that breaks them only if none holds: staffing and shedding deal with it, as
    with any schedule). The loop ends when a run's incumbent needs no new cut (the model
    priced it exactly), when the best candidate is within ``gap`` of the bound, or when
    time runs out; the next run starts from the best candidate. With ``settle`` it also
    ends at the first candidate that keeps every budget and beats the ``cutoff``: a repair
    round's bound is not reported (its reserve is no relaxation), so once it has a schedule
    worth staffing, more runs only tighten a bound nobody reads (on the reference the
    second run of a repair round took 4-12 s and never found a better schedule).
    """
    runs: list[SolveOutcome] = []
    if len(model.m.cuts) == 0:
        # Reproducible mode bounds the loop by its LP count alone; the clock only guards the deadline.
        share = 1.0 if settings.reproducible else settings.cut_prime_share
        runs += model.prime(settings, solver, time.perf_counter() + share * (deadline - time.perf_counter()), watch)
    lp_runs = len(runs)
    best: _Candidate | None = None
    bound: float | None = None
    pricing = 0.0  # how long pricing a run's schedule took (the longest so far): HiGHS leaves room for it
    out_of_time = False
    for _ in range(settings.cut_rounds):
        left = deadline - time.perf_counter() - pricing
        out_of_time = left <= 0.05
        if out_of_time or (watch is not None and (watch.monitor.stopped() or watch.enough())):
            break
        if watch is not None and best is not None:
            watch.start = model.start_values_at(best.x)
        outcome = solve(model.m, settings, left, gap, watch, cutoff, solver, presolve=settings.repair_presolve or not settle, nodes=nodes)
        runs.append(outcome)
        if outcome.bound is not None:
            bound = outcome.bound if bound is None else max(bound, outcome.bound)
        if not outcome.has_solution:
            break
        x = [round(pyo.value(model.m.x[i])) for i in range(len(model.keys))]
        schedule = model.schedule()
        cuts = len(model.m.cuts)
        priced = time.perf_counter()
        point = model.exact_point(x)
        pricing = max(pricing, time.perf_counter() - priced)
        if point is not None:
            candidate = _Candidate(point[0], point[1], point[2], schedule, [float(v) for v in x])
            if candidate.beats(best):
                best = candidate
        if len(model.m.cuts) == cuts:
            break  # priced exactly: running again would give the same schedule
        if best is not None and (best.within(bound, gap) or (settle and best.holds and (cutoff is None or best.objective < cutoff))):
            break
    # No MIP run at all (the time went into the LP) proves nothing about feasibility.
    last = runs[-1] if len(runs) > lp_runs else SolveOutcome(False, False, False, None, None, 0.0, len(model.keys), 0)
    timed = out_of_time or any(r.time_limited for r in runs)
    if best is None:
        return replace(last, has_solution=False, solver_seconds=sum(r.solver_seconds for r in runs), time_limited=timed, nodes=sum(r.nodes for r in runs)), {}, {}
    proven = best.within(bound, gap)
    outcome = replace(
        last,
        has_solution=True,
        proven_optimal=proven,
        objective=best.objective,
        bound=bound,
        solver_seconds=sum(r.solver_seconds for r in runs),
        time_limited=timed,
        nodes=sum(r.nodes for r in runs),
    )
    return outcome, best.schedule, best.labour


@contextmanager
def starts_fixed(model: PortfolioModel, chosen: frozenset[Key]) -> Iterator[None]:
    """Every start held to ``chosen`` (1 for its keys, 0 for the rest) while the body runs.
    Bounds, not fix(): Pyomo would re-write every row holding a fixed variable, while a
    bound change reaches HiGHS as a column update."""
    for i, key in enumerate(model.keys):
        model.m.x[i].setlb(float(key in chosen))
        model.m.x[i].setub(float(key in chosen))
    try:
        yield
    finally:
        for x in model.m.x.values():
            x.setlb(None)
            x.setub(None)


def marginal_values(
    result: PortfolioResult, schedule: dict[str, tuple[str, int]], settings: EngineSettings, time_limit: float
) -> tuple[dict[tuple[str, int], float], SolveOutcome | None]:
    """What one more FTE of a role in a month would save, with ``schedule`` held fixed.

    Stage 1 is re-solved persistently as an LP: every start fixed to the schedule, only
    labour (the groups' cost steps, flex, shortfall) free. The dual of a role-month's
    coverage row is then what its last FTE-month costs at the margin: the rate of the
    dearest cost step or flex in use, plus what it costs against a binding budget. That
    is what one more FTE of free capacity would save; a planner sets it against what an
    extra person costs. A role with people to spare still has a positive value (the next FTE
    replaces the dearest person in use); zero where the role has no demand. Empty when the model cannot tell
    (no stage-1 model, a schedule outside it, money not in the objective, LP not solved).
    """
    model, solver = result.model, result.solver
    if model is None or solver is None:
        return {}, None
    chosen = schedule_keys(schedule)
    if isinstance(model, CutPortfolioModel):
        if not chosen <= set(model.keys):
            return {}, None
        began = time.perf_counter()
        values = model.marginal_values(schedule)
        return values, SolveOutcome(True, True, False, None, None, time.perf_counter() - began, len(model.keys), 0)
    model.apply(Reserve())
    money_unit = model.scale if model.inst.problem.objective.kind in ("value", "cost") else model.inst.problem.objective.penalty_scale
    if not chosen <= set(model.keys) or money_unit <= 0:
        return {}, None
    rows = {key: model.m.cover[key] for key in model.m.cover}
    model.set_integral(False)
    try:
        with starts_fixed(model, chosen):
            outcome = solve(model.m, settings, time_limit, 0.0, solver=solver, duals=list(rows.values()))
    finally:
        model.set_integral(True)
    # In currency, to the cent: LP duals carry float noise a planner should not see.
    return {key: round(max(0.0, -outcome.duals[row] / money_unit), 2) for key, row in rows.items() if row in outcome.duals}, outcome


def exact_lp_bound(inst: Instance, settings: EngineSettings, time_limit: float) -> tuple[float | None, SolveOutcome]:
    """The LP relaxation of stage 1 with labour priced exactly cheapest first.

    The MIP prices labour on a coarse curve to stay quick, which loosens its bound; this
    LP prices every rate and is often the tighter of the two. Both bound every plan.
    """
    began = time.perf_counter()
    try:
        model = PortfolioModel(inst, settings, Reserve(), tiers=None, relax=True)
    except TriviallyInfeasible:
        return None, PROVEN_INFEASIBLE
    built = time.perf_counter() - began
    outcome = replace(solve(model.m, settings, max(0.1, time_limit - built), 0.0), build_seconds=built)
    if not outcome.proven_optimal:
        return None, outcome
    return model.in_objective_sense(outcome.objective), outcome


def fewest_changes(
    result: PortfolioResult,
    previous: Mapping[str, tuple[str, int] | None],
    target: float,
    warm: dict[str, tuple[str, int]],
    warm_objective: float,
    settings: EngineSettings,
    time_limit: float,
    monitor: Monitor,
) -> tuple[dict[str, tuple[str, int]] | None, SolveOutcome | None]:
    """The schedule that changes fewest trials of ``previous`` among those that may make a
    plan no worse than ``target`` (plan units and sense): a re-plan's second, lexicographic
    stage (:mod:`models.pipeline.replan`).

    ``previous`` maps each trial the previous plan listed to its (option, start), or None
    where it did not run; a trial not listed is new and its decision is no change. A trial
    changes when it stops running, starts running, or runs another option or start:

        minimise  sum_{t ran} (1 - x[t, o_t, s_t]) + sum_{t did not} sum_{o,s} x[t, o, s]
                  + eps * objective
        s.t.      objective <= target + optimism (solver sense), and every row of stage 1

    with ``eps`` small enough that the objective only breaks ties between equally many
    changes (it moves by less than one change between the bound and the target). Stage 1
    prices labour no dearer than any roster, so its objective is optimistic; the
    ``optimism`` is measured on ``warm``, the best plan's schedule (stage 1 solved with its
    starts fixed, against that plan's ``warm_objective``, plan units and sense), so that a
    schedule meets the row when its plan, staffed as well as the best one, would meet the
    target. Both runs are on a HiGHS of its
    own (round 0's may be busy with the bound search on the other core), ``warm`` handed to
    the second as a solution; the model is left as it was. None where no schedule was found
    in ``time_limit``.
    """
    model = result.model
    if model is None:
        return None, None
    began = time.perf_counter()
    m = model.m
    index = {key: i for i, key in enumerate(model.keys)}
    changes: list[tuple[float, VarData]] = []
    constant = 0.0
    for trial, before in previous.items():
        if trial not in model.by_trial:
            continue
        if before is None:
            changes += [(1.0, m.x[i]) for i in model.by_trial[trial]]
        elif (i := index.get((trial, *before))) is not None:
            constant += 1.0
            changes.append((-1.0, m.x[i]))
    start = model.start_values(warm)
    cap = model.in_solver_sense(target)
    if cap is None or not changes or not start:
        return None, None
    solver = PersistentHighs()
    optimism = _optimism(model, warm, warm_objective, solver, settings, time_limit / 3)
    cap += optimism
    span = max(1.0, abs(cap), abs(model.in_solver_sense(result.bound) or 0.0))
    m.obj.deactivate()
    m.fewest = pyo.Objective(expr=constant + linear(changes) + (0.4 / span) * m.obj.expr, sense=pyo.minimize)
    m.target = pyo.Constraint(expr=m.obj.expr <= cap)
    try:
        # Handed over as a user solution once HiGHS asks, not set before it starts: with
        # presolve on, HiGHS 1.16 gave back a solution set that way in place of the optimum
        # it reported (measured on data/example-small.json).
        watch = Watch(monitor, "fewest-changes", report=False, late_start=lambda: (start, None))
        outcome = solve(m, settings, max(0.1, began + time_limit - time.perf_counter()), 0.0, watch, solver=solver)
        schedule = model.schedule() if outcome.has_solution else None
    finally:
        m.del_component(m.fewest)
        m.del_component(m.target)
        m.obj.activate()
    return schedule, outcome


def _optimism(
    model: PortfolioModel,
    schedule: dict[str, tuple[str, int]],
    objective: float,
    solver: PersistentHighs,
    settings: EngineSettings,
    time_limit: float,
) -> float:
    """How much better stage 1 scores ``schedule`` than its plan's ``objective`` (solver
    sense, <= 0; 0 where it could not tell): stage 1 with the starts fixed, labour free."""
    with starts_fixed(model, schedule_keys(schedule)):
        outcome = solve(model.m, settings, time_limit, 0.0, solver=solver)
    actual = model.in_solver_sense(objective)
    if not outcome.has_solution or outcome.objective is None or actual is None:
        return 0.0
    return min(0.0, outcome.objective - actual)

"""Independent explanation checker: every fact an explanation rests on, recomputed from the
problem and the plan.

Written, like :mod:`models.contract.check`, apart from the engine: from the docstring of
:class:`~models.contract.plan.Fact` (the contract) and the rules of
:mod:`models.contract.problem`, never from the explainer. An explanation that names a
trial is recomputed fact by fact from the problem (read as :func:`models.contract.stops.effective`
reads a stop) and the plan's own tables: its trials, assignments, role-months (flex),
service-months (used, capacity) and budget lines (spend). Nothing else a plan reports is
trusted or needed.

Rule codes (``Violation.rule``)
    ``explanation_trial``: the explanation names a trial the problem does not have, or one
    the plan runs on time (an explanation says why a trial is left out or late);
    ``fact_<kind>`` (``fact_roles_short``, ``fact_fits``, ...): a fact that does not hold,
    names what it needs badly (no option or start, an unknown role), does not fit the
    trial's fate (a left-out fact for a trial the plan runs, ``late_unavoidable`` for one it
    does not run late), or whose ``amount`` is not the recomputed one.

Tolerances: a quantity claim (FTE, units) holds unless it is off by more than ``1e-6``, a
money claim unless off by more than a cent; an ``amount`` matches when within ``1e-6``
relative or ``1e-3`` absolute (a cent for money), as reports do in :mod:`models.contract.check`.
A claim within the tolerance of its boundary (an excess of 0, a gain of 0) is accepted
both ways: the checker refutes only what is clearly wrong.

Readings fixed here where the contract leaves room:

* The *window* is ``earliest_start .. latest_start`` (from the horizon start, to the last
  start that still ends inside the horizon); pins and ``frozen_until`` are not part of it.
* ``no_start`` and the starts ``not_worth`` ranges over are bounded by the predecessors that
  run; a predecessor the plan leaves out has no end to be after (``predecessor_not_run``
  states that case, and ``fits`` treats it as binding).
* A rule *binds* at a start when: a predecessor does not run; the start is outside the
  window or the horizon or before a running predecessor's end plus lag; the objective is
  ``cost``/``makespan`` and the trial is optional and not forced; in some month some set of
  roles is short (the largest excess over all sets, by max-flow, is above ``1e-6``); some
  service is over its room in some month; some budgeted year, or the total, is exceeded by
  more than a cent.
* Where neither unused flex nor anyone able to serve with spare FTE is left for a
  role-month, its demand adds nothing to the *least cost* (no rate is left to price it at;
  0 keeps the least cost a lower bound).
* The trial's own assignments are given back (and left out of its people's distinct trials)
  whether or not it runs: a plan that assigns a trial it does not run is already invalid
  (``check_plan``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from models.contract.check import (
    MONEY_ABS_TOL,
    REPORT_ABS_TOL,
    Violation,
    _close,
    cost_per_fte,
    forced_trials,
)
from models.contract.plan import Fact, Plan, TrialPlan
from models.contract.problem import (
    ExecutionOption,
    Predecessor,
    Problem,
    Staff,
    Stage,
    Trial,
    is_month,
)
from models.contract.stops import effective

#: FTE or units a claim may be off by and still hold (plans write quantities to a millionth).
QUANTITY_TOL = 1e-6
#: Kinds that explain why a trial is left out: the plan must not run it.
LEFT_OUT_KINDS = frozenset({"predecessor_not_run", "no_start", "objective_rule", "not_worth", "may_pay"})
#: Residual capacity below which the max-flow treats an edge as full.
_FLOW_EPS = 1e-12


class _Refuted(Exception):
    """A fact does not hold; the message says what was recomputed against what was claimed."""


@dataclass(frozen=True)
class _Run:
    """A trial the plan runs: its option, start index and the stage in force at each offset."""

    option: ExecutionOption
    start: int
    stages: tuple[Stage, ...]

    @property
    def end(self) -> int:
        return self.start + len(self.stages) - 1


def _laid(option: ExecutionOption) -> tuple[Stage, ...]:
    """The option's stages month by month from its start."""
    return tuple(stage for stage in option.stages for _ in range(stage.months))


def _option_spend(option: ExecutionOption, start: int, unit_cost: dict[str, float]) -> dict[int, float]:
    """Spend by month index of everything but staff and flex: service units at their price in
    their month; the fixed cost and ``service_totals`` spread evenly over the active months
    (the start month alone for an option without months), as :mod:`models.contract.check` spends them."""
    stages = _laid(option)
    months = max(1, len(stages))
    spread = option.fixed_cost + sum(units * unit_cost.get(s, 0.0) for s, units in option.service_totals.items())
    spend = {start + offset: spread / months for offset in range(months)}
    for offset, stage in enumerate(stages):
        spend[start + offset] += sum(units * unit_cost.get(s, 0.0) for s, units in stage.services.items())
    return spend


def _max_flow(capacity: list[list[float]], source: int, sink: int) -> float:
    """Largest flow from ``source`` to ``sink`` (Edmonds-Karp on a small dense graph)."""
    size = len(capacity)
    residual = [row[:] for row in capacity]
    total = 0.0
    while True:
        parent = [-1] * size
        parent[source] = source
        queue = [source]
        for node in queue:
            for nxt in range(size):
                if parent[nxt] < 0 and residual[node][nxt] > _FLOW_EPS:
                    parent[nxt] = node
                    queue.append(nxt)
        if parent[sink] < 0:
            return total
        push, node = float("inf"), sink
        while node != source:
            push, node = min(push, residual[parent[node]][node]), parent[node]
        node = sink
        while node != source:
            residual[parent[node]][node] -= push
            residual[node][parent[node]] += push
            node = parent[node]
        total += push


def _deficiency(demand: dict[str, float], flex: dict[str, float], pools: dict[frozenset[str], float]) -> float:
    """The largest excess, over every set of roles, of their demand together over the spare
    FTE of the people able to serve any of them plus their unused flex: total demand less
    the most of it those people and the flex can cover (max-flow min-cut)."""
    roles = [role for role, fte in demand.items() if fte > 0]
    groups = [(group, fte) for group, fte in pools.items() if fte > 0 and group & set(roles)]
    size = len(roles) + len(groups) + 2
    source, sink = 0, size - 1
    capacity = [[0.0] * size for _ in range(size)]
    for i, role in enumerate(roles, start=1):
        capacity[source][i] = demand[role]
        capacity[i][sink] = flex.get(role, 0.0)
        for j, (group, _) in enumerate(groups, start=len(roles) + 1):
            if role in group:
                capacity[i][j] = float("inf")
    for j, (_, fte) in enumerate(groups, start=len(roles) + 1):
        capacity[j][sink] = fte
    return sum(demand[role] for role in roles) - _max_flow(capacity, source, sink)


class _Tables:
    """The plan's decisions and tables, indexed once for every explanation."""

    def __init__(self, problem: Problem, plan: Plan) -> None:
        self.problem = problem
        self.horizon = problem.horizon.months
        self.trials: dict[str, Trial] = {t.id: t for t in problem.trials}
        self.staff: dict[str, Staff] = {s.id: s for s in problem.staff}
        self.unit_cost = {s.id: s.unit_cost for s in problem.services}
        self.flex_rate = {f.role: f.monthly_rate for f in problem.flex}
        self.flex_max = {f.role: f.max_fte for f in problem.flex}
        self.forced = forced_trials(problem)
        self.entries: dict[str, TrialPlan] = {}
        for entry in plan.trials:
            self.entries.setdefault(entry.id, entry)
        self.runs = {tid: run for tid, entry in self.entries.items() if (run := self._run(entry)) is not None}
        self.work: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.named: dict[tuple[str, str, int], float] = defaultdict(float)
        self.staff_spend: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self._read_assignments(plan)
        self.flex = {(rm.role, problem.index(rm.month)): rm.flex for rm in reversed(plan.role_months) if is_month(rm.month)}
        self.service_room = {(sm.service, problem.index(sm.month)): sm.capacity - sm.used
                             for sm in reversed(plan.service_months) if is_month(sm.month)}
        self.year_spend = {line.year: line.spend for line in reversed(plan.budget.per_year)}
        self.total_spend = plan.budget.total

    def _run(self, entry: TrialPlan) -> _Run | None:
        trial = self.trials.get(entry.id)
        if not entry.run or trial is None or entry.start is None or not is_month(entry.start):
            return None
        option = next((o for o in trial.options if o.id == entry.option), None)
        return None if option is None else _Run(option, self.problem.index(entry.start), _laid(option))

    def _read_assignments(self, plan: Plan) -> None:
        """Each person's FTE per month and trial, named FTE per trial, role and active month, and
        each trial's staff spend by month; horizon months only, as the plan checker counts them."""
        for block in plan.assignments:
            person = self.staff.get(block.staff)
            if person is None or not is_month(block.start) or not is_month(block.end):
                continue
            run = self.runs.get(block.trial)
            first, last = max(0, self.problem.index(block.start)), min(self.horizon - 1, self.problem.index(block.end))
            for month in range(first, last + 1):
                self.work[(person.id, month)][block.trial] += block.fte
                self.staff_spend[block.trial][month] += cost_per_fte(person) * block.fte
                if run is not None and run.start <= month <= run.end:
                    self.named[(block.trial, block.role, month)] += block.fte

    def demand(self, trial: str, role: str, month: int) -> float:
        run = self.runs.get(trial)
        if run is None or not run.start <= month <= run.end:
            return 0.0
        return run.stages[month - run.start].demand.get(role, 0.0)

    def left_after_named(self, trial: str, role: str, month: int) -> float:
        demand = self.demand(trial, role, month)
        return demand - min(demand, self.named.get((trial, role, month), 0.0))

    def flex_share(self, trial: str, role: str, month: int) -> float:
        """The trial's share of the role-month's flex: pro rata to the demand each running trial
        has left there after its named staff."""
        flex = self.flex.get((role, month), 0.0)
        own = self.left_after_named(trial, role, month)
        if flex <= 0 or own <= 0:
            return 0.0
        total = sum(self.left_after_named(other, role, month) for other in self.runs)
        return flex * own / total

    def label(self, month: int) -> str:
        return self.problem.month(month)


class _Free:
    """What the plan leaves free for one trial, its own work, units, flex and spend given
    back, and what that trial would need and cost at any option and start."""

    def __init__(self, tables: _Tables, trial: Trial) -> None:
        self.t = tables
        self.problem = tables.problem
        self.trial = trial
        self.run = tables.runs.get(trial.id)
        self.able = {role: [p for p in self.problem.staff if self._able(p, role)] for role in self.problem.roles}
        self.roles_of = {p.id: frozenset(role for role in self.problem.roles if self._able(p, role)) for p in self.problem.staff}
        self.own_spend = self._own_spend()
        self._pools = cache(self._pools_uncached)
        self._min_rate = cache(self._min_rate_uncached)
        self._deficiency = cache(self._deficiency_uncached)

    # -- what is free -------------------------------------------------------------

    def _able(self, person: Staff, role: str) -> bool:
        """Holds the role, the trial's skills for it and, for a regional role, one of its regions."""
        if role != person.role and role not in person.secondary_roles:
            return False
        if not set(self.trial.required_skills.get(role, [])) <= set(person.skills):
            return False
        regional = role in self.problem.regional_roles and self.trial.regions
        return not regional or person.region in self.trial.regions

    def _available(self, person: Staff, month: int) -> bool:
        if person.available_from is not None and month < self.problem.index(person.available_from):
            return False
        if person.available_to is not None and month > self.problem.index(person.available_to):
            return False
        return all(self.problem.index(leave) != month for leave in person.leave)

    def spare(self, person: Staff, month: int) -> float:
        """The person's FTE that month less what the plan assigns them to other trials."""
        if not self._available(person, month):
            return 0.0
        work = self.t.work.get((person.id, month), {})
        return max(0.0, person.fte - sum(fte for trial, fte in work.items() if trial != self.trial.id))

    def counts(self, person: Staff, month: int) -> bool:
        """Has spare FTE and room for one more trial (its own trial given back)."""
        others = [t for t in self.t.work.get((person.id, month), {}) if t != self.trial.id]
        return self.spare(person, month) > QUANTITY_TOL and len(others) < person.max_concurrent_trials

    def unused_flex(self, role: str, month: int) -> float:
        taken = self.t.flex.get((role, month), 0.0)
        if self.run is not None:
            taken -= self.t.flex_share(self.trial.id, role, month)
        return max(0.0, self.t.flex_max.get(role, 0.0) - taken)

    def room(self, service: str, month: int) -> float:
        """Capacity less units used, the trial's own units given back (the problem's capacity
        where the plan lists no service-month)."""
        room = self.t.service_room.get((service, month))
        if room is None:
            room = self._capacity(service, month)
        if self.run is not None and self.run.start <= month <= self.run.end:
            room += self.run.stages[month - self.run.start].services.get(service, 0.0)
        return room

    def _capacity(self, service: str, month: int) -> float:
        capacity = next((s.capacity for s in self.problem.services if s.id == service), 0.0)
        if isinstance(capacity, list):
            return capacity[month] if 0 <= month < len(capacity) else 0.0
        return capacity

    def _own_spend(self) -> dict[int, float]:
        """The trial's spend by month in the plan: its staff, its flex share, its services and fixed cost."""
        if self.run is None:
            return {}
        spend: dict[int, float] = defaultdict(float)
        for month, amount in _option_spend(self.run.option, self.run.start, self.t.unit_cost).items():
            spend[month] += amount
        for month, amount in self.t.staff_spend.get(self.trial.id, {}).items():
            spend[month] += amount
        for offset, stage in enumerate(self.run.stages):
            month = self.run.start + offset
            for role in stage.demand:
                share = self.t.flex_share(self.trial.id, role, month)
                spend[month] += share * self.t.flex_rate.get(role, 0.0)
        return spend

    def year_spend(self, year: str) -> float:
        own = sum(amount for month, amount in self.own_spend.items() if self.t.label(month)[:4] == year)
        return self.t.year_spend.get(year, 0.0) - own

    def total_spend(self) -> float:
        return self.t.total_spend - sum(self.own_spend.values())

    def supply(self, roles: set[str], month: int) -> float:
        """Spare FTE of the people able to serve any of ``roles`` (each once) plus their unused flex."""
        people = {p.id: p for role in roles for p in self.able.get(role, [])}
        named = sum(self.spare(p, month) for p in people.values() if self.counts(p, month))
        return named + sum(self.unused_flex(role, month) for role in roles)

    def _pools_uncached(self, month: int) -> dict[frozenset[str], float]:
        """Spare FTE that month of the people who count, grouped by the roles they can serve."""
        pools: dict[frozenset[str], float] = defaultdict(float)
        for person in self.problem.staff:
            roles = self.roles_of[person.id]
            if roles and self.counts(person, month):
                pools[roles] += self.spare(person, month)
        return pools

    def _min_rate_uncached(self, role: str, month: int) -> float:
        """The cheapest FTE-month of the role: flex where unused, anyone able with spare FTE."""
        rates = [cost_per_fte(p) for p in self.able.get(role, []) if self.counts(p, month)]
        if self.unused_flex(role, month) > QUANTITY_TOL:
            rates.append(self.t.flex_rate.get(role, 0.0))
        return min(rates, default=0.0)

    def _deficiency_uncached(self, month: int, demand: tuple[tuple[str, float], ...]) -> float:
        flex = {role: self.unused_flex(role, month) for role, _ in demand}
        return _deficiency(dict(demand), flex, self._pools(month))

    # -- the trial at a start -----------------------------------------------------

    def months(self, option: ExecutionOption, start: int) -> Iterator[tuple[int, Stage]]:
        for offset, stage in enumerate(_laid(option)):
            yield start + offset, stage

    def least_cost(self, option: ExecutionOption, start: int) -> dict[int, float]:
        """The trial's least cost by month: fixed cost and services at their prices, each role's
        demand at its cheapest rate: no roster can cost less."""
        cost = _option_spend(option, start, self.t.unit_cost)
        for month, stage in self.months(option, start):
            cost[month] += sum(fte * self._min_rate(role, month) for role, fte in stage.demand.items())
        return cost

    def least_cost_in(self, option: ExecutionOption, start: int, year: str | None) -> float:
        """The least cost in ``year`` (in total when None)."""
        return sum(amount for month, amount in self.least_cost(option, start).items()
                   if year is None or self.t.label(month)[:4] == year)

    def end(self, option: ExecutionOption, start: int) -> int:
        return start + option.duration - 1

    def tardiness(self, option: ExecutionOption, start: int) -> float:
        if self.trial.deadline is None:
            return 0.0
        late = max(0, self.end(option, start) - self.problem.index(self.trial.deadline))
        return self.problem.objective.weights.tardiness * self.trial.tardiness_penalty * late

    def discounted(self, start: int) -> float:
        earliest = 0 if self.trial.earliest_start is None else self.problem.index(self.trial.earliest_start)
        return self.trial.value * (1.0 - self.problem.objective.discount_rate) ** max(0, start - earliest)

    def gain(self, option: ExecutionOption, start: int) -> float | None:
        """What running the trial there gains by the objective's own formula (None where the
        objective has none: ``cost`` and ``makespan``)."""
        objective = self.problem.objective
        money = self.least_cost_in(option, start, None) + self.tardiness(option, start)
        if objective.kind == "value":
            return self.discounted(start) - money
        if objective.kind == "weighted_completion":
            every_zero = all(t.value == 0 for t in self.problem.trials)
            weight = 1.0 if every_zero else self.trial.value
            return weight * (self.t.horizon - self.end(option, start)) - objective.penalty_scale * money
        return None

    # -- starts and what binds ----------------------------------------------------

    def starts(self) -> Iterator[tuple[ExecutionOption, int]]:
        """Every option and start in the window and the horizon, after each running
        predecessor's end plus its lag."""
        for option in self.trial.options:
            first, last = self._window(option)
            yield from ((option, start) for start in range(first, last + 1))

    def _window(self, option: ExecutionOption) -> tuple[int, int]:
        trial, problem = self.trial, self.problem
        first = max(0, problem.index(trial.earliest_start)) if trial.earliest_start else 0
        last = self.t.horizon - option.duration
        if trial.latest_start is not None:
            last = min(last, problem.index(trial.latest_start))
        for pred in trial.predecessors:
            run = self.t.runs.get(pred.trial)
            if run is not None:
                first = max(first, run.end + 1 + pred.lag)
        return first, last

    def binding(self, option: ExecutionOption, start: int) -> str | None:
        """The first rule that binds at this start, in words; None when the trial fits there."""
        checks: tuple[Callable[[ExecutionOption, int], str | None], ...] = (
            self._binding_schedule, self._binding_roles, self._binding_services, self._binding_budget)
        return next((reason for check in checks if (reason := check(option, start)) is not None), None)

    def _binding_schedule(self, option: ExecutionOption, start: int) -> str | None:
        for pred in self.trial.predecessors:
            if pred.trial not in self.t.runs:
                return f"predecessor {pred.trial!r} does not run"
        first, last = self._window(option)
        if not first <= start <= last:
            return (f"{self.t.label(start)} is not a start of option {option.id!r} in the window, the horizon "
                    "and after the predecessors")
        kind = self.problem.objective.kind
        if kind in ("cost", "makespan") and self.trial.id not in self.t.forced:
            return f"objective {kind!r} runs no optional trial the problem does not force"
        return None

    def _binding_roles(self, option: ExecutionOption, start: int) -> str | None:
        for month, stage in self.months(option, start):
            demand = tuple(sorted((r, fte) for r, fte in stage.demand.items() if fte > 0))
            excess = self._deficiency(month, demand)
            if excess > QUANTITY_TOL:
                return f"roles are {excess:.6g} FTE short in {self.t.label(month)}"
        return None

    def _binding_services(self, option: ExecutionOption, start: int) -> str | None:
        for month, stage in self.months(option, start):
            for service, units in stage.services.items():
                excess = units - self.room(service, month)
                if excess > QUANTITY_TOL:
                    return f"service {service!r} lacks {excess:.6g} units in {self.t.label(month)}"
        return None

    def _binding_budget(self, option: ExecutionOption, start: int) -> str | None:
        for year, budget in sorted(self.problem.budget.per_year.items()):
            excess = self.year_spend(year) + self.least_cost_in(option, start, year) - budget
            if excess > MONEY_ABS_TOL:
                return f"the budget of {year} is exceeded by {excess:.2f}"
        total = self.problem.budget.total
        if total is not None:
            excess = self.total_spend() + self.least_cost_in(option, start, None) - total
            if excess > MONEY_ABS_TOL:
                return f"the total budget is exceeded by {excess:.2f}"
        return None

    def earliest_end(self) -> int:
        """The earliest month the trial can end: its window, each predecessor chain at its
        earliest starts with its shortest options."""
        trials = self.t.trials

        @cache
        def earliest_start(trial_id: str) -> int:
            trial = trials[trial_id]
            first = max(0, self.problem.index(trial.earliest_start)) if trial.earliest_start else 0
            for pred in trial.predecessors:
                if pred.trial in trials:
                    first = max(first, earliest_end(pred.trial) + 1 + pred.lag)
            return first

        def earliest_end(trial_id: str) -> int:
            return earliest_start(trial_id) + min(o.duration for o in trials[trial_id].options) - 1

        return earliest_end(self.trial.id)


class _FactCheck:
    """The facts of one explanation, each recomputed against the plan (see the module docstring)."""

    def __init__(self, tables: _Tables, trial: Trial) -> None:
        self.t = tables
        self.free = _Free(tables, trial)
        self.trial = trial
        self.problem = tables.problem
        entry = tables.entries.get(trial.id)
        self.runs = entry is not None and entry.run
        run = tables.runs.get(trial.id)
        deadline = trial.deadline
        self.late = 0 if run is None or deadline is None else max(0, run.end - self.problem.index(deadline))

    def check(self, fact: Fact) -> str | None:
        """Why the fact does not hold, or None when it does."""
        if fact.kind in LEFT_OUT_KINDS and self.runs:
            return f"explains a trial left out, but the plan runs {self.trial.id!r}"
        try:
            getattr(self, f"_{fact.kind}")(fact)
        except _Refuted as refuted:
            return str(refuted)
        return None

    # -- reading a fact -------------------------------------------------------------

    def _month(self, text: str | None, what: str) -> int:
        if text is None or not is_month(text):
            raise _Refuted(f"{what} {text!r} is not a month")
        return self.problem.index(text)

    def _start(self, fact: Fact) -> tuple[ExecutionOption, int]:
        option = next((o for o in self.trial.options if o.id == fact.option), None)
        if option is None:
            raise _Refuted(f"option {fact.option!r} is not an option of {self.trial.id!r}")
        return option, self._month(fact.start, "start")

    def _predecessor(self, fact: Fact) -> Predecessor:
        pred = next((p for p in self.trial.predecessors if p.trial == fact.trial), None)
        if pred is None:
            raise _Refuted(f"{fact.trial!r} is not a predecessor of {self.trial.id!r}")
        return pred

    def _months(self, fact: Fact) -> list[int]:
        if not fact.months:
            raise _Refuted("names no month")
        return [self._month(month, "month") for month in fact.months]

    def _amount(self, fact: Fact, recomputed: float, money: bool) -> None:
        if fact.amount is None or not _close(fact.amount, recomputed, MONEY_ABS_TOL if money else REPORT_ABS_TOL):
            raise _Refuted(f"amount claimed {fact.amount}, recomputed {recomputed:.6f}")

    # -- one method per kind ----------------------------------------------------------

    def _predecessor_not_run(self, fact: Fact) -> None:
        self._predecessor(fact)
        entry = self.t.entries.get(fact.trial or "")
        if entry is not None and entry.run:
            raise _Refuted(f"predecessor {fact.trial!r} runs in the plan (from {entry.start})")

    def _pinned(self, fact: Fact) -> None:
        pins = [pin for pin in self.problem.pins.trials if pin.trial == self.trial.id]
        if not self.runs:
            if not any(pin.run is False for pin in pins):
                raise _Refuted(f"no trial pin of the problem keeps {self.trial.id!r} out")
            return
        held = [pin for pin in pins if pin.option is not None or pin.start is not None]
        if not held:
            raise _Refuted(f"no trial pin of the problem fixes the option or start of {self.trial.id!r}")
        deadline = self.trial.deadline
        due = None if deadline is None else self.problem.index(deadline)
        for option in self.trial.options:
            if any(pin.option not in (None, option.id) for pin in held):
                continue
            first = max(0, self.problem.index(self.trial.earliest_start)) if self.trial.earliest_start else 0
            last = self.t.horizon - option.duration
            if self.trial.latest_start is not None:
                last = min(last, self.problem.index(self.trial.latest_start))
            for start in range(first, last + 1):
                if any(pin.start is not None and self.problem.index(pin.start) != start for pin in held):
                    continue
                if due is not None and max(0, start + option.duration - 1 - due) < self.late:
                    raise _Refuted(f"its pins allow option {option.id!r} from {self.t.label(start)}, which ends it less late")

    def _no_start(self, fact: Fact) -> None:
        found = next(self.free.starts(), None)
        if found is not None:
            option, start = found
            raise _Refuted(f"option {option.id!r} can start {self.t.label(start)} in the window, the horizon and "
                           "after every running predecessor")

    def _objective_rule(self, fact: Fact) -> None:
        kind = self.problem.objective.kind
        if fact.rule != kind:
            raise _Refuted(f"rule claimed {fact.rule!r}, the objective is {kind!r}")
        if kind not in ("cost", "makespan"):
            raise _Refuted(f"objective {kind!r} may run optional trials")
        if self.trial.id in self.t.forced:
            raise _Refuted(f"the problem forces {self.trial.id!r} to run")

    def _predecessor_ends(self, fact: Fact) -> None:
        pred = self._predecessor(fact)
        start, claimed_end = self._month(fact.start, "start"), self._months(fact)[0]
        run = self.t.runs.get(pred.trial)
        if run is None:
            raise _Refuted(f"predecessor {pred.trial!r} does not run in the plan")
        if run.end != claimed_end:
            raise _Refuted(f"predecessor {pred.trial!r} ends {self.t.label(run.end)}, claimed {fact.months[0]}")
        if fact.amount is None or fact.amount != pred.lag:
            raise _Refuted(f"lag claimed {fact.amount}, the problem has {pred.lag}")
        if start > run.end + pred.lag:
            raise _Refuted(f"start {fact.start} is after {self.t.label(run.end)} plus lag {pred.lag}: the predecessor "
                           "does not hold it back")

    def _roles_short(self, fact: Fact) -> None:
        option, start = self._start(fact)
        unknown = sorted(set(fact.roles) - set(self.problem.roles))
        if not fact.roles or unknown:
            raise _Refuted(f"roles {fact.roles} are not roles of the problem")
        stages = dict(self.free.months(option, start))
        excesses = []
        for month in self._months(fact):
            stage = stages.get(month)
            demand = sum(stage.demand.get(role, 0.0) for role in fact.roles) if stage else 0.0
            supply = self.free.supply(set(fact.roles), month)
            if demand - supply < -QUANTITY_TOL:
                raise _Refuted(f"in {self.t.label(month)} the demand of {fact.roles} is {demand:.6g} FTE against "
                               f"{supply:.6g} FTE free (spare FTE of people able to serve plus unused flex)")
            excesses.append(demand - supply)
        self._amount(fact, max(excesses), money=False)

    def _service_full(self, fact: Fact) -> None:
        option, start = self._start(fact)
        if fact.service not in self.t.unit_cost:
            raise _Refuted(f"service {fact.service!r} is not a service of the problem")
        stages = dict(self.free.months(option, start))
        excesses = []
        for month in self._months(fact):
            stage = stages.get(month)
            units = stage.services.get(fact.service, 0.0) if stage else 0.0
            room = self.free.room(fact.service, month)
            if units - room < -QUANTITY_TOL:
                raise _Refuted(f"in {self.t.label(month)} the trial needs {units:.6g} units of {fact.service!r} "
                               f"against a room of {room:.6g}")
            excesses.append(units - room)
        self._amount(fact, max(excesses), money=False)

    def _budget_year(self, fact: Fact) -> None:
        option, start = self._start(fact)
        budget = self.problem.budget.per_year.get(fact.year or "")
        if budget is None:
            raise _Refuted(f"year {fact.year!r} has no budget")
        spend, cost = self.free.year_spend(fact.year or ""), self.free.least_cost_in(option, start, fact.year)
        self._over_budget(fact, spend, cost, budget, f"{fact.year}")

    def _budget_total(self, fact: Fact) -> None:
        option, start = self._start(fact)
        budget = self.problem.budget.total
        if budget is None:
            raise _Refuted("the problem sets no total budget")
        spend, cost = self.free.total_spend(), self.free.least_cost_in(option, start, None)
        self._over_budget(fact, spend, cost, budget, "the total")

    def _over_budget(self, fact: Fact, spend: float, cost: float, budget: float, what: str) -> None:
        excess = spend + cost - budget
        if excess < -MONEY_ABS_TOL:
            raise _Refuted(f"spend {spend:.2f} plus least cost {cost:.2f} in {what} is within the budget {budget:.2f}")
        self._amount(fact, excess, money=True)

    def _fits(self, fact: Fact) -> None:
        option, start = self._start(fact)
        reason = self.free.binding(option, start)
        if reason is not None:
            raise _Refuted(f"at option {option.id!r} from {fact.start}: {reason}")

    def _not_worth(self, fact: Fact) -> None:
        if self.problem.objective.kind != "value":
            raise _Refuted(f"objective is {self.problem.objective.kind!r}, not 'value'")
        gains = {(option.id, start): self.free.discounted(start) - self.free.least_cost_in(option, start, None)
                 - self.free.tardiness(option, start)
                 for option, start in self.free.starts() if self.free.binding(option, start) is None}
        if not gains:
            if fact.amount is not None or fact.option is not None or fact.start is not None:
                raise _Refuted("no start fits, so there is no best one to name")
            return
        (best_option, best_start), best = max(gains.items(), key=lambda item: item[1])
        where = f"option {best_option!r} from {self.t.label(best_start)}"
        if best > MONEY_ABS_TOL:
            raise _Refuted(f"at {where} the trial gains {best:.2f}")
        self._amount(fact, best, money=True)
        option, start = self._start(fact)
        named = gains.get((option.id, start))
        if named is None or not _close(named, best, MONEY_ABS_TOL):
            shown = "does not fit" if named is None else f"gains {named:.2f}"
            raise _Refuted(f"option {option.id!r} from {fact.start} {shown}; the best start is {where} ({best:.2f})")

    def _may_pay(self, fact: Fact) -> None:
        option, start = self._start(fact)
        reason = self.free.binding(option, start)
        if reason is not None:
            raise _Refuted(f"the trial does not fit at option {option.id!r} from {fact.start}: {reason}")
        gain = self.free.gain(option, start)
        if gain is None:
            raise _Refuted(f"objective {self.problem.objective.kind!r} gains nothing from an optional trial")
        money = self.problem.objective.kind == "value"
        if gain < -(MONEY_ABS_TOL if money else QUANTITY_TOL):
            raise _Refuted(f"the trial's gain there is {gain:.6f}, not positive")
        self._amount(fact, gain, money=money)

    def _late_unavoidable(self, fact: Fact) -> None:
        deadline = self.trial.deadline
        if not self.late or deadline is None:
            raise _Refuted(f"the plan does not run {self.trial.id!r} late")
        end, claimed = self.free.earliest_end(), self._months(fact)[0]
        if end != claimed:
            raise _Refuted(f"the earliest end is {self.t.label(end)}, claimed {fact.months[0]}")
        late = end - self.problem.index(deadline)
        if fact.amount is None or fact.amount != late or late <= 0:
            raise _Refuted(f"the earliest end is {late} month(s) past the deadline {deadline}, claimed {fact.amount}")


def check_explanations(problem: Problem, plan: Plan) -> list[Violation]:
    """Every explanation of the plan that names a trial, and each of its facts, recomputed
    from the problem and the plan's tables; the claims that do not hold, in plan order."""
    problem = effective(problem)
    tables = _Tables(problem, plan)
    violations: list[Violation] = []
    for explanation in plan.explanations:
        if explanation.trial is None:
            continue  # why a problem has no plan: nothing of a trial to recompute
        trial = tables.trials.get(explanation.trial)
        if trial is None:
            violations.append(Violation("explanation_trial", f"explanation names trial {explanation.trial!r}, "
                                        "which the problem does not have", trial=explanation.trial))
            continue
        checker = _FactCheck(tables, trial)
        if checker.runs and not checker.late and trial.id in tables.runs:
            violations.append(Violation("explanation_trial", f"explanation of {trial.id!r}, which the plan runs on "
                                        "time: only trials left out or late are explained", trial=trial.id))
        for fact in explanation.facts:
            reason = checker.check(fact)
            if reason is not None:
                violations.append(Violation(f"fact_{fact.kind}", f"explanation of {trial.id!r}, {fact.kind} fact: "
                                            f"{reason}", trial=trial.id))
    return violations

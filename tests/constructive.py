"""An independent constructive check: build one valid plan the simple way, or say none was found.

Written from SPEC §2 and the contract in the :mod:`models.contract.problem` docstring only; it
shares no code with the engine (it imports the problem and plan types, nothing else),
so when it finds a plan and the engine reports none, the engine has missed one.

The procedure (deliberately simple, never clever)
    1. The trials that must run are the mandatory ones, those pinned ``run: true``, and
       (transitively) their predecessors. Every other trial is left out.
    2. They are placed one at a time in a topological order of the predecessor graph
       (ties in input order). For each, every (start, option) pair is tried, earliest
       start first (options in input order, narrowed by a trial pin), and the first that
       fits is kept for good (no backtracking). The start lies in the trial's window, at
       least ``lag`` months after each predecessor's end, so that the trial ends inside
       the horizon and, under the ``cost`` objective, by its deadline (mandatory trials
       must be on time there).
    3. A (start, option) fits when, month by month, each service's units stay within its
       capacity (counting trials already placed) and each role's demand is covered by
       named people, then flex, then (only when ``objective.weights.shortfall`` is set)
       shortfall. People are taken cheapest per FTE first (then by id); a person is
       eligible in a month when the role is their primary or a secondary role, they hold
       the trial's required skills for that role, their region is one of the trial's
       regions for a regional role, the month is inside their availability and not a
       leave month, they have FTE left, and taking the trial keeps them within
       ``max_concurrent_trials`` distinct trials that month. Flex of a role never exceeds
       ``flex.max_fte`` in a month, summed over trials. Finally the spend (staff pro rata,
       flex, services, the option's fixed cost spread evenly over its active months) must
       keep every capped year and the total within the budget.
    4. Assignments are written as contiguous blocks (a run of months with the same
       person, trial, role and FTE).

What the returned plan reports
    ``status`` is ``"feasible"`` (nothing is proven optimal; ``best_bound`` and ``gap``
    stay ``None``). Every figure the independent checker compares is computed here from
    the contract, independently of the checker: per trial end, months late, cost split
    (staff, flex attributed pro rata to each trial's uncovered demand of the role-month,
    services, external) and coverage (named, flex, uncovered FTE-months); one role-month
    line per role and horizon month (capacity = FTE of available people whose *primary*
    role it is, demand, named FTE assigned, flex, shortfall, utilisation); one
    service-month line per service and horizon month; budget lines for every calendar
    year the horizon touches. The ``objective`` is the documented formula of
    :class:`models.contract.problem.Objective` with the penalties of :class:`models.contract.problem.Weights`
    (tardiness, shortfall, fragmentation per distinct person-trial pair); KPIs are
    filled as :class:`models.contract.plan.Kpis` states them (mean utilisation = mean of the
    role-month utilisation over the role-months with capacity); the checker compares
    both.

Not handled (returns ``None``): assignment pins and ``frozen_until`` re-planning. Under
``cost`` and ``makespan`` an optional trial runs only where the problem makes it (pinned
to run, or a predecessor of a trial that must run), as the ``Objective`` contract says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from models.contract.plan import (
    Assignment,
    BudgetReport,
    Kpis,
    Plan,
    RoleMonth,
    ServiceMonth,
    TrialCost,
    TrialCoverage,
    TrialPlan,
    YearSpend,
)
from models.contract.problem import ExecutionOption, Problem, Staff, Trial

EPS = 1e-9  # FTE or units below this are treated as zero (the checker's tolerance is 1e-6)


@dataclass
class _Placed:
    trial: Trial
    option: ExecutionOption
    start: int
    end: int
    # (person id, role, month) -> fte named on this trial
    named: dict[tuple[str, str, int], float] = field(default_factory=dict)


@dataclass
class _State:
    """What the placed trials use, month by month."""

    load: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    on_trials: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    flex: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    services: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    spend: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def constructive_plan(problem: Problem) -> Plan | None:
    """One valid plan built the simple way (see the module docstring), or None."""
    return _Builder(problem).build()


class _Builder:
    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.H = problem.horizon.months
        self.trials = {t.id: t for t in problem.trials}
        self.staff = {s.id: s for s in problem.staff}
        self.regional = set(problem.regional_roles)
        self.flex_max = {f.role: f.max_fte for f in problem.flex}
        self.flex_rate = {f.role: f.monthly_rate for f in problem.flex}
        self.unit_cost = {s.id: s.unit_cost for s in problem.services}
        self.pins = {pin.trial: pin for pin in problem.pins.trials}
        self.shortfall_ok = problem.objective.weights.shortfall is not None
        # cheapest per FTE first, then by id: a fixed, simple order
        self.people = sorted(problem.staff, key=lambda s: (s.monthly_cost / s.fte, s.id))
        self.state = _State()
        self.placed: dict[str, _Placed] = {}

    # -- months and people ---------------------------------------------------------

    def year(self, month: int) -> str:
        return self.p.month(month)[:4]

    def capacity(self, service_id: str, month: int) -> float:
        service = next(s for s in self.p.services if s.id == service_id)
        if isinstance(service.capacity, list):
            return service.capacity[month] if month < len(service.capacity) else 0.0
        return service.capacity

    def works(self, person: Staff, month: int) -> bool:
        if person.available_from is not None and month < self.p.index(person.available_from):
            return False
        if person.available_to is not None and month > self.p.index(person.available_to):
            return False
        return all(self.p.index(leave) != month for leave in person.leave)

    def eligible(self, person: Staff, trial: Trial, role: str) -> bool:
        if role != person.role and role not in person.secondary_roles:
            return False
        if not set(trial.required_skills.get(role, [])) <= set(person.skills):
            return False
        if role in self.regional and trial.regions and person.region not in trial.regions:
            return False
        return True

    # -- which trials, in which order --------------------------------------------

    def must_run(self) -> list[str] | None:
        need: set[str] = set()
        stack = [t.id for t in self.p.trials
                 if t.mandatory or (t.id in self.pins and self.pins[t.id].run)]
        while stack:
            tid = stack.pop()
            if tid in need:
                continue
            need.add(tid)
            stack.extend(pred.trial for pred in self.trials[tid].predecessors)
        for tid in need:
            pin = self.pins.get(tid)
            if pin is not None and pin.run is False:
                return None
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(need):
            ready = [t.id for t in self.p.trials if t.id in need and t.id not in done
                     and all(pred.trial in done for pred in t.predecessors)]
            if not ready:
                return None  # a cycle (validation refuses these)
            order.append(ready[0])
            done.add(ready[0])
        return order

    # -- placing one trial ---------------------------------------------------------

    def candidates(self, trial: Trial) -> list[tuple[int, ExecutionOption]]:
        pin = self.pins.get(trial.id)
        options = [o for o in trial.options if pin is None or pin.option is None or o.id == pin.option]
        lo = 0 if trial.earliest_start is None else self.p.index(trial.earliest_start)
        for pred in trial.predecessors:
            lo = max(lo, self.placed[pred.trial].end + 1 + pred.lag)
        hi = self.H - 1 if trial.latest_start is None else self.p.index(trial.latest_start)
        if pin is not None and pin.start is not None:
            lo = max(lo, self.p.index(pin.start))
            hi = min(hi, self.p.index(pin.start))
        out = []
        for start in range(max(lo, 0), hi + 1):
            for option in options:
                end = start + option.duration - 1
                if end >= self.H:
                    continue
                if (self.p.objective.kind == "cost" and trial.mandatory and trial.deadline is not None
                        and end > self.p.index(trial.deadline)):
                    continue
                out.append((start, option))
        return out

    def try_place(self, trial: Trial, start: int, option: ExecutionOption) -> bool:
        """Place the trial if it fits; on failure the state is left untouched."""
        st = self.state
        load = defaultdict(float)          # extra FTE per (person, month)
        joins: set[tuple[str, int]] = set()  # (person, month) newly on this trial
        flex = defaultdict(float)          # extra flex per (role, month)
        services = defaultdict(float)
        spend = defaultdict(float)
        named: dict[tuple[str, str, int], float] = {}
        stages = [stage for stage in option.stages for _ in range(stage.months)]
        for offset, stage in enumerate(stages):
            month = start + offset
            spend[self.year(month)] += option.fixed_cost / len(stages)
            for sid, units in stage.services.items():
                if units <= 0:
                    continue
                if st.services[(sid, month)] + units > self.capacity(sid, month) + EPS * max(1.0, units):
                    return False
                services[(sid, month)] += units
                spend[self.year(month)] += units * self.unit_cost[sid]
            for role, demand in stage.demand.items():
                left = demand
                for person in self.people:
                    if left <= EPS:
                        break
                    if not self.eligible(person, trial, role) or not self.works(person, month):
                        continue
                    key = (person.id, month)
                    free = person.fte - st.load[key] - load[key]
                    if free <= EPS:
                        continue
                    already = key in joins
                    if not already and len(st.on_trials[key]) >= person.max_concurrent_trials:
                        continue
                    take = min(left, free)
                    load[key] += take
                    joins.add(key)
                    named[(person.id, role, month)] = named.get((person.id, role, month), 0.0) + take
                    spend[self.year(month)] += person.monthly_cost * take / person.fte
                    left -= take
                if left > EPS:
                    room = self.flex_max.get(role, 0.0) - st.flex[(role, month)] - flex[(role, month)]
                    take = max(0.0, min(left, room))
                    if take > EPS:
                        flex[(role, month)] += take
                        spend[self.year(month)] += take * self.flex_rate.get(role, 0.0)
                        left -= take
                if left > EPS and not self.shortfall_ok:
                    return False
        budget = self.p.budget
        for year, amount in spend.items():
            cap = budget.per_year.get(year)
            if cap is not None and st.spend[year] + amount > cap:
                return False
        if budget.total is not None and sum(st.spend.values()) + sum(spend.values()) > budget.total:
            return False
        for key, fte in load.items():
            st.load[key] += fte
        for key in joins:
            st.on_trials[key].add(trial.id)
        for key, fte in flex.items():
            st.flex[key] += fte
        for key, units in services.items():
            st.services[key] += units
        for year, amount in spend.items():
            st.spend[year] += amount
        self.placed[trial.id] = _Placed(trial, option, start, start + option.duration - 1, named)
        return True

    def build(self) -> Plan | None:
        if self.p.pins.assignments or self.p.pins.frozen_until is not None:
            return None
        order = self.must_run()
        if order is None:
            return None
        for tid in order:
            trial = self.trials[tid]
            if not any(self.try_place(trial, start, option) for start, option in self.candidates(trial)):
                return None
        return self.report()

    # -- the plan --------------------------------------------------------------------

    def report(self) -> Plan:
        p, H = self.p, self.H
        obj = p.objective
        assignments: list[Assignment] = []
        demand: dict[tuple[str, str, int], float] = defaultdict(float)   # (trial, role, month)
        named_trm: dict[tuple[str, str, int], float] = defaultdict(float)
        for tid, pl in self.placed.items():
            stages = [stage for stage in pl.option.stages for _ in range(stage.months)]
            for offset, stage in enumerate(stages):
                for role, fte in stage.demand.items():
                    demand[(tid, role, pl.start + offset)] += fte
            by_pair: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
            for (pid, role, month), fte in pl.named.items():
                by_pair[(pid, role)][month] = fte
                named_trm[(tid, role, month)] += fte
            for (pid, role), months in sorted(by_pair.items()):
                run: list[int] = []
                for month in sorted(months) + [None]:
                    if run and (month is None or month != run[-1] + 1 or months[month] != months[run[0]]):
                        assignments.append(Assignment(staff=pid, trial=tid, role=role, start=p.month(run[0]),
                                                      end=p.month(run[-1]), fte=months[run[0]]))
                        run = []
                    if month is not None:
                        run.append(month)

        # role-months
        role_demand: dict[tuple[str, int], float] = defaultdict(float)
        role_named: dict[tuple[str, int], float] = defaultdict(float)
        for (tid, role, month), d in demand.items():
            role_demand[(role, month)] += d
        for (tid, role, month), n in named_trm.items():
            role_named[(role, month)] += n
        # Role-months count everyone able to work the role (primary or secondary), with spare the
        # FTE such people have on no trial (models.contract.plan.RoleMonth); the KPI is the pool's
        # assigned share of its available FTE-months.
        busy: dict[tuple[str, int], float] = defaultdict(float)
        secondary_named: dict[tuple[str, int], float] = defaultdict(float)
        for pl in self.placed.values():
            for (pid, role, month), fte in pl.named.items():
                busy[(pid, month)] += fte
                if role != self.staff[pid].role:
                    secondary_named[(role, month)] += fte
        capacity: dict[tuple[str, int], float] = defaultdict(float)
        primary: dict[tuple[str, int], float] = defaultdict(float)
        spare: dict[tuple[str, int], float] = defaultdict(float)
        available = 0.0
        for person in p.staff:
            for month in range(H):
                if self.works(person, month):
                    available += person.fte
                    primary[(person.role, month)] += person.fte
                    for role in {person.role, *person.secondary_roles}:
                        capacity[(role, month)] += person.fte
                        spare[(role, month)] += max(0.0, person.fte - busy[(person.id, month)])
        role_months: list[RoleMonth] = []
        shortfall_total = 0.0
        for role in p.roles:
            for month in range(H):
                key = (role, month)
                flex = self.state.flex.get(key, 0.0)
                short = max(0.0, role_demand.get(key, 0.0) - role_named.get(key, 0.0) - flex)
                short = short if short > 1e-6 else 0.0
                shortfall_total += short
                cap = capacity.get(key, 0.0)
                util = role_named.get(key, 0.0) / cap if cap > 0 else 0.0
                role_months.append(RoleMonth(role=role, month=p.month(month), capacity=cap,
                                             capacity_primary=primary[key], capacity_secondary=cap - primary[key],
                                             demand=role_demand.get(key, 0.0), assigned=role_named.get(key, 0.0),
                                             assigned_secondary=secondary_named[key], spare=spare[key],
                                             flex=flex, shortfall=short, utilisation=util))

        service_months = [ServiceMonth(service=s.id, month=p.month(m), used=self.state.services.get((s.id, m), 0.0),
                                       capacity=self.capacity(s.id, m))
                          for s in p.services for m in range(H)]

        # per trial: costs and coverage (flex pro rata to uncovered demand of the role-month)
        staff_cost: dict[str, float] = defaultdict(float)
        for tid, pl in self.placed.items():
            for (pid, role, month), fte in pl.named.items():
                person = self.staff[pid]
                staff_cost[tid] += person.monthly_cost * fte / person.fte
        uncovered: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
        for (tid, role, month), d in demand.items():
            gap = d - min(d, named_trm.get((tid, role, month), 0.0))
            if gap > 0:
                uncovered[(role, month)].append((tid, gap))
        flex_cost: dict[str, float] = defaultdict(float)
        flex_fte: dict[str, float] = defaultdict(float)
        for (role, month), flex in self.state.flex.items():
            shares = uncovered.get((role, month), [])
            total = sum(share for _, share in shares)
            if flex <= 0 or total <= 0:
                continue
            for tid, share in shares:
                flex_cost[tid] += flex * self.flex_rate.get(role, 0.0) * share / total
                flex_fte[tid] += min(flex, total) * share / total

        trial_plans: list[TrialPlan] = []
        value_delivered = tardiness = 0.0
        on_time = 0
        for trial in p.trials:
            pl = self.placed.get(trial.id)
            if pl is None:
                trial_plans.append(TrialPlan(id=trial.id, run=False))
                continue
            stages = [stage for stage in pl.option.stages for _ in range(stage.months)]
            services = sum(units * self.unit_cost[sid] for stage in stages for sid, units in stage.services.items())
            split = TrialCost(staff=staff_cost[trial.id], flex=flex_cost[trial.id], services=services,
                              external=pl.option.fixed_cost)
            total_demand = sum(d for (tid, _, _), d in demand.items() if tid == trial.id)
            named = sum(min(d, named_trm.get(key, 0.0)) for key, d in demand.items() if key[0] == trial.id)
            coverage = TrialCoverage(named=named, flex=flex_fte[trial.id],
                                     uncovered=total_demand - named - flex_fte[trial.id])
            late = 0 if trial.deadline is None else max(0, pl.end - p.index(trial.deadline))
            on_time += late == 0
            tardiness += obj.weights.tardiness * trial.tardiness_penalty * late
            anchor = 0 if trial.earliest_start is None else p.index(trial.earliest_start)
            value = trial.value * (1 - obj.discount_rate) ** max(0, pl.start - anchor)
            value_delivered += value
            trial_plans.append(TrialPlan(id=trial.id, run=True, option=pl.option.id, start=p.month(pl.start),
                                         end=p.month(pl.end), months_late=late, cost=split.total, cost_split=split,
                                         coverage=coverage, value=value))

        years = sorted({p.month(m)[:4] for m in range(H)} | set(self.state.spend))
        budget = BudgetReport(
            per_year=[YearSpend(year=y, spend=self.state.spend.get(y, 0.0), budget=p.budget.per_year.get(y))
                      for y in years],
            total=sum(self.state.spend.values()), total_budget=p.budget.total)

        pairs = {(a.staff, a.trial) for a in assignments}
        money = (budget.total + tardiness + (obj.weights.shortfall or 0.0) * shortfall_total
                 + obj.weights.fragmentation * len(pairs))
        ends = {tid: pl.end for tid, pl in self.placed.items()}
        if obj.kind == "value":
            objective = value_delivered - money
        elif obj.kind == "cost":
            objective = money
        elif obj.kind == "makespan":
            objective = max((e + 1 for e in ends.values()), default=0) + obj.penalty_scale * money
        else:
            weights = {t.id: t.value for t in p.trials}
            if not any(weights.values()):
                weights = {t.id: 1.0 for t in p.trials}
            objective = (sum(w * (ends[tid] + 1 if tid in ends else H + 1) for tid, w in weights.items())
                         + obj.penalty_scale * money)

        kpis = Kpis(total_cost=budget.total, value_delivered=value_delivered, trials_run=len(self.placed),
                    trials_on_time=on_time,
                    mean_utilisation=sum(busy.values()) / available if available > 0 else 0.0,
                    makespan_months=max((e + 1 for e in ends.values()), default=0),
                    flex_fte_months=sum(self.state.flex.values()), shortfall_fte_months=shortfall_total)
        return Plan(status="feasible", message="constructive check (tests/constructive.py)", objective=objective,
                    solver="constructive", trials=trial_plans, assignments=assignments, role_months=role_months,
                    service_months=service_months, budget=budget, kpis=kpis)

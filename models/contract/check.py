"""Independent plan checker (SPEC §4): recompute every rule of a plan from the problem.

The checker is written apart from the model, from the rules stated in
:mod:`models.contract.problem` (its module docstring is the contract) and the plan format of
:mod:`models.contract.plan`. It trusts nothing a plan *reports*: it reads only the plan's
decisions and recomputes everything else from them, then compares.

Decisions read from a plan
    which trials run, with which option and start; the assignments; the flex FTE per
    role and month (``plan.role_months[*].flex``, 0 where a role-month is not listed).

Everything else (ends, months late, demand, named FTE, shortfall, service use, spend,
trial costs and coverage) is recomputed and, where the plan reports it, compared
(rule ``report_mismatch``). An entry that cannot be interpreted (unknown staff, trial,
role or service, a month that is not ``YYYY-MM``) is reported once and then left out
of every total, so one mistake yields one violation rather than a cascade.

Rule codes (``Violation.rule``)
    trials: ``missing_trial``, ``duplicate``, ``unknown_reference``, ``mandatory``,
    ``optional_excluded``, ``option``, ``schedule`` (start missing, or end != start +
    duration - 1), ``horizon``, ``window``, ``deadline`` (only objective ``cost``, mandatory
    trials), ``predecessor``; assignments: ``unknown_reference``, ``assignment_range``,
    ``horizon``, ``trial_inactive``, ``role_match``, ``skill_match``, ``region_match``,
    ``availability``, ``leave``; per person and month: ``staff_capacity``,
    ``max_concurrent_trials``; demand: ``over_assignment``, ``flex_limit``,
    ``demand_coverage``; ``service_capacity``; ``service_volume`` (units over the horizon
    above a contract volume, monthly and total units alike); ``budget_year``, ``budget_total``;
    re-planning: ``pin``, ``frozen``; reports: ``report_mismatch`` (and ``duplicate`` /
    ``unknown_reference`` for repeated or foreign role-, service- or budget-lines; also
    each trial's ``value`` and every KPI); ``objective_mismatch`` (the reported objective
    is not the documented formula of its kind applied to the plan); ``bound_mismatch``
    (the best bound on the wrong side of the objective, or a gap that is not
    ``|objective - bound| / max(1, |objective|)``).

Objective (``objective_mismatch``), checked only for status ``optimal``/``feasible`` with
an objective, recomputed from the :class:`~models.contract.problem.Objective` docstring:

* money ``C`` = total spend (staff + flex + services + fixed costs, as in the budget)
  + tardiness ``sum(months_late * trial.tardiness_penalty) * weights.tardiness`` over
  running trials + shortfall ``shortfall FTE-months * weights.shortfall`` (0 when the
  price is unset) + fragmentation ``weights.fragmentation * P``, ``P`` the number of
  distinct (person, trial) pairs among the plan's (interpretable) assignments;
* ``value``: ``sum(trial value delivered) - C``, a running trial's value delivered being
  ``value * (1 - discount_rate) ** delay``, ``delay`` = start index minus the index of its
  ``earliest_start`` (the horizon start, index 0, when it has none), never below 0;
* ``cost``: ``C``;
* ``makespan``: ``max(end index + 1)`` over running trials (0 when none runs)
  ``+ penalty_scale * C``;
* ``weighted_completion``: ``sum(w * (end index + 1))`` over the problem's trials, ``w`` the
  trial's value (1 for every trial when all values are 0), a trial that does not run
  counting as ending one month after the horizon (end index ``horizon.months``, so
  ``w * (horizon.months + 1)``), ``+ penalty_scale * C``.

KPIs (``plan.kpis``, ``report_mismatch``), recomputed for every checked plan:
``total_cost`` = total spend; ``value_delivered`` = sum of the running trials' discounted
value (as above, whatever the objective kind; also each ``TrialPlan.value``, 0 for a
trial that does not run); ``trials_run``; ``trials_on_time`` = running trials with 0
months late (a trial without deadline is on time); ``makespan_months`` = ``max(end index
+ 1)`` over running trials (0 when none runs); ``flex_fte_months`` = sum of flex FTE over
role-months; ``shortfall_fte_months`` = sum of the recomputed shortfall; and
``mean_utilisation`` = the pool's FTE-months assigned over its FTE-months available (each
person's FTE in each horizon month of their window off leave), as
:class:`~models.contract.plan.Kpis` states.

Role-months (``report_mismatch``) count everyone able to work the role, as
:class:`~models.contract.plan.RoleMonth` states: ``capacity`` the FTE of the people whose
primary or secondary role it is, available that month, ``capacity_primary`` of those whose
primary role it is, ``capacity_secondary`` the rest; ``assigned`` the FTE assigned in the
role, ``assigned_secondary`` of it by people for whom it is a secondary role; ``spare`` the
FTE those able to work it have on no trial that month; ``utilisation`` = ``assigned /
capacity`` (0 without capacity).

Money is reported to the cent and other figures to a millionth
(:mod:`models.contract.precision`): a reported sum of money may differ from the recomputed
one by a cent, any other figure by ``1e-3`` absolute or ``1e-6`` relative.

Bound and gap (``bound_mismatch``), for status ``optimal``/``feasible`` with an objective:
the ``best_bound`` may not lie on the wrong side of the reported objective (objective
``value`` is maximised, so ``bound >= objective``; the others are minimised, so ``bound
<= objective``), within the report tolerance below; ``gap`` must equal ``|objective -
bound| / max(1, |objective|)`` (:class:`~models.contract.plan.Plan`) of the reported objective and
bound, to 1e-6 absolute or relative; a gap without a bound, or a bound without a gap,
is a violation too. The contract does not say that status ``optimal`` means a gap
within ``settings.mip_gap``, so that is not checked.

A stopped trial (``stopped_from``) is checked as :func:`models.contract.stops.effective`
reads it, the one statement of what a stop means that the engine reads too.

Conventions the contract leaves open, fixed here so they are checked consistently:

* A running trial must be active inside the horizon (start index >= 0 and end index
  <= ``horizon.months - 1``): the plan reports role- and service-months only there.
* Per-month rules on the pool (coverage, missing role/service-month entries, service
  capacity) are checked on horizon months; a trial outside the horizon is reported
  by ``horizon``.
* Named FTE counts towards a trial's demand only in its active months and at most up
  to that demand; the excess is reported as ``trial_inactive`` or
  ``over_assignment``, and flex beyond the remaining demand as ``demand_coverage``.
* A trial pin's ``option``/``start`` bind only when the trial runs; ``run`` binds always.
* Under objectives ``cost`` and ``makespan`` optional trials do not run (the
  :class:`~models.contract.problem.Objective` docstring) unless the problem makes them: pinned to
  run, with a pinned assignment, started before ``frozen_until`` in the previous plan, or
  a predecessor (directly or not) of a trial that must run; any other running one is
  ``optional_excluded``.
* ``frozen_until`` applies only together with ``previous_plan``; "kept" means the
  current plan has at least the previous FTE for that person, trial and role in each
  frozen month (extra FTE on top is allowed, as for assignment pins).
* Reported numbers match when they differ by at most 1e-6 relative or 1e-3 absolute;
  caps (budget) are exceeded when spend is above them by more than the same margin;
  FTE and service limits are exceeded by more than ``tol * max(1, |limit|)``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from models.contract.plan import Assignment, Kpis, Plan, RoleMonth, ServiceMonth, TrialCost, TrialCoverage, TrialPlan
from models.contract.problem import ExecutionOption, Problem, Stage, Staff, Trial, is_month, month_at
from models.contract.stops import effective

FAILED_STATUSES = frozenset({"infeasible", "no_solution", "error"})
SOLVED_STATUSES = frozenset({"optimal", "feasible"})
REPORT_REL_TOL = 1e-6
REPORT_ABS_TOL = 1e-3
#: A cent, and a little for the float noise of the sum it was rounded from.
MONEY_ABS_TOL = 0.0101
#: The KPIs that are money.
_MONEY_KPIS = frozenset({"total_cost", "value_delivered"})
GAP_TOL = 1e-6

_Entry = TypeVar("_Entry", RoleMonth, ServiceMonth)


@dataclass(frozen=True)
class Violation:
    """One broken rule: a stable code, a readable reason, and where it happened."""

    rule: str
    message: str
    trial: str | None = None
    staff: str | None = None
    role: str | None = None
    month: str | None = None


@dataclass
class Recomputed:
    """Every number a plan reports, recomputed from the plan's decisions.

    Month keys are indices from ``horizon.start`` (see :meth:`Problem.month`). Role and
    service maps cover horizon months with a non-zero value (capacities: every horizon
    month of every role and service); trial maps cover every trial listed in the plan
    that the problem knows.
    """

    role_demand: dict[tuple[str, int], float] = field(default_factory=dict)
    role_assigned: dict[tuple[str, int], float] = field(default_factory=dict)
    role_capacity: dict[tuple[str, int], float] = field(default_factory=dict)
    role_capacity_primary: dict[tuple[str, int], float] = field(default_factory=dict)
    role_assigned_secondary: dict[tuple[str, int], float] = field(default_factory=dict)
    role_spare: dict[tuple[str, int], float] = field(default_factory=dict)
    person_assigned: dict[tuple[str, int], float] = field(default_factory=dict)
    staff_fte_months: float = 0.0
    role_flex: dict[tuple[str, int], float] = field(default_factory=dict)
    role_shortfall: dict[tuple[str, int], float] = field(default_factory=dict)
    service_used: dict[tuple[str, int], float] = field(default_factory=dict)
    service_capacity: dict[tuple[str, int], float] = field(default_factory=dict)
    spend_by_year: dict[str, float] = field(default_factory=dict)
    trial_end: dict[str, int] = field(default_factory=dict)
    trial_months_late: dict[str, int] = field(default_factory=dict)
    trial_cost: dict[str, TrialCost] = field(default_factory=dict)
    trial_coverage: dict[str, TrialCoverage] = field(default_factory=dict)
    trial_value: dict[str, float] = field(default_factory=dict)
    kpis: Kpis = field(default_factory=Kpis)
    objective: float = 0.0

    @property
    def total_spend(self) -> float:
        return sum(self.spend_by_year.values())


@dataclass(frozen=True)
class _Schedule:
    """A running trial's chosen option and active months [start, end] (indices)."""

    option: ExecutionOption
    start: int
    end: int
    stages: tuple[Stage, ...]  # the stage in force at each offset from start


@dataclass(frozen=True)
class _Block:
    """An assignment whose references and months are valid, with months as indices."""

    staff: Staff
    trial: str
    role: str
    start: int
    end: int
    fte: float


@dataclass
class _Required:
    """FTE a person must keep on a trial and role in months first..last (a pin or a frozen month)."""

    rule: str
    staff: str
    trial: str
    role: str
    first: int
    last: int
    fte: float
    what: str


def check_plan(problem: Problem, plan: Plan, tol: float = 1e-6) -> list[Violation]:
    """Every violation of the problem's rules by the plan, in a stable order.

    A plan that failed (status ``infeasible``, ``no_solution`` or ``error``) and claims
    nothing (no running trial, no assignment) is not a plan to check: ``[]``. A failed
    plan that does claim something is checked like any other.
    """
    if plan.status in FAILED_STATUSES and not plan.assignments and not any(t.run for t in plan.trials):
        return []
    checker = _Checker(effective(problem), plan, tol)
    checker.run()
    return checker.violations


def recompute(problem: Problem, plan: Plan, tol: float = 1e-6) -> Recomputed:
    """The numbers the plan should report, recomputed exactly as :func:`check_plan` does."""
    checker = _Checker(effective(problem), plan, tol)
    checker.run()
    return checker.out


def _close(reported: float, expected: float, absolute: float = REPORT_ABS_TOL) -> bool:
    """Reported numbers may carry solver noise and rounding: relative 1e-6 or ``absolute``
    (``MONEY_ABS_TOL`` for money, reported to the cent)."""
    return abs(reported - expected) <= max(absolute, REPORT_REL_TOL * max(abs(reported), abs(expected)))


def _over_cap(spend: float, cap: float) -> bool:
    """Money is compared with the same margin as reports, so rounding never breaks a budget."""
    return spend - cap > max(REPORT_ABS_TOL, REPORT_REL_TOL * abs(cap))


def forced_trials(problem: Problem) -> set[str]:
    """Trials the problem makes run: mandatory, pinned to run, with a pinned assignment,
    started before ``frozen_until`` in the previous plan, and their predecessors (B may
    run only if A runs). Under objectives ``cost`` and ``makespan`` these are the only
    trials that may run."""
    by_id = {t.id: t for t in problem.trials}
    must = {t.id for t in problem.trials if t.mandatory}
    must |= {pin.trial for pin in problem.pins.trials if pin.run}
    must |= {a.trial for a in problem.pins.assignments}
    if problem.pins.frozen_until is not None and problem.pins.previous_plan is not None:
        frozen = problem.index(problem.pins.frozen_until)
        must |= {t.id for t in problem.pins.previous_plan.trials
                 if t.run and t.start and is_month(t.start) and problem.index(t.start) < frozen}
    must &= set(by_id)
    stack = list(must)
    while stack:
        for pred in by_id[stack.pop()].predecessors:
            if pred.trial in by_id and pred.trial not in must:
                must.add(pred.trial)
                stack.append(pred.trial)
    return must


def cost_per_fte(staff: Staff) -> float:
    """Monthly cost of one assigned FTE: ``monthly_cost`` is the price of the person's full ``fte``."""
    return staff.monthly_cost / staff.fte if staff.fte > 0 else staff.monthly_cost


class _Checker:
    """One pass over a (problem, plan) pair: aggregates in dicts, so it is linear in plan size."""

    def __init__(self, problem: Problem, plan: Plan, tol: float) -> None:
        self.problem = problem
        self.plan = plan
        self.tol = tol
        self.violations: list[Violation] = []
        self.out = Recomputed()
        self._must_run: set[str] | None = None
        self.horizon = problem.horizon.months
        self.trials: dict[str, Trial] = {t.id: t for t in problem.trials}
        self.staff: dict[str, Staff] = {s.id: s for s in problem.staff}
        self.roles: set[str] = set(problem.roles)
        self.regional: set[str] = set(problem.regional_roles)
        self.unit_cost: dict[str, float] = {s.id: s.unit_cost for s in problem.services}
        self.flex_rate: dict[str, float] = {f.role: f.monthly_rate for f in problem.flex}
        self.flex_max: dict[str, float] = {f.role: f.max_fte for f in problem.flex}
        self.entries: dict[str, TrialPlan] = {}
        self.running: set[str] = set()
        self.schedules: dict[str, _Schedule] = {}
        self.blocks: list[_Block] = []
        self.trial_demand: dict[tuple[str, str, int], float] = defaultdict(float)
        self.named: dict[tuple[str, str, int], float] = defaultdict(float)
        self.trial_total_demand: dict[str, float] = defaultdict(float)
        # units per service over the horizon (monthly units and options' service_totals)
        self.volume_used: dict[str, float] = defaultdict(float)
        # per trial and part ("staff", "flex", "services", "external", "named", "flex_fte"): plain floats
        # in the loops, turned into TrialCost / TrialCoverage once per trial at the end
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.labels: dict[int, str] = {}

    # -- helpers -------------------------------------------------------------------

    def add(self, rule: str, message: str, *, trial: str | None = None, staff: str | None = None,
            role: str | None = None, month: int | None = None) -> None:
        self.violations.append(Violation(rule, message, trial, staff, role,
                                         None if month is None else self.label(month)))

    def label(self, index: int) -> str:
        """``YYYY-MM`` of a month index, cached because messages and years need it often."""
        text = self.labels.get(index)
        if text is None:
            text = self.labels[index] = month_at(self.problem.horizon.start, index)
        return text

    def year(self, index: int) -> str:
        return self.label(index)[:4]

    def over(self, value: float, limit: float) -> bool:
        return value > limit + self.tol * max(1.0, abs(limit))

    def spend(self, index: int, amount: float) -> None:
        year = self.year(index)
        self.out.spend_by_year[year] = self.out.spend_by_year.get(year, 0.0) + amount

    def in_horizon(self, index: int) -> bool:
        return 0 <= index < self.horizon

    # -- the pass ------------------------------------------------------------------

    def run(self) -> None:
        self.check_trials()
        self.check_predecessors()
        self.check_trial_pins()
        self.check_frozen_trials()
        self.accumulate_trial_demand()
        self.check_assignments()
        self.check_people()
        self.check_over_assignment()
        self.check_pinned_fte()
        self.compute_capacity()
        self.check_roles()
        self.check_services()
        self.check_service_volumes()
        self.check_budget()
        self.check_trial_reports()
        self.check_kpis()
        self.check_objective()
        self.check_bound()

    def check_trials(self) -> None:
        """Each problem trial exactly once; running ones with a valid option and schedule."""
        for entry in self.plan.trials:
            if entry.id not in self.trials:
                self.add("unknown_reference", f"plan lists trial {entry.id!r}, which the problem does not have",
                         trial=entry.id)
            elif entry.id in self.entries:
                self.add("duplicate", f"trial {entry.id!r} is listed more than once", trial=entry.id)
            else:
                self.entries[entry.id] = entry
        kind = self.problem.objective.kind
        for trial in self.problem.trials:
            entry = self.entries.get(trial.id)
            if entry is None:
                self.add("missing_trial", f"trial {trial.id!r} is not in the plan", trial=trial.id)
                continue
            if not entry.run:
                if trial.mandatory:
                    self.add("mandatory", f"mandatory trial {trial.id!r} does not run", trial=trial.id)
                self.out.trial_months_late[trial.id] = 0
                continue
            self.running.add(trial.id)
            if kind in ("cost", "makespan") and trial.id not in self.must_run():
                self.add("optional_excluded", f"optional trial {trial.id!r} runs under objective {kind!r}, "
                         "which runs mandatory trials only", trial=trial.id)
            schedule = self.schedule(trial, entry)
            if schedule is not None:
                self.schedules[trial.id] = schedule
                self.check_dates(trial, schedule)

    def must_run(self) -> set[str]:
        """Trials the problem makes run (:func:`forced_trials`), worked out once."""
        if self._must_run is None:
            self._must_run = forced_trials(self.problem)
        return self._must_run

    def schedule(self, trial: Trial, entry: TrialPlan) -> _Schedule | None:
        """The running trial's option and months; None (after a violation) when unusable."""
        option = next((o for o in trial.options if o.id == entry.option), None)
        if option is None:
            self.add("option", f"trial {trial.id!r} runs with option {entry.option!r}, which it does not have",
                     trial=trial.id)
            return None
        if entry.start is None or not is_month(entry.start):
            self.add("schedule", f"running trial {trial.id!r} has no valid start month ({entry.start!r})",
                     trial=trial.id)
            return None
        start = self.problem.index(entry.start)
        end = start + option.duration - 1
        if entry.end is None or not is_month(entry.end) or self.problem.index(entry.end) != end:
            self.add("schedule", f"trial {trial.id!r} starts {entry.start} with option {option.id!r} "
                     f"({option.duration} months) so ends {self.label(end)}, not {entry.end!r}",
                     trial=trial.id, month=end)
        stages = tuple(stage for stage in option.stages for _ in range(stage.months))
        self.out.trial_end[trial.id] = end
        return _Schedule(option, start, end, stages)

    def check_dates(self, trial: Trial, schedule: _Schedule) -> None:
        """Horizon, start window, deadline, and the months late the plan reports."""
        if schedule.start < 0 or schedule.end >= self.horizon:
            self.add("horizon", f"trial {trial.id!r} is active {self.label(schedule.start)}.."
                     f"{self.label(schedule.end)}, "
                     f"outside the horizon {self.label(0)}..{self.label(self.horizon - 1)}",
                     trial=trial.id, month=schedule.start if schedule.start < 0 else schedule.end)
        if trial.earliest_start is not None and schedule.start < self.problem.index(trial.earliest_start):
            self.add("window", f"trial {trial.id!r} starts {self.label(schedule.start)}, before its earliest "
                     f"start {trial.earliest_start}", trial=trial.id, month=schedule.start)
        if trial.latest_start is not None and schedule.start > self.problem.index(trial.latest_start):
            self.add("window", f"trial {trial.id!r} starts {self.label(schedule.start)}, after its latest "
                     f"start {trial.latest_start}", trial=trial.id, month=schedule.start)
        late = 0
        if trial.deadline is not None:
            late = max(0, schedule.end - self.problem.index(trial.deadline))
        self.out.trial_months_late[trial.id] = late
        if late and trial.mandatory and self.problem.objective.kind == "cost":
            self.add("deadline", f"mandatory trial {trial.id!r} ends {self.label(schedule.end)}, {late} month(s) "
                     f"after its deadline {trial.deadline}; objective 'cost' allows no lateness",
                     trial=trial.id, month=schedule.end)

    def check_predecessors(self) -> None:
        """B runs only if A runs, and starts at least ``lag`` whole months after A's last month."""
        for trial_id, schedule in self.schedules.items():
            for pred in self.trials[trial_id].predecessors:
                if pred.trial not in self.trials:
                    continue  # a problem error, reported by validation, not a plan error
                if pred.trial not in self.running:
                    self.add("predecessor", f"trial {trial_id!r} runs but its predecessor {pred.trial!r} does not",
                             trial=trial_id)
                    continue
                before = self.schedules.get(pred.trial)
                if before is not None and schedule.start < before.end + 1 + pred.lag:
                    self.add("predecessor", f"trial {trial_id!r} starts {self.label(schedule.start)}; predecessor "
                             f"{pred.trial!r} ends {self.label(before.end)} with lag {pred.lag}, so the earliest "
                             f"start is {self.label(before.end + 1 + pred.lag)}", trial=trial_id,
                             month=schedule.start)

    def check_trial_pins(self) -> None:
        """``pins.trials``: run always binds; option and start bind when the trial runs."""
        for pin in self.problem.pins.trials:
            entry = self.entries.get(pin.trial)
            if entry is None:
                continue  # missing or unknown trial: already reported
            if pin.run is not None and entry.run != pin.run:
                self.add("pin", f"trial {pin.trial!r} is pinned run={pin.run} but the plan has run={entry.run}",
                         trial=pin.trial)
            if not entry.run:
                continue
            if pin.option is not None and entry.option != pin.option:
                self.add("pin", f"trial {pin.trial!r} is pinned to option {pin.option!r}, plan has "
                         f"{entry.option!r}", trial=pin.trial)
            if pin.start is not None and entry.start != pin.start:
                self.add("pin", f"trial {pin.trial!r} is pinned to start {pin.start}, plan has {entry.start!r}",
                         trial=pin.trial)

    def check_frozen_trials(self) -> None:
        """Trials started before ``frozen_until`` in the previous plan keep option and start;
        others may not start before it."""
        pins = self.problem.pins
        if pins.frozen_until is None or pins.previous_plan is None:
            return
        frozen = self.problem.index(pins.frozen_until)
        previous: dict[str, TrialPlan] = {}
        for entry in pins.previous_plan.trials:
            previous.setdefault(entry.id, entry)
        for trial in self.problem.trials:
            before = previous.get(trial.id)
            entry = self.entries.get(trial.id)
            started = (before is not None and before.run and before.start is not None and is_month(before.start)
                       and self.problem.index(before.start) < frozen)
            if started:
                if entry is None or not entry.run or entry.option != before.option or entry.start != before.start:
                    self.add("frozen", f"trial {trial.id!r} had started ({before.start}, option {before.option!r}) "
                             f"before the freeze at {pins.frozen_until} and must keep that option and start",
                             trial=trial.id)
            elif trial.id in self.schedules and self.schedules[trial.id].start < frozen:
                self.add("frozen", f"trial {trial.id!r} had not started by {pins.frozen_until} in the previous "
                         f"plan and may not start before it (starts {self.label(self.schedules[trial.id].start)})",
                         trial=trial.id, month=self.schedules[trial.id].start)

    def accumulate_trial_demand(self) -> None:
        """Demand, service use and the option's fixed cost of every scheduled trial, month by month."""
        for trial_id, schedule in self.schedules.items():
            self.sums[(trial_id, "external")] += schedule.option.fixed_cost
            months = max(1, len(schedule.stages))  # an option without stages (invalid) pays in its start month
            for offset in range(months):
                self.spend(schedule.start + offset, schedule.option.fixed_cost / months)
            for offset, stage in enumerate(schedule.stages):
                month = schedule.start + offset
                for role, fte in stage.demand.items():
                    self.trial_demand[(trial_id, role, month)] += fte
                    self.trial_total_demand[trial_id] += fte
                    if self.in_horizon(month):
                        self.out.role_demand[(role, month)] = self.out.role_demand.get((role, month), 0.0) + fte
                for service, units in stage.services.items():
                    amount = units * self.unit_cost.get(service, 0.0)
                    self.sums[(trial_id, "services")] += amount
                    self.spend(month, amount)
                    self.volume_used[service] += units
                    if self.in_horizon(month):
                        key = (service, month)
                        self.out.service_used[key] = self.out.service_used.get(key, 0.0) + units
            for service, units in schedule.option.service_totals.items():
                # Units in no particular month: against the contract volume; paid like the fixed cost.
                amount = units * self.unit_cost.get(service, 0.0)
                self.sums[(trial_id, "services")] += amount
                for offset in range(months):
                    self.spend(schedule.start + offset, amount / months)
                self.volume_used[service] += units

    def check_assignments(self) -> None:
        """Per-assignment rules (references, months, role, skills, region, trial activity,
        availability, leave); valid blocks are kept for the per-month totals and costs."""
        for assignment in self.plan.assignments:
            block = self.block(assignment)
            if block is None:
                continue
            self.blocks.append(block)
            self.check_block(block)
            monthly = cost_per_fte(block.staff) * block.fte
            self.sums[(block.trial, "staff")] += monthly * (block.end - block.start + 1)
            schedule = self.schedules.get(block.trial)
            for month in range(block.start, block.end + 1):
                self.spend(month, monthly)
                if self.in_horizon(month):
                    key = (block.role, month)
                    self.out.role_assigned[key] = self.out.role_assigned.get(key, 0.0) + block.fte
                    if block.role != block.staff.role:
                        self.out.role_assigned_secondary[key] = self.out.role_assigned_secondary.get(key, 0.0) + block.fte
                    who = (block.staff.id, month)
                    self.out.person_assigned[who] = self.out.person_assigned.get(who, 0.0) + block.fte
                if schedule is not None and schedule.start <= month <= schedule.end:
                    self.named[(block.trial, block.role, month)] += block.fte

    def block(self, assignment: Assignment) -> _Block | None:
        """The assignment with resolved references and month indices, or None after a violation."""
        staff = self.staff.get(assignment.staff)
        unknown = [f"{what} {name!r}" for what, name, known in (
            ("staff", assignment.staff, staff is not None),
            ("trial", assignment.trial, assignment.trial in self.trials),
            ("role", assignment.role, assignment.role in self.roles)) if not known]
        if unknown or staff is None:
            self.add("unknown_reference", f"assignment refers to unknown {', '.join(unknown)}",
                     trial=assignment.trial, staff=assignment.staff, role=assignment.role)
            return None
        if not is_month(assignment.start) or not is_month(assignment.end) or assignment.start > assignment.end:
            self.add("assignment_range", f"assignment of {assignment.staff!r} to {assignment.trial!r} runs "
                     f"{assignment.start!r}..{assignment.end!r}, not a month range",
                     trial=assignment.trial, staff=assignment.staff, role=assignment.role)
            return None
        start, end = self.problem.index(assignment.start), self.problem.index(assignment.end)
        if start < 0 or end >= self.horizon:
            self.add("horizon", f"assignment of {assignment.staff!r} to {assignment.trial!r} runs "
                     f"{assignment.start}..{assignment.end}, beyond the horizon {self.label(0)}.."
                     f"{self.label(self.horizon - 1)}; only its horizon months are counted",
                     trial=assignment.trial, staff=assignment.staff, role=assignment.role,
                     month=start if start < 0 else end)
            start, end = max(start, 0), min(end, self.horizon - 1)
            if start > end:
                return None
        return _Block(staff, assignment.trial, assignment.role, start, end, assignment.fte)

    def check_block(self, block: _Block) -> None:
        person, trial = block.staff, self.trials[block.trial]
        where = {"trial": block.trial, "staff": person.id, "role": block.role}
        if block.role != person.role and block.role not in person.secondary_roles:
            self.add("role_match", f"{person.id!r} serves {block.trial!r} as {block.role!r}, which is neither "
                     f"their role {person.role!r} nor a secondary role", **where)
        missing = sorted(set(trial.required_skills.get(block.role, [])) - set(person.skills))
        if missing:
            self.add("skill_match", f"{person.id!r} lacks skill(s) {missing} that {block.trial!r} requires of "
                     f"{block.role!r}", **where)
        if block.role in self.regional and trial.regions and person.region not in trial.regions:
            self.add("region_match", f"{person.id!r} is in region {person.region!r}; {block.trial!r} runs in "
                     f"{trial.regions} and {block.role!r} is a regional role", **where)
        schedule = self.schedules.get(block.trial)
        if block.trial not in self.running:
            self.add("trial_inactive", f"{person.id!r} is assigned to {block.trial!r}, which does not run",
                     month=block.start, **where)
        elif schedule is not None and (block.start < schedule.start or block.end > schedule.end):
            outside = block.start if block.start < schedule.start else block.end
            self.add("trial_inactive", f"assignment of {person.id!r} runs {self.label(block.start)}.."
                     f"{self.label(block.end)} but {block.trial!r} is active only {self.label(schedule.start)}.."
                     f"{self.label(schedule.end)}", month=outside, **where)
        if person.available_from is not None and block.start < self.problem.index(person.available_from):
            self.add("availability", f"{person.id!r} is available from {person.available_from}, assigned from "
                     f"{self.label(block.start)}", month=block.start, **where)
        if person.available_to is not None and block.end > self.problem.index(person.available_to):
            self.add("availability", f"{person.id!r} is available until {person.available_to}, assigned until "
                     f"{self.label(block.end)}", month=block.end, **where)
        for leave in person.leave:
            month = self.problem.index(leave)
            if block.start <= month <= block.end:
                self.add("leave", f"{person.id!r} is on leave in {leave} but assigned to {block.trial!r}",
                         month=month, **where)

    def check_people(self) -> None:
        """Per person and month: total FTE within ``fte``, distinct trials within the limit."""
        by_person: dict[str, list[_Block]] = defaultdict(list)
        for block in self.blocks:
            by_person[block.staff.id].append(block)
        for blocks in by_person.values():
            person = blocks[0].staff
            load: dict[int, float] = defaultdict(float)
            trials: dict[int, set[str]] = defaultdict(set)
            for block in blocks:
                for month in range(block.start, block.end + 1):
                    load[month] += block.fte
                    trials[month].add(block.trial)
            for month in sorted(load):
                if self.over(load[month], person.fte):
                    self.add("staff_capacity", f"{person.id!r} works {load[month]:.4g} FTE in "
                             f"{self.label(month)}, above their {person.fte:.4g}", staff=person.id, month=month)
                if len(trials[month]) > person.max_concurrent_trials:
                    self.add("max_concurrent_trials", f"{person.id!r} works on {len(trials[month])} trials in "
                             f"{self.label(month)}, above their limit {person.max_concurrent_trials}",
                             staff=person.id, month=month)

    def check_over_assignment(self) -> None:
        """Named FTE for a trial, role and month never exceeds that trial's demand."""
        for (trial, role, month), fte in self.named.items():
            demand = self.trial_demand.get((trial, role, month), 0.0)
            if self.over(fte, demand):
                self.add("over_assignment", f"{fte:.4g} FTE of {role!r} named on {trial!r} in {self.label(month)}, "
                         f"above its demand {demand:.4g}", trial=trial, role=role, month=month)

    def check_pinned_fte(self) -> None:
        """Pinned assignments, and previous assignments in frozen months, are present with at least
        their FTE for the same person, trial and role in every horizon month they cover."""
        pins = self.problem.pins
        required = [_Required("pin", pin.staff, pin.trial, pin.role, self.problem.index(pin.start),
                              self.problem.index(pin.end), pin.fte, f"pinned assignment {pin.start}..{pin.end}")
                    for pin in pins.assignments]
        if pins.frozen_until is not None and pins.previous_plan is not None:
            frozen = self.problem.index(pins.frozen_until)
            required += [_Required("frozen", old.staff, old.trial, old.role, self.problem.index(old.start),
                                   min(self.problem.index(old.end), frozen - 1), old.fte,
                                   f"previous assignment {old.start}..{old.end} frozen until {pins.frozen_until}")
                         for old in pins.previous_plan.assignments if is_month(old.start) and is_month(old.end)]
        if not required:
            return
        have: dict[tuple[str, str, str, int], float] = {}
        for need in required:
            need.first, need.last = max(need.first, 0), min(need.last, self.horizon - 1)
            for month in range(need.first, need.last + 1):
                have[(need.staff, need.trial, need.role, month)] = 0.0
        for block in self.blocks:
            for month in range(block.start, block.end + 1):
                key = (block.staff.id, block.trial, block.role, month)
                if key in have:
                    have[key] += block.fte
        for need in required:
            short = next((m for m in range(need.first, need.last + 1)
                          if have[(need.staff, need.trial, need.role, m)] < need.fte - self.tol), None)
            if short is not None:
                self.add(need.rule, f"{need.what}: {need.staff!r} has "
                         f"{have[(need.staff, need.trial, need.role, short)]:.4g} FTE on {need.trial!r} as "
                         f"{need.role!r} in {self.label(short)}, needs {need.fte:.4g}",
                         trial=need.trial, staff=need.staff, role=need.role, month=short)

    def compute_capacity(self) -> None:
        """Per role and month, the FTE of everyone able to work it (primary or secondary role)
        and available (window, no leave), of which primary; the FTE those people have left
        unassigned; the pool's available FTE-months."""
        out = self.out
        for role in self.problem.roles:
            for month in range(self.horizon):
                out.role_capacity[(role, month)] = 0.0
        for person in self.problem.staff:
            first = 0 if person.available_from is None else max(0, self.problem.index(person.available_from))
            last = self.horizon - 1 if person.available_to is None else min(
                self.horizon - 1, self.problem.index(person.available_to))
            leave = {self.problem.index(month) for month in person.leave}
            roles = {person.role, *person.secondary_roles}
            for month in range(first, last + 1):
                if month in leave:
                    continue
                out.staff_fte_months += person.fte
                free = max(0.0, person.fte - out.person_assigned.get((person.id, month), 0.0))
                primary = (person.role, month)
                out.role_capacity_primary[primary] = out.role_capacity_primary.get(primary, 0.0) + person.fte
                for role in roles:
                    key = (role, month)
                    out.role_capacity[key] = out.role_capacity.get(key, 0.0) + person.fte
                    out.role_spare[key] = out.role_spare.get(key, 0.0) + free

    def reported_entries(self, entries: list[_Entry], known: set[str], what: str) -> dict[tuple[str, int], _Entry]:
        """Reported role- or service-months by (id, month index); bad or repeated entries reported."""
        found: dict[tuple[str, int], _Entry] = {}
        for entry in entries:
            name = entry.role if isinstance(entry, RoleMonth) else entry.service
            role = name if isinstance(entry, RoleMonth) else None
            month = self.problem.index(entry.month) if is_month(entry.month) else -1
            if name not in known or not self.in_horizon(month):
                self.add("unknown_reference", f"{what} entry {name!r} {entry.month!r}: unknown id or a month "
                         "outside the horizon", role=role)
            elif (name, month) in found:
                self.add("duplicate", f"{what} entry {name!r} {entry.month} is repeated", role=role, month=month)
            else:
                found[(name, month)] = entry
        return found

    def check_roles(self) -> None:
        """Flex limits, demand coverage, and the role-month report."""
        reported = self.reported_entries(self.plan.role_months, self.roles, "role_months")
        for (role, month), entry in reported.items():
            self.out.role_flex[(role, month)] = entry.flex
            limit = self.flex_max.get(role, 0.0)
            if entry.flex < -self.tol or self.over(entry.flex, limit):
                self.add("flex_limit", f"flex of {role!r} in {entry.month} is {entry.flex:.4g} FTE; allowed "
                         f"0..{limit:.4g}", role=role, month=month)
            amount = entry.flex * self.flex_rate.get(role, 0.0)
            self.spend(month, amount)
        covered: dict[tuple[str, int], float] = defaultdict(float)
        uncovered: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
        for (trial, role, month), demand in self.trial_demand.items():
            named = min(demand, self.named.get((trial, role, month), 0.0))
            covered[(role, month)] += named
            self.sums[(trial, "named")] += named
            if demand - named > 0:
                uncovered[(role, month)].append((trial, demand - named))
        shortfall_allowed = self.problem.objective.weights.shortfall is not None
        keys = set(self.out.role_demand) | set(self.out.role_flex)
        for key in sorted(keys):
            role, month = key
            demand = self.out.role_demand.get(key, 0.0)
            flex = self.out.role_flex.get(key, 0.0)
            gap = demand - covered.get(key, 0.0) - flex
            self.attribute_flex(key, flex, uncovered.get(key, []))
            if gap < -self.tol:
                self.add("demand_coverage", f"{role!r} in {self.label(month)}: flex {flex:.4g} exceeds the demand "
                         f"left after named staff by {-gap:.4g} FTE", role=role, month=month)
            elif gap > self.tol:
                self.out.role_shortfall[key] = gap
                if not shortfall_allowed:
                    self.add("demand_coverage", f"{role!r} in {self.label(month)}: {gap:.4g} FTE of demand uncovered "
                             "and the objective sets no shortfall price", role=role, month=month)
        self.check_role_report(reported)

    def attribute_flex(self, key: tuple[str, int], flex: float, shares: list[tuple[str, float]]) -> None:
        """Flex cost and coverage go to trials pro rata to their uncovered demand of that role-month."""
        total = sum(share for _, share in shares)
        if flex <= 0 or total <= 0:
            return
        rate = self.flex_rate.get(key[0], 0.0)
        used = min(flex, total)
        for trial, share in shares:
            self.sums[(trial, "flex")] += flex * rate * share / total
            self.sums[(trial, "flex_fte")] += used * share / total

    def check_role_report(self, reported: dict[tuple[str, int], RoleMonth]) -> None:
        out = self.out
        for key in sorted(set(reported) | {k for k, v in out.role_demand.items() if abs(v) > self.tol}
                          | {k for k, v in out.role_assigned.items() if abs(v) > self.tol}):
            role, month = key
            entry = reported.get(key)
            if entry is None:
                self.add("report_mismatch", f"no role_months entry for {role!r} in {self.label(month)}, which has "
                         f"demand {out.role_demand.get(key, 0.0):.4g} and assigned "
                         f"{out.role_assigned.get(key, 0.0):.4g}", role=role, month=month)
                continue
            capacity = out.role_capacity.get(key, 0.0)
            assigned = out.role_assigned.get(key, 0.0)
            primary = out.role_capacity_primary.get(key, 0.0)
            expected = {
                "demand": out.role_demand.get(key, 0.0),
                "assigned": assigned,
                "assigned_secondary": out.role_assigned_secondary.get(key, 0.0),
                "capacity": capacity,
                "capacity_primary": primary,
                "capacity_secondary": capacity - primary,
                "spare": out.role_spare.get(key, 0.0),
                "shortfall": out.role_shortfall.get(key, 0.0),
                "utilisation": assigned / capacity if capacity > 0 else 0.0,
            }
            for name, value in expected.items():
                if not _close(getattr(entry, name), value):
                    self.add("report_mismatch", f"role_months {role!r} {entry.month}: {name} reported "
                             f"{getattr(entry, name):.6g}, recomputed {value:.6g}", role=role, month=month)

    def check_services(self) -> None:
        """Units used per service and month within capacity; the service-month report."""
        services = {s.id: s for s in self.problem.services}
        for service in self.problem.services:
            for month in range(self.horizon):
                capacity = service.capacity
                if isinstance(capacity, list):
                    capacity = capacity[month] if month < len(capacity) else 0.0
                self.out.service_capacity[(service.id, month)] = capacity
        reported = self.reported_entries(self.plan.service_months, set(services), "service_months")
        for key in sorted(set(reported) | {k for k, v in self.out.service_used.items() if k[0] in services}):
            name, month = key
            used = self.out.service_used.get(key, 0.0)
            capacity = self.out.service_capacity[key]
            if self.over(used, capacity):
                self.add("service_capacity", f"service {name!r} uses {used:.4g} units in {self.label(month)}, "
                         f"capacity {capacity:.4g}", month=month)
            entry = reported.get(key)
            if entry is None:
                if abs(used) > self.tol:
                    self.add("report_mismatch", f"no service_months entry for {name!r} in {self.label(month)}, "
                             f"which uses {used:.4g} units", month=month)
                continue
            for what, reported_value, value in (("used", entry.used, used), ("capacity", entry.capacity, capacity)):
                if not _close(reported_value, value):
                    self.add("report_mismatch", f"service_months {name!r} {entry.month}: {what} reported "
                             f"{reported_value:.6g}, recomputed {value:.6g}", month=month)

    def check_service_volumes(self) -> None:
        """Units used over the horizon within each contract volume; the service-volume report."""
        volumes = {s.id: s.contract_volume for s in self.problem.services if s.contract_volume is not None}
        reported: dict[str, tuple[float, float]] = {}
        for entry in self.plan.service_volumes:
            if entry.service not in volumes:
                self.add("report_mismatch", f"service_volumes names {entry.service!r}, which has no contract volume")
            elif entry.service in reported:
                self.add("duplicate", f"service_volumes lists {entry.service!r} twice")
            reported[entry.service] = (entry.used, entry.contract_volume)
        for service, volume in volumes.items():
            used = self.volume_used.get(service, 0.0)
            if self.over(used, volume):
                self.add("service_volume", f"service {service!r} uses {used:.6g} units over the horizon, "
                         f"contract volume {volume:.6g}")
            if service not in reported:
                self.add("report_mismatch", f"no service_volumes entry for {service!r}, which has a contract volume")
            elif not (_close(reported[service][0], used) and _close(reported[service][1], volume)):
                self.add("report_mismatch", f"service_volumes {service!r}: reported {reported[service][0]:.6g} of "
                         f"{reported[service][1]:.6g}, recomputed {used:.6g} of {volume:.6g}")

    def check_budget(self) -> None:
        """Spend per calendar year and in total within the budget; the budget report."""
        budget, report = self.problem.budget, self.plan.budget
        spend = self.out.spend_by_year
        for year in sorted(spend):
            cap = budget.per_year.get(year)
            if cap is not None and _over_cap(spend[year], cap):
                self.add("budget_year", f"spend in {year} is {spend[year]:.2f}, above its budget {cap:.2f}")
        if budget.total is not None and _over_cap(self.out.total_spend, budget.total):
            self.add("budget_total", f"total spend {self.out.total_spend:.2f} is above the budget {budget.total:.2f}")
        seen: set[str] = set()
        for line in report.per_year:
            if line.year in seen:
                self.add("duplicate", f"budget year {line.year!r} is reported more than once")
                continue
            seen.add(line.year)
            if not _close(line.spend, spend.get(line.year, 0.0), MONEY_ABS_TOL):
                self.add("report_mismatch", f"spend in {line.year} reported {line.spend:.2f}, recomputed "
                         f"{spend.get(line.year, 0.0):.2f}")
            if line.budget != budget.per_year.get(line.year):
                self.add("report_mismatch", f"budget of {line.year} reported {line.budget}, problem has "
                         f"{budget.per_year.get(line.year)}")
        for year in sorted(set(spend) - seen):
            if not _close(0.0, spend[year], MONEY_ABS_TOL):
                self.add("report_mismatch", f"no budget line for {year}, which has spend {spend[year]:.2f}")
        if not _close(report.total, self.out.total_spend, MONEY_ABS_TOL):
            self.add("report_mismatch", f"total spend reported {report.total:.2f}, recomputed "
                     f"{self.out.total_spend:.2f}")
        if report.total_budget != budget.total:
            self.add("report_mismatch", f"total budget reported {report.total_budget}, problem has {budget.total}")

    def check_trial_reports(self) -> None:
        """Per trial: end and months late, cost = sum of its split, split and coverage as recomputed."""
        for trial_id, entry in self.entries.items():
            where = {"trial": trial_id}
            late = self.out.trial_months_late.get(trial_id)
            if late is not None and entry.months_late != late:
                self.add("report_mismatch", f"trial {trial_id!r} reports {entry.months_late} month(s) late, "
                         f"recomputed {late}", **where)
            if not _close(entry.cost, entry.cost_split.total, MONEY_ABS_TOL * 4):
                self.add("report_mismatch", f"trial {trial_id!r} reports cost {entry.cost:.2f} but its split sums "
                         f"to {entry.cost_split.total:.2f}", **where)
            sums = {part: self.sums.get((trial_id, part), 0.0)
                    for part in ("staff", "flex", "services", "external", "named", "flex_fte")}
            cost = self.out.trial_cost[trial_id] = TrialCost(
                staff=sums["staff"], flex=sums["flex"], services=sums["services"], external=sums["external"])
            coverage = self.out.trial_coverage[trial_id] = TrialCoverage(
                named=sums["named"], flex=sums["flex_fte"],
                uncovered=self.trial_total_demand.get(trial_id, 0.0) - sums["named"] - sums["flex_fte"])
            for part in ("staff", "flex", "services", "external"):
                if not _close(getattr(entry.cost_split, part), getattr(cost, part), MONEY_ABS_TOL):
                    self.add("report_mismatch", f"trial {trial_id!r} {part} cost reported "
                             f"{getattr(entry.cost_split, part):.2f}, recomputed {getattr(cost, part):.2f}", **where)
            for part in ("named", "flex", "uncovered"):
                if not _close(getattr(entry.coverage, part), getattr(coverage, part)):
                    self.add("report_mismatch", f"trial {trial_id!r} {part} FTE-months reported "
                             f"{getattr(entry.coverage, part):.4g}, recomputed {getattr(coverage, part):.4g}",
                             **where)

    # -- value, KPIs, objective, bound ---------------------------------------------

    def delivered(self, trial_id: str) -> float:
        """A scheduled trial's value discounted for each month of delay after its earliest start
        (after the horizon start when it has none); 0 for a trial that does not run."""
        schedule = self.schedules.get(trial_id)
        if schedule is None:
            return 0.0
        trial = self.trials[trial_id]
        earliest = 0 if trial.earliest_start is None else self.problem.index(trial.earliest_start)
        delay = max(0, schedule.start - earliest)
        return trial.value * (1.0 - self.problem.objective.discount_rate) ** delay

    def check_kpis(self) -> None:
        """Each trial's discounted value and the plan's KPIs, as recomputed."""
        out = self.out
        for trial_id, entry in self.entries.items():
            value = out.trial_value[trial_id] = self.delivered(trial_id)
            if not _close(entry.value, value, MONEY_ABS_TOL):
                self.add("report_mismatch", f"trial {trial_id!r} reports value {entry.value:.2f}, recomputed "
                         f"{value:.2f}", trial=trial_id)
        worked = sum(out.person_assigned.values())
        out.kpis = Kpis(
            total_cost=out.total_spend,
            value_delivered=sum(out.trial_value.get(t, 0.0) for t in self.schedules),
            trials_run=len(self.running),
            trials_on_time=sum(1 for t in self.schedules if out.trial_months_late.get(t, 0) == 0),
            mean_utilisation=worked / out.staff_fte_months if out.staff_fte_months > 0 else 0.0,
            makespan_months=self.makespan(),
            flex_fte_months=sum(out.role_flex.values()),
            shortfall_fte_months=sum(out.role_shortfall.values()),
        )
        reported = self.plan.kpis
        for name in Kpis.model_fields:
            have, want = getattr(reported, name), getattr(out.kpis, name)
            same = have == want if isinstance(want, int) else _close(have, want, MONEY_ABS_TOL if name in _MONEY_KPIS else REPORT_ABS_TOL)
            if not same:
                self.add("report_mismatch", f"KPI {name} reported {have:.6g}, recomputed {want:.6g}")

    def makespan(self) -> int:
        """Months from the horizon start to the end of the last running trial (0 when none runs)."""
        return max((schedule.end + 1 for schedule in self.schedules.values()), default=0)

    def money(self) -> float:
        """Costs and penalties: spend + tardiness + priced shortfall + fragmentation."""
        objective = self.problem.objective
        weights = objective.weights
        tardiness = sum(self.out.trial_months_late.get(t, 0) * self.trials[t].tardiness_penalty
                        for t in self.schedules) * weights.tardiness
        shortfall = sum(self.out.role_shortfall.values()) * (weights.shortfall or 0.0)
        pairs = len({(block.staff.id, block.trial) for block in self.blocks})
        return self.out.total_spend + tardiness + shortfall + weights.fragmentation * pairs

    def objective_value(self) -> float:
        """The documented formula of the problem's objective kind, applied to the plan."""
        objective = self.problem.objective
        money = self.money()
        if objective.kind == "value":
            return sum(self.out.trial_value.get(t, 0.0) for t in self.schedules) - money
        if objective.kind == "cost":
            return money
        if objective.kind == "makespan":
            return self.makespan() + objective.penalty_scale * money
        every_value_zero = all(t.value == 0 for t in self.problem.trials)
        completion = 0.0
        for trial in self.problem.trials:
            schedule = self.schedules.get(trial.id)
            end = schedule.end if schedule is not None else self.horizon  # not run: one month after the horizon
            completion += (1.0 if every_value_zero else trial.value) * (end + 1)
        return completion + objective.penalty_scale * money

    def check_objective(self) -> None:
        self.out.objective = self.objective_value()
        reported = self.plan.objective
        if self.plan.status not in SOLVED_STATUSES or reported is None:
            return
        if not _close(reported, self.out.objective, MONEY_ABS_TOL if self.problem.objective.kind in ("value", "cost") else REPORT_ABS_TOL):
            self.add("objective_mismatch", f"objective ({self.problem.objective.kind}) reported {reported:.6f}, "
                     f"recomputed {self.out.objective:.6f}")

    def check_bound(self) -> None:
        """The bound lies on the right side of the reported objective; the gap is the documented ratio."""
        plan = self.plan
        objective, bound, gap = plan.objective, plan.best_bound, plan.gap
        if plan.status not in SOLVED_STATUSES or objective is None:
            return
        if bound is None:
            if gap is not None:
                self.add("bound_mismatch", f"gap {gap:.6g} reported without a best bound")
            return
        margin = max(REPORT_ABS_TOL, REPORT_REL_TOL * max(abs(objective), abs(bound)))
        if self.problem.objective.kind == "value":
            if bound < objective - margin:
                self.add("bound_mismatch", f"best bound {bound:.6f} is below the objective {objective:.6f}, "
                         "which objective 'value' maximises")
        elif bound > objective + margin:
            self.add("bound_mismatch", f"best bound {bound:.6f} is above the objective {objective:.6f}, which "
                     f"objective {self.problem.objective.kind!r} minimises")
        expected = abs(objective - bound) / max(1.0, abs(objective))
        if gap is None:
            self.add("bound_mismatch", f"best bound {bound:.6f} reported without a gap (expected {expected:.6g})")
        elif abs(gap - expected) > max(GAP_TOL, GAP_TOL * abs(expected)):
            self.add("bound_mismatch", f"gap reported {gap:.6g}, but |objective - bound| / max(1, |objective|) "
                     f"= {expected:.6g}")

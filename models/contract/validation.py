"""Semantic validation of a problem: the rules pydantic cannot express (SPEC §2).

:func:`semantic_errors` runs after pydantic has accepted the structure (see
:func:`models.contract.validation.parse_problem`) and returns **every** error it finds, each with
a JSON field path rendered like pydantic's locations (``trials[3].options[0].stages[1]
.demand.CRX``) and a message giving the reason and the offending value.

JSON text (:func:`parse_strict`) is read past a leading UTF-8 byte order mark; UTF-16 text is
refused at ``$`` by name, and a key repeated in one object at its path (with the structure
errors, since the parser would keep its last value silently).

Rules (a path in brackets is where the error is reported):

Horizon
    * Its last month is at most 9999-12 [``horizon.months``]: plan months are ``YYYY-MM``.

Identifiers and references
    * Duplicate ids: roles [``roles[i]``], staff, services, trials [``...[i].id``],
      options within a trial [``trials[i].options[j].id``], flex entries per role
      [``flex[i].role``], trial pins per trial [``pins.trials[i].trial``], a person's
      secondary roles [``staff[i].secondary_roles[j]``] (a secondary role equal to the
      primary one is redundant, not an error).
    * Unknown references: ``regional_roles``, staff ``role`` / ``secondary_roles``,
      ``flex[i].role``, stage demand roles and service ids (the dict key is the last
      path element), ``required_skills`` role keys, predecessor trials, and every
      reference in ``pins`` (trial, option, staff, role) and in ``pins.previous_plan``.
    * A role demanded (with FTE > 0) by some stage that no staff member serves
      (primary or secondary role) and no flex entry with ``max_fte > 0`` covers, is an
      error at its first demand, unless ``objective.weights.shortfall`` is set (then
      the demand may legitimately go uncovered at that price). A required *skill*
      that nobody holds is not an error: flex may cover the demand.

Numbers
    * Every number is finite (JSON ``NaN``/``Infinity`` are accepted by the parser).
    * Staff ``fte`` is in ``(0, 1]``; stage demand FTE and service units are ``>= 0``;
      a service capacity is ``>= 0``, and a capacity series has exactly
      ``horizon.months`` values.
    * ``budget.per_year`` keys are four-digit calendar years (ASCII digits) with a month in
      the horizon: a cap for another year would never apply, which is a typo (``1999``).
    * Every magnitude is inside the limits below (error at the field, naming the limit).

Magnitudes
    HiGHS works in double precision with absolute tolerances (1e-6 to 1e-9), and the
    engine reads FTE back with an absolute tolerance of 1e-6
    (``EngineSettings.tolerance``), so a number far outside the range of any real
    portfolio is refused here instead of reaching the solver. Money is in the
    problem's currency unit; the limits assume a unit worth roughly 0.005 to 2 EUR
    (EUR, USD, GBP, CHF, CNY, JPY, ...); for a currency with much smaller units,
    plan in thousands. Each limit is inclusive (a number equal to it is accepted):

    ==========================================  =============  ==========================
    field                                       limit          unit
    ==========================================  =============  ==========================
    ``staff[i].monthly_cost / staff[i].fte``    <= 1e8         per full-time month
    ``staff[i].fte``                            >= 1e-3        FTE (and <= 1, as above)
    ``pins.assignments[i].fte``                 >= 1e-3        FTE
    ``flex[i].monthly_rate``                    <= 1e8         per FTE-month
    ``flex[i].max_fte``                         0 or 1e-3..1e5 FTE
    ``services[i].unit_cost``                   <= 1e8         per unit
    ``services[i].capacity`` (each value)       <= 1e9         units per month
    ``...stages[k].demand[role]``               0 or 1e-3..1e3 FTE per month
    ``...stages[k].services[service]``          <= 1e6         units per month
    ``services[i].contract_volume``             <= 1e12        units over the horizon
    ``trials[i].options[j].service_totals[s]``  <= 1e9         units over the option's run
    ``trials[i].options[j].fixed_cost``         <= 1e12        per option
    ``trials[i].value``                         <= 1e12        per trial
    ``trials[i].tardiness_penalty``             <= 1e12        per month late
    ``budget.total``, ``budget.per_year[y]``    <= 1e15
    ``objective.weights.shortfall``             <= 1e10        per FTE-month
    ``objective.weights.tardiness``             <= 1e3         multiplier
    ``objective.weights.fragmentation``         <= 1e9         per (person, trial) pair
    ``objective.penalty_scale``                 <= 1           factor
    ``objective.discount_rate``                 < 1            per month (pydantic)
    ==========================================  =============  ==========================

    Why these numbers (measured with HiGHS 1.16 on data/example-small.json and
    generated portfolios, money multiplied field by field): the portfolio stage prices
    labour by cuts whose coefficients span ``price of an FTE-month x FTE demanded`` to 1
    in one row, the price of uncovered demand being 100 x the dearest rate. HiGHS's MIP
    died with a segmentation fault once that span reached about 2e15-4e15 (staff at
    2e13 per month with demands near 1 FTE; at 3e12 with demands near 10 FTE), and
    gave a plan without a bound (or ``no_solution``) from about 1e16 on. The limits
    keep the span at most 100 x 1e8 x 1e3 = 1e13, two orders of magnitude below the
    first failure. Money that does not enter those rows was measured further: option
    fixed costs and budgets of 1e15-1e17, trial values of 1e16, unit costs of 1e13,
    tardiness of 1e12 x 1e3 and fragmentation of 1e12 all solved; their limits are set
    by realism (a trial's value in EUR of at most 1e12, a budget of at most 1e15).
    The smallest positive FTE (1e-3) is 1000 x the read-back tolerance: with demands
    of about 1e-6 FTE the engine's rosters left demand uncovered by more than the
    checker's 1e-6 and only worse plans passed it (23 % below the bound); demands of
    about 1e-5 FTE still solved normally. Service units and money have no lower limit
    (measured down to 1e-7 units).

Months
    * Staff ``available_from <= available_to``. Leave months and availability bounds
      outside the horizon are allowed (they simply do not matter).
    * A trial's ``earliest_start`` and ``latest_start`` lie inside the horizon, and
      ``earliest_start <= latest_start``. A ``deadline`` may lie anywhere.
    * A stage lasts at least 1 month (checked here rather than by pydantic, so it is
      reported with the other rules). A stage longer than the horizon is an error on the
      stage; otherwise an option
      whose duration exceeds the horizon is an error on the option; otherwise an
      option that, started at the trial's earliest start (or the horizon start),
      would end after the horizon is an error on the option.

Deadlines
    Lateness is allowed and penalised under the ``value``, ``makespan`` and
    ``weighted_completion`` objectives, so a deadline that cannot be met is not an
    input error there. Under the ``cost`` objective mandatory trials must be on time,
    so for a mandatory trial the deadline must be no earlier than
    ``earliest possible start + shortest option duration - 1``, where the earliest
    possible start is the trial's ``earliest_start`` (or the horizon start) pushed
    later by its predecessor chain (each predecessor's earliest possible end +
    1 + lag). Optional trials are not run under ``cost`` and are not checked.

Trials and predecessors
    * A trial needs at least one option; an option needs at least one stage.
    * A trial may not be its own predecessor; predecessor cycles are reported once
      per cycle, at the predecessor entry of the cycle's first trial (in input order),
      as ``predecessor cycle T1 -> T2 -> T1`` where ``A -> B`` reads "A waits for B".
    * A mandatory trial whose predecessor is optional is fine (the predecessor is
      forced to run). A mandatory trial whose own window is fine but whose
      predecessors push its earliest possible start past its ``latest_start``, or so
      late that even its shortest option cannot end inside the horizon, is an error
      at the binding predecessor entry.

Pins
    * Trial pins: known trial and option; ``run: false`` is not allowed for a
      mandatory trial nor together with a pinned option or start; a pinned start is a
      horizon month inside the trial's window from which the pinned option (or the
      shortest option) ends inside the horizon.
    * Assignment pins: known staff, trial and role; the person can serve the role
      (primary or secondary), holds the trial's required skills for it and, for a
      regional role, is in one of the trial's regions; the trial demands the role in
      some option; ``start <= end``, both inside the horizon and inside the person's
      availability, with no leave month in between; ``fte`` at most the person's fte
      (and at least ``MIN_FTE``); a person's pins add up to at most their fte in every
      month [``pins.assignments[i].fte``, at the first pin that goes over].
    * ``frozen_until`` needs a ``previous_plan``. The previous plan must be of this
      portfolio (:func:`models.contract.identity.portfolio_mismatch`), its months are
      ``YYYY-MM``, and what the freeze keeps of it (trials started and assignments starting
      before ``frozen_until``) refers to known trials, options, staff and roles, with each
      assignment's FTE at most its person's (plus ``FTE_NOISE``, read as the person's FTE).
      What lies after the freeze is a starting point only: entries there that no longer
      apply (a trial removed, a person no longer in the pool) are released, not refused.

Stopped trials (``trials[i].stopped_from``, :mod:`models.contract.stops`)
    * The month is inside the horizon and after the trial's start, which is held (started
      before the freeze in the previous plan, or a trial pin with option and start). A
      month before ``frozen_until`` is a stop the freeze has passed: the previous plan must
      already end the trial before it.
    * No mandatory trial, and none pinned to run, names a stopped trial as a predecessor.

Objective weights are checked to be finite and within the magnitude limits; settings are fully
checked by pydantic.

Everything is linear in the size of the input (dicts and sets, no pairwise loops).
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from models.contract.identity import portfolio_mismatch
from models.contract.plan import Assignment
from models.contract.problem import (
    ExecutionOption,
    FieldError,
    Problem,
    ProblemInvalid,
    Trial,
    is_month,
    json_path,
    month_at,
    month_index,
)
from models.contract.stops import fixed_start

Loc = tuple[int | str, ...]

_YEAR_RE = re.compile(r"[0-9]{4}")  # ASCII digits, matched in full: not "٢٠٢٧" nor "2027\n"

# Magnitude limits (see "Magnitudes" above); inclusive.
MAX_RATE = 1e8
"""Staff cost per full-time month (``monthly_cost / fte``), flex ``monthly_rate``, service ``unit_cost``."""
MAX_AMOUNT = 1e12
"""Trial ``value``, ``tardiness_penalty`` (per month late), option ``fixed_cost``."""
MAX_BUDGET = 1e15
"""``budget.total`` and each ``budget.per_year`` cap."""
MAX_SHORTFALL = 1e10
"""``objective.weights.shortfall`` per FTE-month (100 x ``MAX_RATE``, the engine's own price of uncovered demand)."""
MAX_TARDINESS_WEIGHT = 1e3
"""``objective.weights.tardiness`` (a multiplier on each trial's ``tardiness_penalty``)."""
MAX_FRAGMENTATION = 1e9
"""``objective.weights.fragmentation`` per (person, trial) pair."""
MAX_PENALTY_SCALE = 1.0
"""``objective.penalty_scale``."""
MAX_DEMAND = 1e3
"""Stage demand, FTE of one role per month."""
MAX_FLEX_FTE = 1e5
"""``flex.max_fte`` per month."""
MAX_UNITS = 1e6
"""Stage service units per month."""
MAX_CAPACITY = 1e9
"""Service capacity per month (the constant or each value of the series)."""
MAX_VOLUME = 1e12
"""Service ``contract_volume``: units over the horizon."""
MIN_FTE = 1e-3
"""Smallest positive FTE: staff ``fte``, stage demand and ``flex.max_fte`` are 0 or at least this."""
FTE_NOISE = 1e-6
"""How far a previous plan's FTE may exceed its person's FTE and still be read as that FTE:
float noise of a plan written before plans rounded FTE (``1.0000000000000002``), the plans'
own tolerance; more is an error."""
M = TypeVar("M", bound=BaseModel)
_SHOWN = 10  # items of a list quoted in a message before it is truncated


def _show(items: Sequence[str]) -> str:
    if not items:
        return "none"
    if len(items) <= _SHOWN:
        return ", ".join(items)
    return ", ".join(items[:_SHOWN]) + f", ... ({len(items) - _SHOWN} more)"


def _num(x: float) -> str:
    """Short, but never so short that a value just over a limit reads as the limit itself."""
    short = f"{x:g}"
    if not math.isfinite(x) or abs(float(short) - x) <= 1e-9 * abs(x):
        return short
    return f"{x:.12g}"


class _Checker:
    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.errors: list[FieldError] = []
        self.H = problem.horizon.months
        self.first = problem.horizon.start
        self.last = problem.month(self.H - 1)
        self.span = f"{self.first}..{self.last}"
        self._shown: dict[str, str] = {}

    # -- helpers -----------------------------------------------------------------

    def add(self, loc: Loc, message: str) -> None:
        self.errors.append(FieldError(path=json_path(loc), message=message))

    def idx(self, month: str) -> int:
        return month_index(month, self.first)

    def month(self, index: int) -> str:
        return month_at(self.first, index)

    def in_horizon(self, month: str) -> bool:
        return 0 <= self.idx(month) < self.H

    def finite(self, loc: Loc, value: float | None, what: str) -> bool:
        if value is not None and not math.isfinite(value):
            self.add(loc, f"{what} must be a finite number, got {_num(value)}")
            return False
        return True

    def at_most(self, loc: Loc, value: float | None, limit: float, what: str, unit: str = "") -> None:
        """An error if a finite ``value`` is above ``limit`` (NaN/inf are reported by :meth:`finite`)."""
        if value is not None and math.isfinite(value) and value > limit:
            per = f" {unit}" if unit else ""
            self.add(loc, f"{what} {_num(value)} is above the supported maximum {_num(limit)}{per}")

    def zero_or_fte(self, loc: Loc, value: float, what: str, limit: float) -> None:
        """An error if an FTE amount is positive but below ``MIN_FTE``, or above ``limit``."""
        if not math.isfinite(value):
            return
        if 0 < value < MIN_FTE:
            self.add(
                loc,
                f"{what} {_num(value)} FTE is below the smallest supported positive amount {_num(MIN_FTE)} FTE "
                "(use 0 or at least that; the engine reads FTE back to 1e-6)",
            )
        self.at_most(loc, value, limit, what, "FTE")

    def unknown_role(self, loc: Loc, role: str) -> bool:
        if role in self.roles:
            return False
        self.add(loc, f"unknown role '{role}' (roles are: {self.roles_shown})")
        return True

    def unknown_trial(self, loc: Loc, trial: str) -> bool:
        if trial in self.trial_index:
            return False
        self.add(loc, f"unknown trial '{trial}' (trials are: {self.shown('trials', self.trial_index)})")
        return True

    def unknown_staff(self, loc: Loc, staff: str) -> bool:
        if staff in self.staff_by_id:
            return False
        self.add(loc, f"unknown staff '{staff}' (staff are: {self.shown('staff', self.staff_by_id)})")
        return True

    def shown(self, kind: str, keys: dict[str, object]) -> str:
        """``_show`` of a dict's keys, built once per kind so messages stay linear in the input."""
        if kind not in self._shown:
            self._shown[kind] = _show(list(keys))
        return self._shown[kind]

    # -- sections ----------------------------------------------------------------

    def run(self) -> list[FieldError]:
        self.check_horizon()
        self.check_roles()
        self.check_staff()
        self.check_services()
        self.check_flex()
        self.check_trials()
        self.check_predecessors()
        self.check_coverage()
        self.check_budget_and_objective()
        self.check_trial_pins()
        self.check_assignment_pins()
        self.check_pinned_fte()
        self.check_previous_plan()
        self.check_stops()
        return self.errors

    def check_horizon(self) -> None:
        """Every month of the horizon must be nameable as ``YYYY-MM``: past 9999-12 the plan's
        months would have five-digit years, which no plan, checker or report can read."""
        if len(self.last) > len("YYYY-MM"):
            self.add(
                ("horizon", "months"),
                f"the horizon from {self.first} for {self.H} months would end {self.last}, after 9999-12, "
                "the last month YYYY-MM can name",
            )

    def check_roles(self) -> None:
        p = self.p
        first: dict[str, int] = {}
        for i, role in enumerate(p.roles):
            if role in first:
                self.add(("roles", i), f"duplicate role '{role}' (first at roles[{first[role]}])")
            else:
                first[role] = i
        self.roles = set(first)
        self.roles_shown = _show(list(first))
        for i, role in enumerate(p.regional_roles):
            self.unknown_role(("regional_roles", i), role)
        self.regional = set(p.regional_roles)

    def check_staff(self) -> None:
        self.staff_by_id = {}
        self.served: set[str] = set()  # roles some staff member can serve
        first: dict[str, int] = {}
        for i, s in enumerate(self.p.staff):
            loc: Loc = ("staff", i)
            if s.id in first:
                self.add(loc + ("id",), f"duplicate staff id '{s.id}' (first at staff[{first[s.id]}])")
            else:
                first[s.id] = i
                self.staff_by_id[s.id] = s
            if not self.unknown_role(loc + ("role",), s.role):
                self.served.add(s.role)
            self.check_secondary_roles(loc, s.secondary_roles)
            fte_ok = math.isfinite(s.fte) and 0 < s.fte <= 1
            if not fte_ok:
                self.add(loc + ("fte",), f"fte must be in (0, 1], got {_num(s.fte)}")
            elif s.fte < MIN_FTE:
                fte_ok = False
                self.add(
                    loc + ("fte",),
                    f"fte {_num(s.fte)} is below the smallest supported fte {_num(MIN_FTE)} "
                    "(the engine reads FTE back to 1e-6)",
                )
            if self.finite(loc + ("monthly_cost",), s.monthly_cost, "monthly_cost"):
                if fte_ok and s.monthly_cost / s.fte > MAX_RATE:
                    self.add(
                        loc + ("monthly_cost",),
                        f"monthly_cost {_num(s.monthly_cost)} at fte {_num(s.fte)} is "
                        f"{_num(s.monthly_cost / s.fte)} per full-time month, above the supported maximum "
                        f"{_num(MAX_RATE)} (monthly_cost may be at most {_num(MAX_RATE)} x fte)",
                    )
                elif not fte_ok:
                    self.at_most(loc + ("monthly_cost",), s.monthly_cost, MAX_RATE, "monthly_cost", "per month")
            if s.available_from and s.available_to and s.available_from > s.available_to:
                self.add(
                    loc + ("available_to",),
                    f"available_to {s.available_to} is before available_from {s.available_from}",
                )

    def check_secondary_roles(self, loc: Loc, roles: list[str]) -> None:
        """Known roles, each listed once: the engine reads the list as given, and a role twice
        made it offer the person's time twice (a plan no checker passes)."""
        first: dict[str, int] = {}
        for j, role in enumerate(roles):
            if role in first:
                self.add(
                    loc + ("secondary_roles", j),
                    f"duplicate secondary role '{role}' (first at {json_path(loc + ('secondary_roles', first[role]))})",
                )
                continue
            first[role] = j
            if not self.unknown_role(loc + ("secondary_roles", j), role):
                self.served.add(role)

    def check_services(self) -> None:
        first: dict[str, int] = {}
        for i, s in enumerate(self.p.services):
            if s.id in first:
                self.add(("services", i, "id"), f"duplicate service id '{s.id}' (first at services[{first[s.id]}])")
            else:
                first[s.id] = i
        self.services = set(first)
        self.services_shown = _show(list(first))
        for i, s in enumerate(self.p.services):
            loc: Loc = ("services", i, "capacity")
            if isinstance(s.capacity, list):
                if len(s.capacity) != self.H:
                    self.add(
                        loc,
                        f"capacity series has {len(s.capacity)} values; the horizon has "
                        f"{self.H} months (one value per month, or a single constant)",
                    )
                for k, cap in enumerate(s.capacity):
                    if not math.isfinite(cap) or cap < 0:
                        self.add(loc + (k,), f"capacity must be a finite number >= 0, got {_num(cap)}")
                    else:
                        self.at_most(loc + (k,), cap, MAX_CAPACITY, "capacity", "units per month")
            elif not math.isfinite(s.capacity) or s.capacity < 0:
                self.add(loc, f"capacity must be a finite number >= 0, got {_num(s.capacity)}")
            else:
                self.at_most(loc, s.capacity, MAX_CAPACITY, "capacity", "units per month")
            self.finite(("services", i, "unit_cost"), s.unit_cost, "unit_cost")
            self.at_most(("services", i, "unit_cost"), s.unit_cost, MAX_RATE, "unit_cost", "per unit")
            if s.contract_volume is not None:
                self.finite(("services", i, "contract_volume"), s.contract_volume, "contract_volume")
                self.at_most(("services", i, "contract_volume"), s.contract_volume, MAX_VOLUME, "contract_volume", "units")

    def check_flex(self) -> None:
        self.flex_roles: set[str] = set()
        first: dict[str, int] = {}
        for i, f in enumerate(self.p.flex):
            loc: Loc = ("flex", i)
            if self.unknown_role(loc + ("role",), f.role):
                pass
            elif f.role in first:
                self.add(loc + ("role",), f"duplicate flex entry for role '{f.role}' (first at flex[{first[f.role]}])")
            else:
                first[f.role] = i
                if f.max_fte > 0:
                    self.flex_roles.add(f.role)
            self.finite(loc + ("monthly_rate",), f.monthly_rate, "monthly_rate")
            self.at_most(loc + ("monthly_rate",), f.monthly_rate, MAX_RATE, "monthly_rate", "per FTE-month")
            self.finite(loc + ("max_fte",), f.max_fte, "max_fte")
            self.zero_or_fte(loc + ("max_fte",), f.max_fte, "max_fte", MAX_FLEX_FTE)

    def check_trials(self) -> None:
        p = self.p
        self.trial_index: dict[str, int] = {}
        self.options: list[dict[str, int]] = []  # per trial: option id -> index (first)
        self.min_duration: list[int | None] = []  # shortest non-empty option per trial
        self.lo: list[int] = []  # earliest start index per trial, clamped at 0
        self.deadline_reported: set[int] = set()  # trials whose deadline precedes their earliest start
        self.trial_roles: list[set[str]] = []  # roles demanded in some option
        self.demanded: dict[str, tuple[Loc, int]] = {}  # role -> (first demand loc, count)
        for i, t in enumerate(p.trials):
            loc: Loc = ("trials", i)
            if t.id in self.trial_index:
                self.add(loc + ("id",), f"duplicate trial id '{t.id}' (first at trials[{self.trial_index[t.id]}])")
            else:
                self.trial_index[t.id] = i
            self.finite(loc + ("value",), t.value, "value")
            self.at_most(loc + ("value",), t.value, MAX_AMOUNT, "value")
            self.finite(loc + ("tardiness_penalty",), t.tardiness_penalty, "tardiness_penalty")
            self.at_most(loc + ("tardiness_penalty",), t.tardiness_penalty, MAX_AMOUNT, "tardiness_penalty", "per month late")
            lo = self.check_window(loc, t)
            self.lo.append(lo)
            for role in t.required_skills:
                self.unknown_role(loc + ("required_skills", role), role)
            self.min_duration.append(self.check_options(loc, t, lo))

    def check_window(self, loc: Loc, t: Trial) -> int:
        """Checks earliest/latest start; returns the earliest start index (>= 0)."""
        ok = True
        for field in ("earliest_start", "latest_start"):
            month = getattr(t, field)
            if month is not None and not self.in_horizon(month):
                self.add(loc + (field,), f"{field} {month} is outside the horizon {self.span}")
                ok = False
        if ok and t.earliest_start and t.latest_start and t.earliest_start > t.latest_start:
            self.add(
                loc + ("latest_start",),
                f"latest_start {t.latest_start} is before earliest_start {t.earliest_start}",
            )
        if t.deadline is not None and (ok or t.earliest_start is None):
            first, what = (t.earliest_start, "its earliest_start") if t.earliest_start else (self.first, "the horizon start")
            if t.deadline < first:
                self.deadline_reported.add(loc[1])
                self.add(
                    loc + ("deadline",),
                    f"deadline {t.deadline} is before {what} {first}: the trial cannot end before it starts",
                )
        return max(0, self.idx(t.earliest_start)) if t.earliest_start else 0

    def check_options(self, loc: Loc, t: Trial, lo: int) -> int | None:
        roles: set[str] = set()
        self.trial_roles.append(roles)
        option_ids: dict[str, int] = {}
        self.options.append(option_ids)
        if not t.options:
            self.add(loc + ("options",), f"trial '{t.id}' has no execution options (it needs at least one)")
            return None
        shortest: int | None = None
        for j, o in enumerate(t.options):
            oloc = loc + ("options", j)
            if o.id in option_ids:
                self.add(
                    oloc + ("id",),
                    f"duplicate option id '{o.id}' in trial '{t.id}' (first at "
                    f"{json_path(loc + ('options', option_ids[o.id]))})",
                )
            else:
                option_ids[o.id] = j
            self.finite(oloc + ("fixed_cost",), o.fixed_cost, "fixed_cost")
            self.at_most(oloc + ("fixed_cost",), o.fixed_cost, MAX_AMOUNT, "fixed_cost")
            if not o.stages:
                self.add(oloc + ("stages",), f"option '{o.id}' has no stages (it needs at least one)")
                continue
            stage_too_long = stage_too_short = False
            for k, st in enumerate(o.stages):
                sloc = oloc + ("stages", k)
                if st.months < 1:
                    stage_too_short = True
                    self.add(sloc + ("months",), f"stage '{st.name}' lasts {st.months} months: a stage lasts at least 1 month")
                elif st.months > self.H:
                    stage_too_long = True
                    self.add(
                        sloc + ("months",),
                        f"stage '{st.name}' lasts {st.months} months, longer than the {self.H}-month horizon",
                    )
                self.check_stage_amounts(sloc, st.demand, roles, demand=True)
                self.check_stage_amounts(sloc, st.services, roles, demand=False)
            for svc, units in o.service_totals.items():
                loc = oloc + ("service_totals", svc)
                if svc not in self.services:
                    self.add(loc, f"unknown service '{svc}' (services are: {self.services_shown})")
                if not math.isfinite(units) or units < 0:
                    self.add(loc, f"service_totals must be a finite number of units >= 0, got {_num(units)}")
                else:
                    self.at_most(loc, units, MAX_CAPACITY, "service_totals", "units")
            if stage_too_short:  # no duration to check, nor to count as the shortest
                continue
            d = o.duration
            shortest = d if shortest is None else min(shortest, d)
            if stage_too_long:
                continue
            if d > self.H:
                self.add(oloc, f"option '{o.id}' lasts {d} months, longer than the {self.H}-month horizon")
            elif lo < self.H and lo + d > self.H:
                self.add(
                    oloc,
                    f"option '{o.id}' lasts {d} months: starting at its earliest ({self.month(lo)}) "
                    f"it would end {self.month(lo + d - 1)}, after the horizon ends ({self.last})",
                )
        return shortest

    def check_stage_amounts(self, sloc: Loc, amounts: dict[str, float], roles: set[str], demand: bool) -> None:
        field = "demand" if demand else "services"
        for key, value in amounts.items():
            loc = sloc + (field, key)
            if demand:
                known = not self.unknown_role(loc, key)
            elif key in self.services:
                known = True
            else:
                known = False
                self.add(loc, f"unknown service '{key}' (services are: {self.services_shown})")
            unit = "FTE" if demand else "units"
            if not math.isfinite(value):
                self.add(loc, f"{field} must be a finite number of {unit}, got {_num(value)}")
            elif value < 0:
                self.add(loc, f"{field} must be >= 0 {unit}, got {_num(value)}")
            else:
                if demand:
                    self.zero_or_fte(loc, value, "demand", MAX_DEMAND)
                else:
                    self.at_most(loc, value, MAX_UNITS, "services", "units per month")
                if demand and known and value > 0:
                    roles.add(key)
                    seen = self.demanded.get(key)
                    self.demanded[key] = (loc, 1) if seen is None else (seen[0], seen[1] + 1)

    def check_predecessors(self) -> None:
        p = self.p
        n = len(p.trials)
        # preds[i]: (entry index j, predecessor trial index k, lag)
        preds: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
        for i, t in enumerate(p.trials):
            for j, pr in enumerate(t.predecessors):
                ploc: Loc = ("trials", i, "predecessors", j, "trial")
                if pr.trial == t.id:
                    self.add(ploc, f"trial '{t.id}' is its own predecessor")
                elif not self.unknown_trial(ploc, pr.trial):
                    preds[i].append((j, self.trial_index[pr.trial], pr.lag))
        self.report_cycles(preds)
        self.check_chains(preds)

    def report_cycles(self, preds: list[list[tuple[int, int, int]]]) -> None:
        """Tarjan's strongly connected components (iterative); one error per cycle."""
        n = len(preds)
        index = [-1] * n
        low = [0] * n
        on_stack = [False] * n
        stack: list[int] = []
        counter = 0
        components: list[list[int]] = []
        for root in range(n):
            if index[root] != -1:
                continue
            work = [(root, 0)]
            while work:
                v, pos = work.pop()
                if pos == 0:
                    index[v] = low[v] = counter
                    counter += 1
                    stack.append(v)
                    on_stack[v] = True
                recurse = False
                edges = preds[v]
                while pos < len(edges):
                    w = edges[pos][1]
                    pos += 1
                    if index[w] == -1:
                        work.append((v, pos))
                        work.append((w, 0))
                        recurse = True
                        break
                    if on_stack[w]:
                        low[v] = min(low[v], index[w])
                if recurse:
                    continue
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        components.append(comp)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
        for comp in sorted(components, key=min):
            self.report_cycle(preds, set(comp), min(comp))

    def report_cycle(self, preds: list[list[tuple[int, int, int]]], comp: set[int], start: int) -> None:
        """Shortest cycle through ``start`` inside its component (breadth-first)."""
        parent: dict[int, int] = {start: -1}
        queue = deque([start])
        end: int | None = None
        while queue and end is None:
            v = queue.popleft()
            for _j, w, _lag in preds[v]:
                if w not in comp:
                    continue
                if w == start:
                    end = v
                    break
                if w not in parent:
                    parent[w] = v
                    queue.append(w)
        if end is None:  # cannot happen inside a strongly connected component
            return
        chain = [end]
        while chain[-1] != start:
            chain.append(parent[chain[-1]])
        chain.reverse()  # start ... end, then back to start
        ids = [self.p.trials[v].id for v in chain] + [self.p.trials[start].id]
        if len(ids) > _SHOWN + 2:
            ids = ids[:_SHOWN] + [f"... ({len(ids) - _SHOWN - 1} more)", ids[-1]]
        succ = chain[1] if len(chain) > 1 else start
        entry = next(j for j, w, _ in preds[start] if w == succ)
        self.add(
            ("trials", start, "predecessors", entry, "trial"),
            "predecessor cycle " + " -> ".join(ids) + " (each trial waits for the next)",
        )

    def check_chains(self, preds: list[list[tuple[int, int, int]]]) -> None:
        """Earliest possible starts along predecessor chains (topological order; cycles skipped)."""
        n = len(preds)
        waiting = [len(preds[i]) for i in range(n)]
        dependants: list[list[int]] = [[] for _ in range(n)]
        for i in range(n):
            for _j, k, _lag in preds[i]:
                dependants[k].append(i)
        ready = deque(i for i in range(n) if waiting[i] == 0)
        es: list[int | None] = [None] * n
        known = [False] * n
        while ready:
            i = ready.popleft()
            start: int | None = self.lo[i]
            binding: tuple[int, int, int] | None = None  # (entry j, predecessor k, lag)
            for j, k, lag in preds[i]:
                if es[k] is None or self.min_duration[k] is None:
                    start, binding = None, None
                    break
                after = es[k] + self.min_duration[k] + lag
                if after > start:
                    start, binding = after, (j, k, lag)
            es[i] = start
            known[i] = True
            self.check_chain_of(i, start, binding)
            for d in dependants[i]:
                waiting[d] -= 1
                if waiting[d] == 0:
                    ready.append(d)
        # trials in or behind a cycle: only the plain deadline rule, from their own window
        for i in range(n):
            if not known[i]:
                self.check_deadline(i, self.lo[i], None)

    def check_chain_of(self, i: int, es: int | None, binding: tuple[int, int, int] | None) -> None:
        t = self.p.trials[i]
        d = self.min_duration[i]
        lo = self.lo[i]
        if t.mandatory and es is not None and binding is not None and d is not None:
            j, k, lag = binding
            pred = self.p.trials[k].id
            why = (
                f"its predecessors let it start {self.month(es)} at the earliest "
                f"(binding: '{pred}', lag {lag})"
            )
            loc: Loc = ("trials", i, "predecessors", j)
            latest = self.idx(t.latest_start) if t.latest_start else None
            if latest is not None and lo <= latest < self.H and es > latest:
                self.add(loc, f"mandatory trial '{t.id}' cannot start by its latest_start {t.latest_start}: {why}")
                return
            if lo + d <= self.H < es + d:
                self.add(
                    loc,
                    f"mandatory trial '{t.id}' cannot end inside the horizon (ends {self.last}): {why} "
                    f"and its shortest option lasts {d} months",
                )
                return
        self.check_deadline(i, es if es is not None else lo, binding)

    def check_deadline(self, i: int, es: int, binding: tuple[int, int, int] | None) -> None:
        t = self.p.trials[i]
        d = self.min_duration[i]
        if self.p.objective.kind != "cost" or not t.mandatory or t.deadline is None or d is None:
            return
        if i in self.deadline_reported:
            return
        end = es + d - 1
        if self.idx(t.deadline) < end:
            after = f" after predecessor '{self.p.trials[binding[1]].id}'" if binding else ""
            self.add(
                ("trials", i, "deadline"),
                f"deadline {t.deadline} is before the earliest possible end {self.month(end)} "
                f"(earliest start {self.month(es)}{after} + shortest option of {d} months - 1); "
                "under the 'cost' objective mandatory trials must be on time",
            )

    def check_coverage(self) -> None:
        if self.p.objective.weights.shortfall is not None:
            return
        for role, (loc, count) in self.demanded.items():
            if role in self.served or role in self.flex_roles:
                continue
            more = f" (demanded here and in {count - 1} other stage(s))" if count > 1 else ""
            self.add(loc, f"no staff and no flex can serve role '{role}'{more}")

    def check_budget_and_objective(self) -> None:
        b = self.p.budget
        self.finite(("budget", "total"), b.total, "budget total")
        self.at_most(("budget", "total"), b.total, MAX_BUDGET, "budget total")
        for year, cap in b.per_year.items():
            loc: Loc = ("budget", "per_year", year)
            if not _YEAR_RE.fullmatch(year):
                self.add(loc, f"budget year must be a four-digit calendar year YYYY, got {json.dumps(year, ensure_ascii=False)}")
            elif not int(self.first[:4]) <= int(year) <= int(self.last[:-3]):
                self.add(
                    loc,
                    f"budget year {year} has no month in the horizon {self.span}: its cap would never apply "
                    "(remove it, or correct the year)",
                )
            self.finite(loc, cap, "budget")
            self.at_most(loc, cap, MAX_BUDGET, "budget")
        w = self.p.objective.weights
        limits = {
            "shortfall": (MAX_SHORTFALL, "per FTE-month"),
            "tardiness": (MAX_TARDINESS_WEIGHT, "(a multiplier)"),
            "fragmentation": (MAX_FRAGMENTATION, "per (person, trial) pair"),
        }
        for field, (limit, unit) in limits.items():
            self.finite(("objective", "weights", field), getattr(w, field), field)
            self.at_most(("objective", "weights", field), getattr(w, field), limit, field, unit)
        self.finite(("objective", "penalty_scale"), self.p.objective.penalty_scale, "penalty_scale")
        self.at_most(("objective", "penalty_scale"), self.p.objective.penalty_scale, MAX_PENALTY_SCALE, "penalty_scale")

    def check_trial_pins(self) -> None:
        first: dict[str, int] = {}
        for i, pin in enumerate(self.p.pins.trials):
            loc: Loc = ("pins", "trials", i)
            if self.unknown_trial(loc + ("trial",), pin.trial):
                continue
            if pin.trial in first:
                self.add(loc + ("trial",), f"trial '{pin.trial}' is pinned twice (first at pins.trials[{first[pin.trial]}])")
                continue
            first[pin.trial] = i
            ti = self.trial_index[pin.trial]
            t = self.p.trials[ti]
            if pin.run is False:
                if t.mandatory:
                    self.add(loc + ("run",), f"mandatory trial '{t.id}' cannot be pinned not to run")
                if pin.option is not None or pin.start is not None:
                    self.add(loc + ("run",), f"trial '{t.id}' is pinned not to run but also pins an option or start")
            option = None
            if pin.option is not None:
                j = self.options[ti].get(pin.option)
                if j is None:
                    self.add(
                        loc + ("option",),
                        f"unknown option '{pin.option}' of trial '{t.id}' (options are: {_show(list(self.options[ti]))})",
                    )
                else:
                    option = t.options[j]
            if pin.start is not None:
                self.check_pinned_start(loc + ("start",), t, pin.start, option, ti)

    def check_pinned_start(self, loc: Loc, t: Trial, start: str, option: ExecutionOption | None, ti: int) -> None:
        s = self.idx(start)
        if not 0 <= s < self.H:
            self.add(loc, f"pinned start {start} is outside the horizon {self.span}")
        elif t.earliest_start and start < t.earliest_start:
            self.add(loc, f"pinned start {start} is before the trial's earliest_start {t.earliest_start}")
        elif t.latest_start and start > t.latest_start:
            self.add(loc, f"pinned start {start} is after the trial's latest_start {t.latest_start}")
        else:
            if option is not None and option.stages:
                d, which = option.duration, f"option '{option.id}'"
            elif option is None and self.min_duration[ti] is not None:
                d, which = self.min_duration[ti], "its shortest option"
            else:
                return
            if s + d > self.H:
                self.add(
                    loc,
                    f"pinned start {start}: {which} lasts {d} months and would end "
                    f"{self.month(s + d - 1)}, after the horizon ends ({self.last})",
                )

    def check_assignment_pins(self) -> None:
        for i, a in enumerate(self.p.pins.assignments):
            loc: Loc = ("pins", "assignments", i)
            s = None if self.unknown_staff(loc + ("staff",), a.staff) else self.staff_by_id[a.staff]
            ti = None if self.unknown_trial(loc + ("trial",), a.trial) else self.trial_index[a.trial]
            t = self.p.trials[ti] if ti is not None else None
            if not self.unknown_role(loc + ("role",), a.role):
                if s is not None and a.role != s.role and a.role not in s.secondary_roles:
                    roles = [s.role, *s.secondary_roles]
                    self.add(loc + ("role",), f"staff '{s.id}' cannot serve role '{a.role}' (their roles: {_show(roles)})")
                elif t is not None and a.role not in self.trial_roles[ti]:
                    self.add(loc + ("role",), f"trial '{t.id}' demands no '{a.role}' in any option")
                elif s is not None and t is not None:
                    missing = [k for k in t.required_skills.get(a.role, []) if k not in s.skills]
                    if missing:
                        self.add(
                            loc + ("staff",),
                            f"staff '{s.id}' lacks skill(s) {_show(missing)} required for role "
                            f"'{a.role}' on trial '{t.id}'",
                        )
                    if a.role in self.regional and t.regions and s.region not in t.regions:
                        self.add(
                            loc + ("staff",),
                            f"staff '{s.id}' is in region '{s.region}'; regional role '{a.role}' on "
                            f"trial '{t.id}' needs one of: {_show(t.regions)}",
                        )
            if a.start > a.end:
                self.add(loc + ("end",), f"end {a.end} is before start {a.start}")
            else:
                for field, month in (("start", a.start), ("end", a.end)):
                    if not self.in_horizon(month):
                        self.add(loc + (field,), f"{field} {month} is outside the horizon {self.span}")
                if s is not None:
                    if s.available_from and a.start < s.available_from:
                        self.add(loc + ("start",), f"staff '{s.id}' is not available before {s.available_from}")
                    if s.available_to and a.end > s.available_to:
                        self.add(loc + ("end",), f"staff '{s.id}' is not available after {s.available_to}")
                    leave = sorted(m for m in s.leave if a.start <= m <= a.end)
                    if leave:
                        self.add(loc, f"staff '{s.id}' is on leave in {_show(leave)}, inside the pinned months")
            if a.fte < MIN_FTE:
                self.add(
                    loc + ("fte",),
                    f"fte {_num(a.fte)} is below the smallest supported positive amount {_num(MIN_FTE)} FTE "
                    "(the engine reads FTE back to 1e-6)",
                )
            elif s is not None and a.fte > s.fte + 1e-9:
                self.add(loc + ("fte",), f"fte {_num(a.fte)} exceeds staff '{s.id}' contracted fte {_num(s.fte)}")

    def check_pinned_fte(self) -> None:
        """A person's pins may not add up to more than their fte in a month: every pin must be in
        the plan, so such pins leave no plan at all (the engine found none and said only that).
        One error per pin that goes over, at its first such month; a pin over the fte on its own
        is reported by :meth:`check_assignment_pins`."""
        load: dict[tuple[str, int], tuple[float, int]] = {}  # (staff, month) -> (FTE pinned, first pin)
        for i, a in enumerate(self.p.pins.assignments):
            s = self.staff_by_id.get(a.staff)
            if s is None or a.start > a.end:
                continue
            for m in range(max(0, self.idx(a.start)), min(self.H, self.idx(a.end) + 1)):
                pinned, first = load.get((s.id, m), (0.0, i))
                load[(s.id, m)] = (pinned + a.fte, first)
                if pinned > 0 and pinned + a.fte > s.fte + 1e-9 and a.fte <= s.fte + 1e-9:
                    self.add(
                        ("pins", "assignments", i, "fte"),
                        f"staff '{s.id}' is pinned to {_num(pinned + a.fte)} FTE in {self.month(m)} in all (this pin with "
                        f"pins.assignments[{first}] and any between), above their fte {_num(s.fte)}",
                    )
                    break

    def check_previous_plan(self) -> None:
        """The previous plan's frozen part must hold in this problem; what lies after the
        freeze is only a starting point, so entries there that no longer apply (a removed
        trial, a person gone) are released rather than refused."""
        pins = self.p.pins
        plan = pins.previous_plan
        if pins.frozen_until is not None and plan is None:
            self.add(("pins", "frozen_until"), "frozen_until is given without a previous_plan to keep")
        if plan is None:
            return
        base: Loc = ("pins", "previous_plan")
        if (other := portfolio_mismatch(self.p, plan)) is not None:
            self.add(base, other)
            return
        frozen = pins.frozen_until
        for i, tp in enumerate(plan.trials):
            loc = base + ("trials", i)
            if not tp.run:
                continue
            for field in ("start", "end"):
                self.plan_month(loc + (field,), getattr(tp, field), required=True)
            kept = frozen is not None and tp.start is not None and is_month(tp.start) and tp.start < frozen
            if not kept:
                continue
            if tp.id not in self.trial_index:
                self.add(
                    loc + ("id",),
                    f"trial '{tp.id}' started before the freeze at {frozen} in the previous plan and is not in this "
                    "problem: a trial that ran stays in the problem (set stopped_from to stop it)",
                )
                continue
            ti = self.trial_index[tp.id]
            if tp.option is None:
                self.add(loc + ("option",), f"trial '{tp.id}' runs in the previous plan but has no option")
            elif tp.option not in self.options[ti]:
                self.add(
                    loc + ("option",),
                    f"unknown option '{tp.option}' of trial '{tp.id}' (options are: {_show(list(self.options[ti]))})",
                )
        for i, a in enumerate(plan.assignments):
            self.check_previous_assignment(base + ("assignments", i), a, frozen)

    def check_previous_assignment(self, loc: Loc, a: Assignment, frozen: str | None) -> None:
        """A previous assignment the freeze keeps (any month before ``frozen_until``) must be
        interpretable, and its FTE within its person's: above it by float noise (at most
        ``FTE_NOISE``) it is read as the person's FTE, above it by more it is refused."""
        ok = self.plan_month(loc + ("start",), a.start, required=True)
        ok = self.plan_month(loc + ("end",), a.end, required=True) and ok
        if ok and a.start > a.end:
            self.add(loc + ("end",), f"end {a.end} is before start {a.start}")
        if not ok or frozen is None or a.start >= frozen:
            return
        person = a.staff in self.staff_by_id
        if not person:
            self.add(
                loc + ("staff",),
                f"staff '{a.staff}' worked before the freeze at {frozen} in the previous plan and is not in this problem: "
                "a person who leaves stays in the problem with available_to",
            )
        self.unknown_trial(loc + ("trial",), a.trial)
        self.unknown_role(loc + ("role",), a.role)
        if person and a.fte > self.staff_by_id[a.staff].fte + FTE_NOISE:
            s = self.staff_by_id[a.staff]
            self.add(loc + ("fte",), f"fte {_num(a.fte)} exceeds staff '{s.id}' contracted fte {_num(s.fte)} in the frozen months")

    def check_stops(self) -> None:
        """A stopped trial must be held to its start (freeze or pin), stop after it, not before
        the freeze, and no trial that must run may wait for it (see :mod:`models.contract.stops`)."""
        stopped = {t.id: t.stopped_from for t in self.p.trials if t.stopped_from is not None}
        for ti, t in enumerate(self.p.trials):
            if t.stopped_from is not None:
                self.check_stop(("trials", ti, "stopped_from"), t)
            for k, pred in enumerate(t.predecessors):
                if pred.trial not in stopped:
                    continue
                pinned = next((p for p in self.p.pins.trials if p.trial == t.id and p.run), None)
                if t.mandatory or pinned is not None:
                    why = "is mandatory" if t.mandatory else "is pinned to run"
                    self.add(
                        ("trials", ti, "predecessors", k, "trial"),
                        f"trial '{t.id}' {why} but waits for '{pred.trial}', stopped from {stopped[pred.trial]}: a trial "
                        "waiting for a stopped one does not run (make it optional, or remove the predecessor)",
                    )

    def check_stop(self, loc: Loc, t: Trial) -> None:
        month = t.stopped_from
        assert month is not None
        frozen = self.p.pins.frozen_until
        if not self.in_horizon(month):
            self.add(loc, f"stopped_from {month} is outside the horizon {self.span}")
            return
        held = fixed_start(self.p, t)
        if held is None:
            self.add(
                loc,
                f"trial '{t.id}' is stopped but has not started: a stop needs its start kept by the freeze (started "
                "before frozen_until in the previous plan) or pinned with its option; a trial that has not started is "
                "left out with a pin run: false",
            )
        elif month <= held[1]:
            self.add(loc, f"stopped_from {month} is not after the trial's start {held[1]}")
        elif frozen is not None and month < frozen:
            # A stop the freeze has passed is history, provided the previous plan already ended the trial there.
            previous = self.p.pins.previous_plan
            entry = next((e for e in previous.trials if e.id == t.id), None) if previous is not None else None
            if entry is None or entry.end is None or not is_month(entry.end) or entry.end >= month:
                ends = f"runs it to {entry.end}" if entry is not None and entry.end else "does not end it before"
                self.add(
                    loc,
                    f"stopped_from {month} is before the freeze at {frozen} and the previous plan {ends}: the frozen "
                    "months keep their work (stop it from the freeze on)",
                )

    def plan_month(self, loc: Loc, value: str | None, required: bool) -> bool:
        if value is None:
            if required:
                self.add(loc, "a month YYYY-MM is required here")
            return False
        if not is_month(value):
            self.add(loc, f"'{value}' is not a month YYYY-MM")
            return False
        return True


def semantic_errors(problem: Problem) -> list[FieldError]:
    """Every semantic error of a structurally valid problem (empty when it is valid)."""
    return _Checker(problem).run()


def parse_problem(data: dict | str | bytes) -> Problem:
    """The front door for untrusted input: structure (pydantic) then semantics.

    Raises :class:`ProblemInvalid` listing every error with its field path; never
    returns a half-valid problem.
    """
    try:
        problem = parse_structure(data)
    except ProblemInvalid as exc:
        raise ProblemInvalid(with_rule_errors(exc)) from None
    errors = semantic_errors(problem)
    if errors:
        raise ProblemInvalid(errors)
    return problem


def with_rule_errors(exc: ProblemInvalid) -> list[FieldError]:
    """The structure errors, and where the problem could be read all the same (only repeated
    keys were wrong) the rules' errors too: everything wrong in one answer."""
    return exc.errors + (semantic_errors(exc.parsed) if isinstance(exc.parsed, Problem) else [])


def parse_structure(data: dict | str | bytes) -> Problem:
    """The structure alone (pydantic), with :func:`structure_errors` as the reasons.

    JSON text is read strictly: nothing is coerced (``"yes"`` is not ``true``, ``"12"``
    is not ``12``), in the plan a problem may embed as well; a Python dict goes through
    the problem's own strict fields (booleans and numbers never from text).
    """
    return parse_strict(Problem, data)


def parse_strict(model: type[M], data: dict | str | bytes) -> M:
    """Any input model read as a problem is: JSON text strictly (see :func:`json_text` and
    :func:`duplicate_keys`), a dict through the model's own fields; :class:`ProblemInvalid`
    with every error's path, duplicated keys and structure errors in one list."""
    if not isinstance(data, (str, bytes)):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ProblemInvalid(structure_errors(exc)) from None
    text = json_text(data)
    errors = duplicate_keys(text)
    try:
        parsed = model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ProblemInvalid(errors + structure_errors(exc)) from None
    if errors:
        raise ProblemInvalid(errors, parsed)
    return parsed


_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def json_text(data: str | bytes) -> str | bytes:
    """JSON text without a leading UTF-8 byte order mark, which Excel, Notepad and PowerShell
    write when saving "UTF-8 with BOM" and RFC 8259 (section 8.1) lets a parser ignore: a
    planner's file is read, not refused for an invisible character. A UTF-16 mark is refused
    by name, since JSON is UTF-8 and the parser would only say "expected value"."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith(_UTF16_BOMS):
        raise ProblemInvalid(
            [FieldError(path="$", message="the text is UTF-16 (it starts with a UTF-16 byte order mark); JSON must be UTF-8")]
        )
    return data.removeprefix(_UTF8_BOM)


class _Pairs(list):
    """A JSON object as its (key, value) pairs in order, so a repeated key is still seen."""


def duplicate_keys(text: str | bytes) -> list[FieldError]:
    """An error at each key that appears more than once in one JSON object.

    JSON parsers keep the last value of a repeated key, so ``"fte": 1.0, "fte": 0.001``
    would silently plan with 0.001. A first pass only counts keys per object (a fraction
    of pydantic's own parse); the paths are worked out by a second pass only when some
    key is repeated. Text that is not readable JSON yields nothing here: the structure
    errors report it.
    """
    repeated = False

    def count(pairs: list[tuple[str, object]]) -> None:
        # None, not the object: the document is not kept, and building it costs more than the count
        nonlocal repeated
        repeated = repeated or len(dict(pairs)) != len(pairs)

    try:
        json.loads(text, object_pairs_hook=count)
    except (ValueError, RecursionError):
        return []
    return _repeated_paths(json.loads(text, object_pairs_hook=_Pairs)) if repeated else []


def _repeated_paths(document: object) -> list[FieldError]:
    """The duplicated keys of a document read as :class:`_Pairs`, in document order."""
    errors: list[FieldError] = []
    stack: list[tuple[Loc, object]] = [((), document)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, _Pairs):
            seen: dict[str, int] = {}
            for key, _value in node:
                seen[key] = seen.get(key, 0) + 1
            errors += [
                FieldError(
                    path=json_path(loc + (key,)),
                    message=f"duplicate key '{key}': it appears {n} times in one object, so which value is meant "
                    "is unclear (each key may appear once)",
                )
                for key, n in seen.items()
                if n > 1
            ]
            stack += [(loc + (key,), value) for key, value in reversed(node)]
        elif isinstance(node, list):
            stack += [(loc + (i,), value) for i, value in reversed(list(enumerate(node)))]
    return errors


#: Error types whose message is clearer with the value that was sent.
_SHOW_INPUT = {"bool_type", "int_type", "float_type", "string_type", "finite_number", "int_parsing", "float_parsing"}


def structure_errors(exc: ValidationError, prefix: Loc = ()) -> list[FieldError]:
    """Pydantic's errors as field paths; a type error names what was sent (``got "yes"``)."""
    out: list[FieldError] = []
    for err in exc.errors():
        message = str(err["msg"])
        if err["type"] == "json_invalid":
            message = f"invalid JSON: {err.get('ctx', {}).get('error', message)}"
        elif err["type"] == "bool_type":
            message = "Input should be a valid boolean (true or false)"
        if err["type"] in _SHOW_INPUT:
            message += f", got {_shown_input(err.get('input'))}"
        out.append(FieldError(path=json_path(prefix + tuple(err["loc"])), message=message))
    return out


def _shown_input(value: object) -> str:
    """A sent value as JSON, cut short: ``"yes"``, ``12.5``, ``null``, ``an object``."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."

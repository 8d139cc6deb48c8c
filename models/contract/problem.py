"""The planning problem (SPEC §2): what a planning tool POSTs and what `pace solve` reads.

These types are the contract between planners, the engine and the independent
checker, so every rule of the planning problem is stated here in words:

Time
    All months are calendar months ``YYYY-MM``. Month index 0 is ``horizon.start``;
    the horizon covers indices ``0 .. horizon.months - 1``.

Trials and options
    A trial that runs uses exactly one of its execution options. The option's
    stages run back to back with no gap; the trial's *duration* is the sum of its
    stage lengths. A trial starting at month ``s`` with duration ``d`` is active in
    months ``s .. s + d - 1``; its ``end`` is month ``s + d - 1`` (inclusive) and it
    must end inside the horizon. In a month of stage ``k`` the trial demands
    ``stage.demand[role]`` FTE of each role and ``stage.services[service]`` units of
    each service.

Windows and deadlines
    ``earliest_start <= start <= latest_start`` when given. The deadline is the
    month by which the trial must have ended: ``months_late = max(0, end - deadline)``
    in months. Lateness is allowed and costs ``tardiness_penalty`` per month late,
    except under the ``cost`` objective, where mandatory trials must be on time.

Mandatory and optional
    Mandatory trials must run. Optional trials may be left out of the plan.

Predecessors
    ``Predecessor(trial=A, lag=L)`` on trial B: B may run only if A runs, and
    ``start_B >= end_A + 1 + L`` (B starts at least ``L`` whole months after A's last
    month).

Staff
    A person can work, in a month, only inside ``[available_from, available_to]``
    (each bound optional) and outside ``leave`` months. In each month the FTE they are
    assigned, summed over all trials and roles, is at most their ``fte``; they work
    on at most ``max_concurrent_trials`` distinct trials in any one month. They may
    serve a trial in their primary ``role`` or any of their ``secondary_roles``; when
    the trial lists ``required_skills`` for that role they must hold all of them;
    when the role is in ``problem.regional_roles`` and the trial lists ``regions``,
    their ``region`` must be one of the trial's regions. A person's cost is
    ``monthly_cost`` for a month at their full ``fte``; assigned time is charged pro
    rata: ``monthly_cost * assigned_fte / fte``. Unassigned time costs the plan
    nothing (the pool is shared with work outside the portfolio).

Demand coverage
    For each trial, role and month, the FTE assigned to named people for that
    trial and role never exceeds the trial's demand. For each role and month, the
    demand of all running trials equals named-staff FTE + flex FTE + shortfall.
    Flex FTE of a role in a month is at most ``flex.max_fte`` and costs
    ``flex.monthly_rate`` per FTE-month. Shortfall (uncovered demand) is allowed only
    when ``objective.weights.shortfall`` is set, at that price per FTE-month;
    otherwise demand must be covered in full.

Services
    Units used of a service in a month (summed over active trials) never exceed the
    service's capacity in that month; each unit costs ``unit_cost``.

Costs and budget
    A trial's cost = assigned staff cost + its share of flex + service units * unit
    cost + the option's ``fixed_cost``, which is spread evenly over the trial's
    active months. Each month's spend counts in its calendar year. Spend in a year
    must not exceed ``budget.per_year[year]`` where given, and total spend must not
    exceed ``budget.total`` where given. Flex cost is attributed to trials pro rata
    to their uncovered demand of that role and month.

Objective (see :class:`Objective`)

Stopped trials
    A trial with ``stopped_from`` M stops from month M (a failed readout, a sponsor's
    decision): it runs as it started, in the option and from the start it already has
    (kept by the freeze of a previous plan, or pinned), but only in the months before M.
    Its stages are cut at M (no demand, service units or cost from M on); the option's
    ``fixed_cost`` and ``service_totals`` count pro rata for the months it ran; it delivers
    no value and has no deadline; its costs to date stay. Trials that name it as a
    predecessor do not run. :func:`models.contract.stops.effective` states exactly what the
    engine and the checker read in its place.

Pins
    ``pins.trials`` fix whether a trial runs, its option and/or its start.
    ``pins.assignments`` must appear in the plan as given. With ``frozen_until`` and
    ``previous_plan``, every trial that had started before ``frozen_until`` in the
    previous plan keeps its option and start, and every previous assignment is kept
    for its months before ``frozen_until``; a trial that had not started by then may
    not start before ``frozen_until``. What a re-plan may change of the previous plan
    after the freeze, for how much gain, is ``settings.stability`` (:class:`Stability`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
#: Longest text (a name, an indication, a unit) a problem may carry.
MAX_TEXT = 1000


def _month(value: str) -> str:
    if not _MONTH_RE.fullmatch(value):
        shown = value if len(value) <= 32 else value[:32] + "..."
        raise PydanticCustomError("month", "'{value}' is not a calendar month YYYY-MM (month 01 to 12)", {"value": shown})
    return value


def _integer(value: Any) -> Any:
    """Integers are never read from text or booleans ("12", true): strict, yet numpy integers pass."""
    if isinstance(value, (str, bytes, bytearray, bool)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Strict scalar types: what a planner sends is taken as typed, never coerced ("yes" is
# not true, "12" is not 12), and every number is finite. Integers may be given where a
# number is expected; JSON floats with no fraction (12.0) count as integers.
Number = Annotated[float, Strict(), AllowInfNan(False)]
Integer = Annotated[int, BeforeValidator(_integer)]
Boolean = Annotated[bool, Strict()]
Month = Annotated[
    str,
    Strict(),
    AfterValidator(_month),
    Field(examples=["2027-01"], description="Calendar month YYYY-MM", json_schema_extra={"pattern": MONTH_PATTERN}),
]
Identifier = Annotated[str, Strict(), Field(min_length=1, max_length=128)]
Text = Annotated[str, Strict(), Field(max_length=MAX_TEXT)]
NonNegative = Annotated[Number, Field(ge=0)]


def month_index(month: str, start: str) -> int:
    """Months from ``start`` to ``month`` (negative when ``month`` is earlier)."""
    y, m = int(month[:4]), int(month[5:7])
    y0, m0 = int(start[:4]), int(start[5:7])
    return (y - y0) * 12 + (m - m0)


def month_at(start: str, index: int) -> str:
    """The calendar month ``index`` months after ``start``."""
    y0, m0 = int(start[:4]), int(start[5:7])
    total = y0 * 12 + (m0 - 1) + index
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def is_month(text: str) -> bool:
    """Whether ``text`` is exactly a calendar month ``YYYY-MM`` (ASCII digits, month 01-12)."""
    return bool(_MONTH_RE.fullmatch(text))


class _Strict(BaseModel):
    """Unknown fields are errors: a typo in a planner's JSON must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Horizon(_Strict):
    start: Month
    months: Integer = Field(ge=1, le=240, description="Number of months planned, typically 24-60")


class Staff(_Strict):
    id: Identifier
    name: Text | None = None
    role: Identifier = Field(description="Primary role")
    secondary_roles: list[Identifier] = Field(default_factory=list)
    fte: Number = Field(1.0, description="Contracted FTE, in [0.001, 1]")
    monthly_cost: NonNegative = Field(
        description="Cost of one month at the person's full FTE; at most 1e8 x fte (1e8 per full-time month)"
    )
    source: Literal["cro", "sponsor"] = "cro"
    region: Identifier = "EU"
    skills: list[Identifier] = Field(default_factory=list, description="Indication experience and other skills")
    available_from: Month | None = None
    available_to: Month | None = None
    leave: list[Month] = Field(default_factory=list, description="Months of leave (no work at all)")
    max_concurrent_trials: Integer = Field(3, ge=1, le=1000, description="Most distinct trials worked on in one month")


ServiceKind = Literal["site_management", "site_network", "dct", "central_lab", "other"]


class Service(_Strict):
    id: Identifier
    name: Text | None = None
    kind: ServiceKind = "other"
    unit: Text = "unit"
    capacity: Number | list[Number] = Field(
        description="Units per month: a constant, or one value per horizon month; each in 0..1e9"
    )
    unit_cost: NonNegative = Field(0.0, description="Cost per unit, at most 1e8")
    contract_volume: NonNegative | None = Field(
        None,
        description="Most units over the whole horizon (a contract's committed volume: an MSA's patient slots, "
        "home-nursing visits), counting stage units and options' service_totals; at most 1e12; None: no cap",
    )


class Flex(_Strict):
    """Extra FTE of a role bought from the CRO's wider organisation."""

    role: Identifier
    monthly_rate: NonNegative = Field(description="Cost per FTE-month, at most 1e8")
    max_fte: NonNegative = Field(description="Most flex FTE of this role in any one month: 0 or 0.001..1e5")


class Stage(_Strict):
    name: Text = "stage"
    # At least 1, checked with the semantic rules (models.contract.validation) rather than here, so
    # that a stage of 0 months is reported together with the problem's other errors.
    months: Integer = Field(description="Length in months, at least 1", json_schema_extra={"minimum": 1})
    demand: dict[Identifier, Number] = Field(
        default_factory=dict, description="FTE per role per month: each 0 or 0.001..1000"
    )
    services: dict[Identifier, Number] = Field(
        default_factory=dict, description="Service units per month: each 0..1e6"
    )


class ExecutionOption(_Strict):
    id: Identifier
    name: Text | None = None
    stages: list[Stage]
    fixed_cost: NonNegative = Field(
        0.0, description="External price (e.g. FSO), spread over the active months; at most 1e12"
    )
    service_totals: dict[Identifier, Number] = Field(
        default_factory=dict,
        description="Service units the option uses over its whole run, in no particular month: they count against "
        "the service's contract_volume (not its monthly capacity) and cost unit_cost each, spread over the active "
        "months like fixed_cost; each 0..1e9",
    )

    @property
    def duration(self) -> int:
        return sum(stage.months for stage in self.stages)


class Predecessor(_Strict):
    trial: Identifier
    lag: Integer = Field(0, ge=0, le=240, description="Whole months between the predecessor's end and this start")


Phase = Literal["I", "II", "III", "IV"]


class Trial(_Strict):
    id: Identifier
    name: Text | None = None
    phase: Phase = "II"
    indication: Text = ""
    regions: list[Identifier] = Field(default_factory=list)
    value: NonNegative = Field(0.0, description="Expected portfolio value, at most 1e12")
    mandatory: Boolean = False
    earliest_start: Month | None = None
    latest_start: Month | None = None
    deadline: Month | None = Field(None, description="Month by which the trial must have ended")
    tardiness_penalty: NonNegative = Field(0.0, description="Cost per month late, at most 1e12")
    predecessors: list[Predecessor] = Field(default_factory=list)
    required_skills: dict[Identifier, list[Identifier]] = Field(
        default_factory=dict, description="Role -> skills every person in that role must hold"
    )
    options: list[ExecutionOption]
    stopped_from: Month | None = Field(
        None,
        description="The trial stops from this month: its work from then on is released, its value lost, its costs "
        "to date kept (it must have started: kept by the freeze, or its option and start pinned)",
    )


class Budget(_Strict):
    total: NonNegative | None = Field(None, description="Cap on total spend, at most 1e15")
    per_year: dict[str, NonNegative] = Field(
        default_factory=dict, description="Calendar year YYYY -> cap, each at most 1e15"
    )


class Weights(_Strict):
    """Penalty weights, in currency units (objective `value` and `cost`) or scaled (others)."""

    shortfall: NonNegative | None = Field(
        None,
        description="Price per uncovered FTE-month, at most 1e10; None means demand must be covered in full",
    )
    tardiness: NonNegative = Field(1.0, description="Multiplier on each trial's tardiness_penalty, at most 1000")
    fragmentation: NonNegative = Field(
        1000.0,
        description="Cost per distinct (person, trial) pair in the roster, in every objective (favouring few "
        "people per trial); at most 1e9",
    )


class Objective(_Strict):
    """What the plan optimises.

    Every kind charges the same money ``C`` = total cost + penalties, where

    - total cost = all spend (named staff pro rata, flex, service units, options'
      fixed costs: what the budget counts);
    - tardiness = ``weights.tardiness * sum(trial.tardiness_penalty * months_late)`` over
      running trials;
    - shortfall = ``weights.shortfall`` per uncovered FTE-month (0 when unset: then no
      demand may go uncovered);
    - fragmentation = ``weights.fragmentation`` per distinct (person, trial) pair in the
      roster (the plan's assignments, pinned ones included): each person assigned to a
      trial, in any role and month, counts once for that trial however many assignments
      they have on it (default 1000 per pair; 0 turns it off).

    - ``value`` (default): maximise sum over running trials of
      ``value * (1 - discount_rate) ** delay`` (delay = months after the trial's earliest
      start, or after the horizon start) minus ``C`` (costs, tardiness, shortfall and
      fragmentation).
    - ``cost``: minimise ``C`` (costs + tardiness, shortfall and fragmentation penalties);
      mandatory trials run and are on time; optional trials are not run unless the
      problem makes them (pinned to run, with a pinned assignment, started before
      ``frozen_until`` in the previous plan, or a predecessor of a trial that must run).
    - ``makespan``: minimise the number of months from the horizon start to the end of the
      last running trial (mandatory trials run; optional trials only as under ``cost``),
      plus ``penalty_scale * C``.
    - ``weighted_completion``: minimise sum of ``w * (end index + 1)`` over trials, ``w`` being
      the trial's value (1 when every value is 0); an optional trial left out counts as
      ending one month after the horizon; plus ``penalty_scale * C``.

    So ``value`` and ``cost`` count all of ``C`` (fragmentation included) in currency units;
    ``makespan`` and ``weighted_completion`` add it scaled by ``penalty_scale``.
    """

    kind: Literal["value", "cost", "makespan", "weighted_completion"] = "value"
    discount_rate: Number = Field(0.01, ge=0, lt=1, description="Share of value lost per month of delay, in [0, 1)")
    weights: Weights = Field(default_factory=Weights)
    penalty_scale: Number = Field(
        1e-9,
        ge=0, description="Factor on costs and penalties added to makespan/weighted_completion, at most 1"
    )


class TrialPin(_Strict):
    trial: Identifier
    run: Boolean | None = None
    option: Identifier | None = None
    start: Month | None = None


class AssignmentPin(_Strict):
    staff: Identifier
    trial: Identifier
    role: Identifier
    start: Month
    end: Month
    fte: Number = Field(gt=0, le=1, description="FTE of the pinned assignment, in [0.001, 1]")


class Pins(_Strict):
    trials: list[TrialPin] = Field(default_factory=list)
    assignments: list[AssignmentPin] = Field(default_factory=list)
    frozen_until: Month | None = None
    previous_plan: "Plan | None" = None


class Stability(_Strict):
    """How much a re-plan may change of its previous plan (``pins.previous_plan``), for how
    much gain: used only when a previous plan is given.

    A change is counted against the previous plan from ``pins.frozen_until`` on (the whole
    horizon without a freeze), as :class:`~models.contract.plan.Churn` defines it: trials
    changed (run, option or start; a trial the previous plan did not list is new, not
    changed), people reassigned (their work changed at all) and FTE-months moved.

    The engine builds several re-plans: the previous plan kept where it still holds (its
    schedule, each person's work where it is still valid, only what no longer holds
    re-staffed), the best schedule it finds staffed with as much of the previous roster as
    still fits, and the best re-plan it finds. With ``tolerance`` alone (the default) it
    returns, among those whose objective is within ``tolerance`` x |best objective| of the
    best one, the one with the fewest changes: fewest trials changed, then people
    reassigned, then FTE-months moved. With prices, each change costs its price in objective
    units and the best objective net of that price wins (among the re-plans within the
    tolerance, if one is given; ``tolerance: null`` lets the prices alone decide). The
    engine stops searching as soon as a re-plan with no more changes than the kept plan is
    proven within ``mip_gap + tolerance`` of the bound. ``settings.stability: null`` returns
    the best re-plan found, whatever it changes (the previous plan is still a candidate, so
    a re-plan is never worse than keeping it where it still holds).
    """

    tolerance: Number | None = Field(
        0.005, ge=0, le=1, description="Share of |best objective| the planner gives up, at most, for fewer changes"
    )
    trial_change: NonNegative | None = Field(None, description="Price per trial changed, in objective units")
    person_reassigned: NonNegative | None = Field(None, description="Price per person reassigned, in objective units")
    fte_month_moved: NonNegative | None = Field(None, description="Price per FTE-month moved, in objective units")

    @property
    def priced(self) -> bool:
        return any(p is not None for p in (self.trial_change, self.person_reassigned, self.fte_month_moved))


class Settings(_Strict):
    time_limit: Number = Field(60.0, gt=0, description="Wall-clock seconds for the whole solve")
    mip_gap: Number = Field(0.01, ge=0, le=1, description="Relative MIP gap at which HiGHS stops")
    threads: Integer | None = Field(None, ge=1, le=1024, description="HiGHS threads; the service uses at most its machine's cores")
    seed: Integer = Field(0, ge=0, le=2**31 - 1, description="HiGHS random seed")
    reproducible: Boolean = Field(
        False,
        description="The same plan on every run of one machine, whatever its load: work limits instead of "
        "wall-clock ones and no stages racing on a second thread (usually a looser bound, sometimes a worse plan)",
    )
    budget_step: Number | None = Field(
        None,
        gt=0,
        le=10,
        description="When set, what more budget would buy is estimated for each year with a budget: that year's "
        "budget raised by this share of it and the portfolio stage solved again, within the time limit "
        "(plan.budget.per_year[].objective_gain); null: not estimated",
    )
    stability: Stability | None = Field(
        default_factory=Stability,
        description="With a previous plan: how much a re-plan may change of it for how much gain (default: the fewest "
        "changes within 0.5 % of the best re-plan found); null: the best re-plan, whatever it changes",
    )


class Problem(_Strict):
    name: Text = "portfolio"
    horizon: Horizon
    roles: list[Identifier]
    regional_roles: list[Identifier] = Field(
        default_factory=list, description="Roles whose people must be in one of the trial's regions"
    )
    staff: list[Staff] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    flex: list[Flex] = Field(default_factory=list)
    trials: list[Trial]
    budget: Budget = Field(default_factory=Budget)
    objective: Objective = Field(default_factory=Objective)
    pins: Pins = Field(default_factory=Pins)
    settings: Settings = Field(default_factory=Settings)

    def month(self, index: int) -> str:
        return month_at(self.horizon.start, index)

    def index(self, month: str) -> int:
        return month_index(month, self.horizon.start)


class FieldError(BaseModel):
    """One precise reason an input is invalid: where (a JSON path) and why."""

    path: str = Field(examples=["trials[3].options[0].stages[1].demand.CRX"])
    message: str


class ProblemInvalid(ValueError):
    """An input that is not a valid problem; carries every error found, not just the first.
    ``parsed`` is the input read all the same where only repeated keys were wrong (the last
    of each kept), so that its rules can be checked and reported in the same answer."""

    def __init__(self, errors: list[FieldError], parsed: object | None = None) -> None:
        self.errors = errors
        self.parsed = parsed
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


def json_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the JSON path planners see, e.g. ``trials[3].options[0].id``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "$"


from models.contract.plan import Plan  # noqa: E402  (Pins.previous_plan refers to it; plan.py imports nothing from here)

Pins.model_rebuild()
Problem.model_rebuild()

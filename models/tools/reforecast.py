"""The monthly reforecast as input (SPEC §3): what happened since a plan, applied to its problem.

A planner re-plans from the plan they published, its problem and a short list of events::

    {"frozen_until": "2027-08",
     "events": [
       {"kind": "staff_leaves", "staff": "CRA-012", "from": "2027-09"},
       {"kind": "staff_joins", "staff": {"id": "CRA-201", "role": "CRA", "monthly_cost": 9800}, "from": "2027-10"},
       {"kind": "trial_stops", "trial": "T07", "from": "2027-09"},
       {"kind": "trial_dropped", "trial": "T21"},
       {"kind": "trial_added", "trial": {"id": "T31", "options": [...]}},
       {"kind": "budget", "year": "2028", "scale": 0.8},
       {"kind": "service_capacity", "service": "SMO", "from": "2027-10", "capacity": 40},
       {"kind": "deadline", "trial": "T12", "deadline": "2028-09"}],
     "settings": {"time_limit": 30}}

:func:`apply_reforecast` returns the next problem: the events applied, the freeze at
``frozen_until`` and the plan as ``pins.previous_plan`` (replacing any earlier one), other
pins and settings kept (``settings`` here overrides single settings). What each event means:

- ``staff_leaves``: the person works no month from ``from`` on (``available_to`` is the
  month before); they stay in the pool, since their past work is kept.

A month an event takes effect (``from``) is inside the horizon and, for a leaver, a stop
and a capacity change, not before the freeze: the frozen months keep what they had.
- ``staff_joins``: a new person (a staff record) available from ``from`` (if given).
- ``trial_stops``: the trial stops from ``from`` (``stopped_from``: its work from then on is
  released, its value lost, its costs to date kept); it must have started before ``from``
  in the plan.
- ``trial_dropped``: a trial that has not started is left out (no longer mandatory, pinned
  not to run).
- ``trial_added``: a new trial (a trial record).
- ``budget``: a year's budget (``year``) or the total (no ``year``) set to ``amount`` or
  scaled by ``scale``.
- ``service_capacity``: the service's monthly capacity from ``from`` on (the months before keep theirs).
- ``deadline``: the trial's deadline moves (null: no deadline).

Bad input is refused with a path into the reforecast (``events[2].from``), every error at
once, and nothing is applied: :class:`~models.contract.problem.ProblemInvalid`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.contract.identity import portfolio_mismatch
from models.contract.plan import Plan
from models.contract.problem import FieldError, Identifier, Month, NonNegative, Number, Problem, ProblemInvalid, Staff, Trial, month_at
from models.contract.validation import parse_problem, parse_strict


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StaffLeaves(_Event):
    kind: Literal["staff_leaves"]
    staff: Identifier
    from_: Month = Field(alias="from", description="First month they no longer work")


class StaffJoins(_Event):
    kind: Literal["staff_joins"]
    staff: Staff
    from_: Month | None = Field(None, alias="from", description="First month they work (their available_from)")


class TrialStops(_Event):
    kind: Literal["trial_stops"]
    trial: Identifier
    from_: Month = Field(alias="from", description="First month the trial no longer runs")


class TrialDropped(_Event):
    kind: Literal["trial_dropped"]
    trial: Identifier


class TrialAdded(_Event):
    kind: Literal["trial_added"]
    trial: Trial


class BudgetChange(_Event):
    kind: Literal["budget"]
    year: str | None = Field(None, description="Calendar year YYYY; none: the total budget")
    amount: NonNegative | None = Field(None, description="The new budget")
    scale: NonNegative | None = Field(None, description="Factor on the current budget")


class ServiceCapacity(_Event):
    kind: Literal["service_capacity"]
    service: Identifier
    from_: Month = Field(alias="from", description="First month with the new capacity")
    capacity: Number = Field(ge=0, description="Units per month from then on")


class DeadlineMoves(_Event):
    kind: Literal["deadline"]
    trial: Identifier
    deadline: Month | None


Event = Annotated[
    StaffLeaves | StaffJoins | TrialStops | TrialDropped | TrialAdded | BudgetChange | ServiceCapacity | DeadlineMoves,
    Field(discriminator="kind"),
]


class Reforecast(BaseModel):
    """What happened since a plan: the new freeze, the events, settings to override."""

    model_config = ConfigDict(extra="forbid")

    frozen_until: Month = Field(description="Before this month everything stays as in the plan")
    events: list[Event] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings to override (time_limit, stability, ...)")


def parse_reforecast(data: str | bytes | dict[str, Any]) -> Reforecast:
    """A reforecast from JSON (strict, like a problem) or a dict; :class:`ProblemInvalid` with every error's path."""
    return parse_strict(Reforecast, data)


class _Applier:
    """The events applied one by one to the problem's JSON, with every error at its event."""

    def __init__(self, problem: Problem, plan: Plan, frozen_until: str):
        self.problem, self.plan, self.frozen_until = problem, plan, frozen_until
        self.doc: dict[str, Any] = problem.model_dump(mode="json")
        self.errors: list[FieldError] = []
        #: Paths in the new problem of what an event added, and the event's path.
        self.origins: dict[str, str] = {}

    def error(self, at: str, message: str) -> None:
        self.errors.append(FieldError(path=at, message=message))

    def index(self, kind: str, key: str, at: str) -> int | None:
        ids = [item["id"] for item in self.doc[kind]]
        if key in ids:
            return ids.index(key)
        self.error(at, f"unknown {kind[:-1] if kind != 'staff' else 'staff'} '{key}'")
        return None

    def in_horizon(self, month: str, at: str) -> bool:
        if 0 <= self.problem.index(month) < self.problem.horizon.months:
            return True
        last = self.problem.month(self.problem.horizon.months - 1)
        self.error(at, f"{month} is outside the horizon {self.problem.horizon.start}..{last}")
        return False

    def apply(self, event: Any, at: str) -> None:
        getattr(self, event.kind)(event, at)

    def after_freeze(self, month: str, at: str) -> bool:
        """Whether ``month`` is in the horizon and not before the freeze (the frozen months keep what they had)."""
        if not self.in_horizon(month, at):
            return False
        if month < self.frozen_until:
            self.error(at, f"{month} is before the freeze at {self.frozen_until}: the frozen months keep what they had")
            return False
        return True

    def staff_leaves(self, e: StaffLeaves, at: str) -> None:
        i = self.index("staff", e.staff, f"{at}.staff")
        if i is not None and self.after_freeze(e.from_, f"{at}.from"):
            self.doc["staff"][i]["available_to"] = month_at(e.from_, -1)

    def staff_joins(self, e: StaffJoins, at: str) -> None:
        if any(s["id"] == e.staff.id for s in self.doc["staff"]):
            self.error(f"{at}.staff.id", f"staff '{e.staff.id}' is already in the pool")
            return
        record = e.staff.model_dump(mode="json")
        if e.from_ is not None and self.in_horizon(e.from_, f"{at}.from"):
            record["available_from"] = e.from_
        self.origins[f"staff[{len(self.doc['staff'])}]"] = f"{at}.staff"
        self.doc["staff"].append(record)

    def trial_stops(self, e: TrialStops, at: str) -> None:
        i = self.index("trials", e.trial, f"{at}.trial")
        if i is None or not self.after_freeze(e.from_, f"{at}.from"):
            return
        entry = next((t for t in self.plan.trials if t.id == e.trial), None)
        if entry is None or not entry.run or entry.start is None:
            self.error(f"{at}.trial", f"trial '{e.trial}' does not run in the plan: leave it out with trial_dropped")
        elif e.from_ <= entry.start:
            self.error(
                f"{at}.from",
                f"trial '{e.trial}' starts {entry.start} in the plan: a stop from {e.from_} is not after its start "
                "(a trial that has not started is left out with trial_dropped)",
            )
        else:
            self.doc["trials"][i]["stopped_from"] = e.from_

    def trial_dropped(self, e: TrialDropped, at: str) -> None:
        i = self.index("trials", e.trial, f"{at}.trial")
        if i is None:
            return
        self.doc["trials"][i]["mandatory"] = False
        pins = [p for p in self.doc["pins"]["trials"] if p["trial"] != e.trial]
        self.doc["pins"]["trials"] = [*pins, {"trial": e.trial, "run": False}]

    def trial_added(self, e: TrialAdded, at: str) -> None:
        if any(t["id"] == e.trial.id for t in self.doc["trials"]):
            self.error(f"{at}.trial.id", f"trial '{e.trial.id}' is already in the portfolio")
            return
        self.origins[f"trials[{len(self.doc['trials'])}]"] = f"{at}.trial"
        self.doc["trials"].append(e.trial.model_dump(mode="json"))

    def budget(self, e: BudgetChange, at: str) -> None:
        if (e.amount is None) == (e.scale is None):
            self.error(at, "give exactly one of amount and scale")
            return
        budget = self.doc["budget"]
        if e.year is None:
            current = budget.get("total")
            if current is None and e.scale is not None:
                self.error(f"{at}.scale", "there is no total budget to scale")
                return
            budget["total"] = e.amount if e.amount is not None else current * e.scale
            return
        current = budget["per_year"].get(e.year)
        if current is None and e.scale is not None:
            self.error(f"{at}.year", f"there is no budget for {e.year} to scale")
            return
        budget["per_year"][e.year] = e.amount if e.amount is not None else current * e.scale

    def service_capacity(self, e: ServiceCapacity, at: str) -> None:
        i = self.index("services", e.service, f"{at}.service")
        if i is None or not self.after_freeze(e.from_, f"{at}.from"):
            return
        service = self.doc["services"][i]
        months = self.problem.horizon.months
        series = list(service["capacity"]) if isinstance(service["capacity"], list) else [service["capacity"]] * months
        first = self.problem.index(e.from_)
        service["capacity"] = series[:first] + [e.capacity] * (months - first)

    def deadline(self, e: DeadlineMoves, at: str) -> None:
        i = self.index("trials", e.trial, f"{at}.trial")
        if i is not None:
            self.doc["trials"][i]["deadline"] = e.deadline

    def origin(self, path: str) -> str:
        """A path of the new problem, as a path into the reforecast where an event added it."""
        for added, event in self.origins.items():
            if path == added or path.startswith(added + "."):
                return event + path[len(added):]
        return path


def apply_reforecast(problem: Problem, plan: Plan, change: Reforecast) -> Problem:
    """The next month's problem: ``change``'s events applied to ``problem``, frozen until its
    month with ``plan`` as the previous plan (see the module docstring). Raises
    :class:`ProblemInvalid` with every error, at its path in the reforecast where it is
    the reforecast's (``events[2].from``), else at its path in the new problem."""
    applier = _Applier(problem, plan, change.frozen_until)
    if (other := portfolio_mismatch(problem, plan)) is not None:
        raise ProblemInvalid([FieldError(path="plan", message=other)])
    applier.in_horizon(change.frozen_until, "frozen_until")
    for i, event in enumerate(change.events):
        applier.apply(event, f"events[{i}]")
    if applier.errors:
        raise ProblemInvalid(applier.errors)
    doc = applier.doc
    doc["pins"]["frozen_until"] = change.frozen_until
    doc["pins"]["previous_plan"] = plan.model_dump(mode="json")
    doc["settings"] = {**doc["settings"], **change.settings}
    try:
        return parse_problem(doc)
    except ProblemInvalid as exc:
        raise ProblemInvalid([FieldError(path=applier.origin(e.path), message=e.message) for e in exc.errors]) from None

"""The API's own types; problems, plans and field errors are the engine's types as they are."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from models.contract.check import Violation
from models.contract.plan import Plan, Status
from models.contract.problem import FieldError, Problem

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ProgressPoint(BaseModel):
    """One observation of a running solve (in the objective's units and sense)."""

    elapsed: float = Field(description="Seconds since the solve started")
    stage: str = Field(examples=["portfolio[0]"])
    activity: str = Field(
        "", description="What the stage does, in plain words", examples=["choosing trials, options and start months"]
    )
    incumbent: float | None = Field(None, description="Best objective found so far")
    bound: float | None = Field(None, description="Best bound so far")
    gap: float | None = Field(None, description="Relative gap between the two")


class PlanSummary(BaseModel):
    status: Status
    objective: float | None = None
    gap: float | None = None


class JobLinks(BaseModel):
    self: str = Field(examples=["/v1/jobs/3f2b8c1e-5d4a-4b7e-9c61-0a8d2e4f6b13"])
    plan: str = Field(examples=["/v1/jobs/3f2b8c1e-5d4a-4b7e-9c61-0a8d2e4f6b13/plan"])


class JobSummary(BaseModel):
    id: str
    state: JobState
    created_at: datetime
    started_at: datetime | None = Field(None, description="When its latest run started")
    finished_at: datetime | None = None
    time_limit: float = Field(description="Seconds the solve may take")
    attempts: int = Field(description="Runs started (more than one if a server stopped during a run)")
    cancel_requested: bool
    error: str | None = Field(None, description="Why it failed, or why it was cancelled without a plan")
    name: str | None = Field(None, description="The problem's name", examples=["PACE reference portfolio"])
    objective_kind: str | None = Field(None, description="What the plan optimises (the problem's objective.kind)", examples=["value"])
    status: Status | None = Field(None, description="The plan's status, once it has one")
    objective: float | None = Field(None, description="The plan's objective, once it has one")
    trials_run: int | None = Field(None, description="Trials the plan runs, once it has one")
    links: JobLinks


class JobOut(JobSummary):
    """A job with its plan's headline numbers (once stored) and the progress of its latest run."""

    result: PlanSummary | None = None
    progress: list[ProgressPoint] = Field(default_factory=list)


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int = Field(description="Jobs matching, over all pages")
    limit: int
    offset: int
    next: str | None = Field(None, description="The next page, if any")


class RoleCapacity(BaseModel):
    """Named capacity and flex of one role over the horizon against the least demand trials put on it.

    A trial's least demand for the role is that of its option needing the fewest FTE-months
    of the role, so ``mandatory_demand`` above ``available + flex`` proves the problem
    infeasible; below it, the plan may still be tight in some months.
    """

    role: str
    staff: int = Field(description="People whose primary role this is")
    available: float = Field(description="Their FTE-months inside the horizon, net of availability and leave")
    flex: float = Field(description="Flex FTE-months the role may buy at most")
    mandatory_demand: float = Field(description="Least FTE-months the mandatory trials need")
    all_demand: float = Field(description="Least FTE-months every trial together needs")
    covers_mandatory: bool = Field(description="available + flex >= mandatory_demand")


class CapacitySummary(BaseModel):
    staff: int
    trials: int
    mandatory_trials: int
    months: int
    roles: list[RoleCapacity]


class ValidateOut(BaseModel):
    valid: bool
    errors: list[FieldError] = Field(default_factory=list, description="Why the problem is invalid")
    limits: list[FieldError] = Field(
        default_factory=list, description="This server's limits a valid problem breaches: a job would be refused"
    )
    summary: CapacitySummary | None = Field(None, description="Only for a valid problem")


class CheckIn(BaseModel):
    problem: Problem
    plan: Plan


class CheckOut(BaseModel):
    valid: bool = Field(description="True when the checker found no violation")
    other_portfolio: str | None = Field(
        None, description="Set when the plan was made for another portfolio: the verdict, in place of a list of violations"
    )
    note: str | None = Field(None, description="Set when the plan was made for another version of this portfolio")
    violations: list[Violation]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    workers: int = Field(description="Job solves that may run at once")
    running: int = Field(description="Job solves running now")

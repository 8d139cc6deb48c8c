"""/v1/batches: what-if studies, a scenario file in, each scenario solved, one summary out.

A batch belongs to the API key that sent it, like a job: another key gets 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api.auth import Owner
from app.api.body import json_body, json_request_body
from app.api.errors import COMMON_RESPONSES, JSON_BODY_RESPONSES
from app.api.examples import small_problem
from models.contract.problem import FieldError

if TYPE_CHECKING:
    from app.services.batches import BatchService

BATCHES_PATH = "/v1/batches"
BATCH_ID = "7d0c5b8e-2a41-4c9f-8e3a-61f0b2d4c975"

ScenarioState = Literal["invalid", "queued", "running", "succeeded", "failed", "cancelled"]


class ScenarioLinks(BaseModel):
    plan: str = Field(description="The scenario's plan (409 while it has none)", examples=[f"{BATCHES_PATH}/{BATCH_ID}/scenarios/1/plan"])
    job: str | None = Field(None, description="The job that runs it, when it runs as a job")


class ScenarioOut(BaseModel):
    position: int = Field(description="Its place in the batch: 0 is the base")
    name: str = Field(examples=["budget cut 10%"])
    state: ScenarioState
    job_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list, description="Why it is invalid, each with its field path")
    links: ScenarioLinks


class SummaryRowOut(BaseModel):
    """One scenario's line of the summary: ``status`` is its plan's, or ``invalid``, or the
    scenario's state while it has no plan (queued, running, failed, cancelled)."""

    scenario: str
    status: str
    objective: float | None = None
    cost: float | None = None
    trials_run: int | None = None
    trials_late: int | None = None
    utilisation: float | None = Field(None, description="The plan's mean utilisation")
    gap: float | None = None
    seconds: float | None = Field(None, description="The solve's wall time")
    message: str = ""
    least_change: str = Field("", description="For an infeasible scenario: the least change that makes it solvable (its plan's relaxations)")


class ComparedOut(BaseModel):
    """A scenario beside the base: ``objective_change`` against the base's objective, spend per
    calendar year, and mean FTE per role (named staff plus flex over the horizon's months)."""

    scenario: str
    status: str
    objective: float | None = None
    objective_change: float | None = None
    cost_per_year: dict[str, float] = Field(default_factory=dict)
    trials_run: int | None = None
    trials_late: int | None = None
    fte_per_role: dict[str, float] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict, description="Where its plan (and job) can be read")
    least_change: str = Field("", description="For an infeasible scenario: the least change that makes it solvable (its plan's relaxations)")


class BatchLinks(BaseModel):
    self: str = Field(examples=[f"{BATCHES_PATH}/{BATCH_ID}"])


class BatchOut(BaseModel):
    id: str
    name: str = Field(description="The base problem's name")
    created_at: datetime
    state: Literal["running", "finished"] = Field(description="finished once no scenario is queued or running")
    executor: Literal["jobs", "dask"] = Field(description="Where its scenarios run: this service's job queue or its Dask cluster")
    valid: bool = Field(description="Every scenario passed validation (the invalid ones are listed with their errors)")
    counts: dict[str, int] = Field(description="Scenarios per state")
    scenarios: list[ScenarioOut]
    summary: list[SummaryRowOut]
    comparison: list[ComparedOut]
    links: BatchLinks


def batch_examples() -> dict[str, dict[str, Any]]:
    base = small_problem()
    return {
        "sweep": {
            "summary": "Budget cut, a mandatory trial, more CRAs and a budget sweep on the small portfolio",
            "description": "Seven scenarios of data/example-small.json, 10 s each at most.",
            "value": {
                "base": base,
                "settings": {"time_limit": 10},
                "scenarios": [
                    {"name": "budget cut 10%", "changes": [{"scale": "budget.per_year.*", "by": 0.9}]},
                    {"name": "T02 mandatory", "changes": [{"set": "trials[T02].mandatory", "value": True}]},
                    {"name": "2 more CRAs", "changes": [{"add": "staff", "like": "CRA-001", "count": 2}]},
                ],
                "sweep": {"path": "budget.per_year.2027", "op": "scale", "values": [0.8, 1.2, 1.5], "name": "budget x{value}"},
            },
        }
    }


def batch_service(request: Request) -> "BatchService":
    return request.app.state.batches


Batches = Annotated[Any, Depends(batch_service)]
BatchId = Annotated[str, Path(description="The batch's id", openapi_examples={"batch": {"value": BATCH_ID}})]
Position = Annotated[int, Path(ge=0, description="The scenario's position (0: the base)", openapi_examples={"base": {"value": 0}})]
_NOT_FOUND = {404: {"description": "No such batch, or another key's batch"}}

router = APIRouter(prefix=BATCHES_PATH, tags=["batches"])


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    summary="Submit a scenario file as a batch",
    operation_id="submit_batch",
    openapi_extra=json_request_body("ScenarioFile", batch_examples()),
    responses={
        202: {"description": "Accepted", "headers": {"Location": {"description": "The batch's URL", "schema": {"type": "string"}}}},
        **COMMON_RESPONSES,
        **JSON_BODY_RESPONSES,
        422: {"description": "Not a scenario file, an invalid base problem, or too many scenarios (each error with its field path)"},
    },
)
async def submit(request: Request, owner: Owner, batches: Batches, response: Response) -> BatchOut:
    """The base (inline) and each scenario become full problems, validated like any problem: an
    invalid scenario is kept as ``invalid`` with its errors, the others are solved (each a job,
    or on the service's Dask cluster). Poll the ``Location`` for states and the summary."""
    batch = await run_in_threadpool(batches.submit, owner, await json_body(request))
    response.headers["Location"] = batch.links.self
    return batch


@router.get(
    "/{batch_id}",
    response_model=BatchOut,
    summary="A batch: each scenario's state, the summary table and the comparison with the base",
    operation_id="get_batch",
    responses={**COMMON_RESPONSES, **_NOT_FOUND},
)
def get_batch(batch_id: BatchId, owner: Owner, batches: Batches) -> BatchOut:
    return batches.get(owner, batch_id)


@router.get(
    "/{batch_id}/scenarios/{position}/plan",
    summary="A scenario's plan",
    operation_id="get_batch_plan",
    responses={
        200: {"description": "The plan", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Plan"}}}},
        **COMMON_RESPONSES,
        **_NOT_FOUND,
        409: {"description": "The scenario has no plan (yet)"},
    },
)
def get_plan(batch_id: BatchId, position: Position, owner: Owner, batches: Batches) -> Response:
    return Response(batches.plan_json(owner, batch_id, position), media_type="application/json")

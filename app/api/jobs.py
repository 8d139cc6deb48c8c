"""/v1/jobs: asynchronous solves that survive restarts, report progress and can be cancelled."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app.api.auth import Owner
from app.api.body import json_body, json_request_body
from app.api.deps import AppServices
from app.api.errors import COMMON_RESPONSES, JSON_BODY_RESPONSES
from app.api.examples import JOB_ID, problem_examples, reforecast_examples
from app.api.schemas import JobOut, JobPage, JobState
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.tools.xlsx import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, plan_to_xlsx, plan_trials_csv

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_NOT_FOUND = {404: {"description": "No such job, or another key's job"}}
JobId = Annotated[str, Path(description="The job's id", openapi_examples={"job": {"value": JOB_ID}})]


#: OpenAPI links from a submitted job to what a client does next with it (stateful clients and fuzzers follow them).
_JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}, "description": description}
    for name, operation, description in (
        ("GetJob", "get_job", "Poll the job"),
        ("GetPlan", "get_plan", "Fetch its plan once it has one"),
        ("CancelJob", "cancel_job", "Cancel it"),
    )
}


def _queued(description: str) -> dict[str, object]:
    """A 202 answer with the queued job, its URL in ``Location`` and links to what comes next."""
    return {
        "description": description,
        "headers": {"Location": {"description": "The job's URL", "schema": {"type": "string"}}},
        "links": _JOB_LINKS,
    }


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Submit a problem as a job",
    operation_id="submit_job",
    openapi_extra=json_request_body("Problem", problem_examples()),
    responses={
        202: _queued("Queued"),
        **COMMON_RESPONSES,
        **JSON_BODY_RESPONSES,
        422: {"description": "Invalid problem (each error with its field path) or a server limit exceeded"},
    },
)
async def submit(request: Request, owner: Owner, app: AppServices, response: Response) -> JobOut:
    """Queue the problem; a worker process solves it within its ``settings.time_limit``
    (at most the server's ``PACE_MAX_TIME_LIMIT``). Poll the ``Location`` for progress."""
    job = await run_in_threadpool(app.jobs.submit, owner, await json_body(request))
    response.headers["Location"] = job.links.self
    return job


@router.post(
    "/{job_id}/replan",
    status_code=202,
    response_model=JobOut,
    summary="Re-plan a job's plan after a month's events, as a new job",
    operation_id="replan_job",
    openapi_extra=json_request_body("Reforecast", reforecast_examples()),
    responses={
        202: _queued("The re-plan, queued as a new job"),
        **COMMON_RESPONSES,
        **JSON_BODY_RESPONSES,
        **_NOT_FOUND,
        409: {"description": "The job has no plan (yet)"},
        422: {"description": "Invalid changes (each error with its path, e.g. events[2].from) or a server limit exceeded"},
    },
)
async def replan(job_id: JobId, request: Request, owner: Owner, app: AppServices, response: Response) -> JobOut:
    """The job's problem with the events applied, frozen until ``frozen_until``, and its plan
    as the previous plan: the new job changes what the events force (``settings.stability``).
    Compare the two with ``GET /v1/jobs/{new}/diff?against={job_id}&since={frozen_until}``."""
    job = await run_in_threadpool(app.jobs.replan, owner, job_id, await json_body(request))
    response.headers["Location"] = job.links.self
    return job


@router.get("", response_model=JobPage, summary="List your jobs, newest first", operation_id="list_jobs", responses=COMMON_RESPONSES)
def list_jobs(
    owner: Owner,
    app: AppServices,
    limit: Annotated[int, Query(ge=1, le=100, openapi_examples={"page": {"value": 20}})] = 20,
    offset: Annotated[int, Query(ge=0, openapi_examples={"first": {"value": 0}})] = 0,
    state: Annotated[JobState | None, Query(openapi_examples={"running": {"value": "running"}})] = None,
) -> JobPage:
    return app.jobs.page(owner, limit, offset, state)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job's state, timestamps and progress",
    operation_id="get_job",
    responses={**COMMON_RESPONSES, **_NOT_FOUND},
)
def get_job(job_id: JobId, owner: Owner, app: AppServices) -> JobOut:
    """While it runs, ``progress`` is the series of (incumbent, bound, gap) of the current run."""
    return app.jobs.get(owner, job_id)


@router.get(
    "/{job_id}/plan",
    response_model=Plan,
    summary="A job's plan",
    operation_id="get_plan",
    responses={
        200: {
            "description": "The plan: JSON, an Excel workbook of every table, or the trials table as CSV",
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}, CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **COMMON_RESPONSES,
        **_NOT_FOUND,
        409: {"description": "The job has no plan (yet)"},
    },
)
def get_plan(
    job_id: JobId,
    owner: Owner,
    app: AppServices,
    format: Annotated[
        Literal["json", "xlsx", "csv"],
        Query(description="json (the plan), xlsx (every table, one sheet each, with the problem's names and a People sheet) or csv (the trials table)", openapi_examples={"json": {"value": "json"}, "xlsx": {"value": "xlsx"}}),
    ] = "json",
) -> Response:
    """The plan of a succeeded job, or the best plan a cancelled job kept."""
    body = app.jobs.plan_json(owner, job_id)
    if format == "json":
        return Response(body, media_type="application/json")
    plan = Plan.model_validate_json(body)
    attachment = {"Content-Disposition": f'attachment; filename="plan-{job_id}.{format}"'}
    if format == "xlsx":
        problem = Problem.model_validate_json(app.store.problem_json(job_id))
        return Response(plan_to_xlsx(plan, problem), media_type=XLSX_MEDIA_TYPE, headers=attachment)
    return Response(plan_trials_csv(plan), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8", headers=attachment)


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a job",
    operation_id="cancel_job",
    responses={
        200: {"description": "Cancelled (it was queued, or already cancelled)"},
        202: {"description": "Cancel requested: the running solve stops and keeps its best plan", "model": JobOut},
        **COMMON_RESPONSES,
        **_NOT_FOUND,
        409: {"description": "The job has already succeeded or failed"},
    },
)
def cancel_job(job_id: JobId, owner: Owner, app: AppServices, response: Response) -> JobOut:
    job = app.jobs.cancel(owner, job_id)
    response.status_code = 202 if job.state == "running" else 200
    return job

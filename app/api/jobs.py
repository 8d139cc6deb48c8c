"""/v1/jobs: asynchronous solves that survive restarts, report progress and can be cancelled."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from app.api.auth import Owner
from app.api.deps import AppServices
from app.api.errors import TOO_LARGE_RESPONSE, UNAUTHORIZED_RESPONSE
from app.api.examples import JOB_ID, problem_examples
from app.api.schemas import JobOut, JobPage, JobState
from models.contract.plan import Plan
from models.contract.problem import Problem

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_NOT_FOUND = {404: {"description": "No such job, or another key's job"}}
JobId = Annotated[str, Path(description="The job's id", openapi_examples={"job": {"value": JOB_ID}})]


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    summary="Submit a problem as a job",
    responses={
        202: {"description": "Queued", "headers": {"Location": {"description": "The job's URL", "schema": {"type": "string"}}}},
        **UNAUTHORIZED_RESPONSE,
        **TOO_LARGE_RESPONSE,
        422: {"description": "Invalid problem (each error with its field path) or a server limit exceeded"},
    },
)
def submit(
    problem: Annotated[Problem, Body(openapi_examples=problem_examples())], owner: Owner, app: AppServices, response: Response
) -> JobOut:
    """Queue the problem; a worker process solves it within its ``settings.time_limit``
    (at most the server's ``PACE_MAX_TIME_LIMIT``). Poll the ``Location`` for progress."""
    job = app.jobs.submit(owner, problem)
    response.headers["Location"] = job.links.self
    return job


@router.get("", response_model=JobPage, summary="List your jobs, newest first", responses=UNAUTHORIZED_RESPONSE)
def list_jobs(
    owner: Owner,
    app: AppServices,
    limit: Annotated[int, Query(ge=1, le=100, openapi_examples={"page": {"value": 20}})] = 20,
    offset: Annotated[int, Query(ge=0, openapi_examples={"first": {"value": 0}})] = 0,
    state: Annotated[JobState | None, Query(openapi_examples={"running": {"value": "running"}})] = None,
) -> JobPage:
    return app.jobs.page(owner, limit, offset, state)


@router.get("/{job_id}", response_model=JobOut, summary="A job's state, timestamps and progress", responses={**UNAUTHORIZED_RESPONSE, **_NOT_FOUND})
def get_job(job_id: JobId, owner: Owner, app: AppServices) -> JobOut:
    """While it runs, ``progress`` is the series of (incumbent, bound, gap) of the current run."""
    return app.jobs.get(owner, job_id)


@router.get(
    "/{job_id}/plan",
    response_model=Plan,
    summary="A job's plan",
    responses={**UNAUTHORIZED_RESPONSE, **_NOT_FOUND, 409: {"description": "The job has no plan (yet)"}},
)
def get_plan(job_id: JobId, owner: Owner, app: AppServices) -> Response:
    """The plan of a succeeded job, or the best plan a cancelled job kept."""
    return Response(app.jobs.plan_json(owner, job_id), media_type="application/json")


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a job",
    responses={
        200: {"description": "Cancelled (it was queued, or already cancelled)"},
        202: {"description": "Cancel requested: the running solve stops and keeps its best plan", "model": JobOut},
        **UNAUTHORIZED_RESPONSE,
        **_NOT_FOUND,
        409: {"description": "The job has already succeeded or failed"},
    },
)
def cancel_job(job_id: JobId, owner: Owner, app: AppServices, response: Response) -> JobOut:
    job = app.jobs.cancel(owner, job_id)
    response.status_code = 202 if job.state == "running" else 200
    return job

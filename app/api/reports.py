"""What planners read: a job's HTML report, two jobs' plans compared, a problem imported from Excel.

The report and the comparison are the CLI's (``pace report``, ``pace diff``) over stored
plans; each job is read through the job service, so a key sees only its own jobs (and
compares only its own: another key's job is a 404 like an unknown one).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from app.api.auth import Owner, current_owner
from app.api.deps import AppServices
from app.api.errors import COMMON_RESPONSES, OTHER_PORTFOLIO, UNSUPPORTED_MEDIA_TYPE, ApiError, invalid_input
from app.api.examples import JOB_ID
from app.api.jobs import JobId
from models.contract.plan import Plan
from models.contract.problem import MONTH_PATTERN, FieldError, Problem
from models.tools.diff import OtherPortfolio, PlanDiff, diff_plans
from models.tools.report import render_report
from models.tools.xlsx import XLSX_MEDIA_TYPE, WorkbookInvalid, problem_from_xlsx

router = APIRouter(tags=["reports"], dependencies=[Depends(current_owner)])

_NOT_FOUND = {404: {"description": "No such job, or another key's job"}}
_NO_PLAN = {409: {"description": "The job has no plan (yet)"}}
#: Media types a workbook may arrive with (browsers and curl often send the generic one).
_WORKBOOK_TYPES = (XLSX_MEDIA_TYPE, "application/octet-stream")


@router.get(
    "/v1/jobs/{job_id}/report",
    response_class=HTMLResponse,
    summary="A job's plan as a self-contained HTML report",
    operation_id="get_report",
    responses={200: {"description": "One HTML file (plotly.js inline: it opens offline)"}, **COMMON_RESPONSES, **_NOT_FOUND, **_NO_PLAN},
)
def get_report(job_id: JobId, owner: Owner, app: AppServices) -> HTMLResponse:
    """Gantt chart of the trials, roles × months heatmap, budget burn per year, service usage, KPIs and explanations."""
    plan = Plan.model_validate_json(app.jobs.plan_json(owner, job_id))
    problem = Problem.model_validate_json(app.store.problem_json(job_id))
    return HTMLResponse(render_report(plan, problem))


@router.get(
    "/v1/jobs/{job_id}/diff",
    response_model=PlanDiff,
    summary="What a job's plan changed against another job's plan",
    operation_id="get_diff",
    responses={**COMMON_RESPONSES, **_NOT_FOUND, **_NO_PLAN, 422: {"description": "The two plans are of different portfolios"}},
)
def get_diff(
    job_id: JobId,
    owner: Owner,
    app: AppServices,
    against: Annotated[
        str, Query(description="The job whose plan this one replaces (yours too)", openapi_examples={"base": {"value": JOB_ID}})
    ],
    since: Annotated[
        str | None,
        Query(
            description="Count churn from this month (the freeze); default: the whole horizon",
            pattern=MONTH_PATTERN,
            openapi_examples={"freeze": {"value": "2027-07"}},
        ),
    ] = None,
) -> PlanDiff:
    """Per trial start, option and run changes, FTE moved per role and month, people reassigned, cost and value per year."""
    old = Plan.model_validate_json(app.jobs.plan_json(owner, against))
    new = Plan.model_validate_json(app.jobs.plan_json(owner, job_id))
    try:
        return diff_plans(old, new, since)
    except OtherPortfolio as exc:
        raise ApiError(422, str(exc), type=OTHER_PORTFOLIO, title="Plans of different portfolios") from None


@router.post(
    "/v1/problems:import",
    summary="A problem from an Excel workbook (pace template's layout)",
    operation_id="import_problem",
    response_model=Problem,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={
        **COMMON_RESPONSES,
        415: {"description": "The body is not sent as an XLSX workbook"},
        422: {"description": "Not a valid problem: each error at its cell (path 'Staff!E14')"},
    },
)
async def import_problem(request: Request) -> Response:
    """The workbook's problem as JSON, validated exactly like a JSON problem; submit it to ``/v1/jobs``."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in _WORKBOOK_TYPES:
        message = f"the body must be an XLSX workbook sent with the header Content-Type: {XLSX_MEDIA_TYPE}"
        raise ApiError(
            415,
            message,
            type=UNSUPPORTED_MEDIA_TYPE,
            errors=[FieldError(path="headers.Content-Type", message=message)],
            headers={"Accept-Post": XLSX_MEDIA_TYPE},
        )
    body = await request.body()
    try:
        problem = await run_in_threadpool(problem_from_xlsx, body)
    except WorkbookInvalid as exc:
        raise invalid_input([FieldError(path=e.cell, message=e.message) for e in exc.errors]) from None
    return Response(problem.model_dump_json(), media_type="application/json")

"""POST /v1/validate and /v1/check: answers about a problem or a plan without solving."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from app.api.auth import current_owner
from app.api.body import json_body, json_request_body
from app.api.deps import AppServices
from app.api.errors import COMMON_RESPONSES, JSON_BODY_RESPONSES
from app.api.examples import check_examples, problem_examples
from app.api.schemas import CheckOut, ValidateOut
from app.services import checking

router = APIRouter(prefix="/v1", tags=["checks"], dependencies=[Depends(current_owner)])


@router.post(
    "/validate",
    response_model=ValidateOut,
    summary="Validate a problem and summarise capacity against demand",
    openapi_extra=json_request_body("Problem", problem_examples()),
    responses={**COMMON_RESPONSES, **JSON_BODY_RESPONSES},
)
async def validate(request: Request, app: AppServices) -> ValidateOut:
    """Every error of the problem with its field path, as ``pace validate`` reports them
    (in the 200 answer, not as a 422); for a valid problem, per role: capacity over the
    horizon against the least demand."""
    return await run_in_threadpool(checking.validate, await json_body(request), app.settings)


@router.post(
    "/check",
    response_model=CheckOut,
    summary="Check a plan against its problem with the independent checker",
    openapi_extra=json_request_body("CheckIn", check_examples()),
    responses={
        **COMMON_RESPONSES,
        **JSON_BODY_RESPONSES,
        422: {"description": "The problem or the plan is not valid input"},
    },
)
async def check(request: Request) -> CheckOut:
    """Recompute every rule from the plan's decisions (trials run, options, starts,
    assignments, flex) and list what is broken: planners edit plans by hand."""
    return await run_in_threadpool(checking.check, await json_body(request))

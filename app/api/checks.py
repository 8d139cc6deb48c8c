"""POST /v1/validate and /v1/check: answers about a problem or a plan without solving."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from app.api.auth import current_owner
from app.api.deps import AppServices
from app.api.errors import TOO_LARGE_RESPONSE, UNAUTHORIZED_RESPONSE
from app.api.examples import check_examples, problem_examples
from app.api.schemas import CheckIn, CheckOut, ValidateOut
from app.services import checking

router = APIRouter(prefix="/v1", tags=["checks"], dependencies=[Depends(current_owner)])


def _raw_problem_body() -> dict[str, Any]:
    """The request body of /v1/validate in OpenAPI: a problem, read raw so that every
    error (structure and semantics) comes back in the 200 answer rather than as a 422."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}, "examples": problem_examples()}
            },
        }
    }


@router.post(
    "/validate",
    response_model=ValidateOut,
    summary="Validate a problem and summarise capacity against demand",
    openapi_extra=_raw_problem_body(),
    responses={**UNAUTHORIZED_RESPONSE, **TOO_LARGE_RESPONSE},
)
async def validate(request: Request, app: AppServices) -> ValidateOut:
    """Every error of the problem with its field path, as ``pace validate`` reports them;
    for a valid problem, per role: capacity over the horizon against the least demand."""
    body = await request.body()
    return await run_in_threadpool(checking.validate, body, app.settings)


@router.post(
    "/check",
    response_model=CheckOut,
    summary="Check a plan against its problem with the independent checker",
    responses={
        **UNAUTHORIZED_RESPONSE,
        **TOO_LARGE_RESPONSE,
        422: {"description": "The problem or the plan is not valid input"},
    },
)
def check(body: Annotated[CheckIn, Body(openapi_examples=check_examples())]) -> CheckOut:
    """Recompute every rule from the plan's decisions (trials run, options, starts,
    assignments, flex) and list what is broken: planners edit plans by hand."""
    return checking.check(body.problem, body.plan)

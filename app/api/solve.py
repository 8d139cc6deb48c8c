"""POST /v1/solve: a small problem solved while the client waits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from app.api.auth import current_owner
from app.api.deps import AppServices
from app.api.errors import TOO_LARGE_RESPONSE, UNAUTHORIZED_RESPONSE
from app.api.examples import problem_examples
from models.contract.plan import Plan
from models.contract.problem import Problem

router = APIRouter(prefix="/v1", tags=["solve"], dependencies=[Depends(current_owner)])

TIME_LIMIT_HEADER = "Pace-Time-Limit"


@router.post(
    "/solve",
    response_model=Plan,
    summary="Solve a small problem and wait for its plan",
    responses={
        200: {
            "description": "The plan (any status: optimal, feasible, infeasible, no_solution)",
            "headers": {TIME_LIMIT_HEADER: {"description": "Time limit applied, in seconds", "schema": {"type": "number"}}},
        },
        **UNAUTHORIZED_RESPONSE,
        **TOO_LARGE_RESPONSE,
        422: {"description": "Invalid problem (each error with its field path) or a server limit exceeded"},
        500: {"description": "The solve process crashed, ran out of memory or hung"},
    },
)
async def solve(problem: Annotated[Problem, Body(openapi_examples=problem_examples())], app: AppServices) -> Response:
    """Solve in a worker process and return the plan.

    The time limit is the problem's ``settings.time_limit`` capped at the server's
    ``PACE_SYNC_MAX_TIME_LIMIT``; the one applied is in the ``Pace-Time-Limit`` header.
    Use a job (POST /v1/jobs) for anything that takes longer.
    """
    plan_json = await app.solving.solve(problem)
    limit = app.solving.time_limit(problem)
    return Response(plan_json, media_type="application/json", headers={TIME_LIMIT_HEADER: f"{limit:g}"})

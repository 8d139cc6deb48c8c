"""POST /v1/solve: a small problem solved while the client waits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.api.auth import current_owner
from app.api.body import json_body, json_request_body
from app.api.deps import AppServices
from app.api.errors import COMMON_RESPONSES, JSON_BODY_RESPONSES
from app.api.examples import problem_examples
from models.contract.plan import Plan

router = APIRouter(prefix="/v1", tags=["solve"], dependencies=[Depends(current_owner)])

TIME_LIMIT_HEADER = "Pace-Time-Limit"


@router.post(
    "/solve",
    response_model=Plan,
    summary="Solve a small problem and wait for its plan",
    openapi_extra=json_request_body("Problem", problem_examples()),
    responses={
        200: {
            "description": "The plan (any status: optimal, feasible, infeasible, no_solution)",
            "headers": {TIME_LIMIT_HEADER: {"description": "Time limit applied, in seconds", "schema": {"type": "number"}}},
        },
        **COMMON_RESPONSES,
        **JSON_BODY_RESPONSES,
        422: {"description": "Invalid problem (each error with its field path) or a server limit exceeded"},
        500: {"description": "The solve process crashed, ran out of memory or hung"},
    },
)
async def solve(request: Request, app: AppServices) -> Response:
    """Solve in a worker process and return the plan.

    The time limit is the problem's ``settings.time_limit`` capped at the server's
    ``PACE_SYNC_MAX_TIME_LIMIT``; the one applied is in the ``Pace-Time-Limit`` header, and a
    plan the cap may have cut short (not proven optimal or infeasible) says so in its
    ``message``. Use a job (POST /v1/jobs) for anything that takes longer.
    """
    plan_json, limit = await app.solving.solve(await json_body(request))
    return Response(plan_json, media_type="application/json", headers={TIME_LIMIT_HEADER: f"{limit:g}"})

"""Probes and metrics: answered by the API process alone, open without an API key.

``/healthz`` touches nothing (the process answers, so it lives); ``/readyz`` asks the
database and checks the supervisor thread, so a load balancer stops sending jobs to a
server that could not run them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import AppServices
from app.api.errors import NOT_READY, RETRY_AFTER_SECONDS, ApiError
from app.api.schemas import Health, Readiness

router = APIRouter(tags=["health"])
_RETRY = {"Retry-After": str(RETRY_AFTER_SECONDS)}


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, summary="Readiness: database reachable, workers alive", responses={503: {"description": "Not ready"}})
def readyz(app: AppServices) -> Readiness:
    try:
        app.store.ping()
    except SQLAlchemyError:
        raise ApiError(503, "the database is unreachable", type=NOT_READY, headers=_RETRY) from None
    if not app.supervisor.alive:
        raise ApiError(503, "the job supervisor is not running", type=NOT_READY, headers=_RETRY)
    return Readiness(workers=app.settings.workers, running=app.supervisor.running)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}, "description": "Metrics in the Prometheus text format"}},
)
def metrics(app: AppServices) -> Response:
    return Response(generate_latest(app.metrics.registry), media_type=CONTENT_TYPE_LATEST)

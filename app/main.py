"""The REST service: ``create_app(settings)`` builds it, ``pace serve`` runs it under uvicorn.

``pace serve`` binds its port first and stops there if it cannot (another server has
it), before it touches the database. Start-up (the lifespan) then migrates the database
to the newest schema, re-queues the jobs of servers that stopped (their leases expired,
or their process on this machine is gone) and starts the job supervisor; shutdown stops
the supervisor, which kills its solve processes and re-queues their jobs. ``uvicorn
--factory app.main:create_app`` works too and reads the same ``PACE_*`` settings.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.api import batches, checks, docs, errors, health, jobs, reports, solve
from app.api.auth import KeyRing
from app.api.body_limit import BodySizeLimit
from app.api.deps import Services
from app.api.errors import (
    COMMON_RESPONSES,
    PROBLEM_JSON,
    ProblemDetails,
    problem_response,
)
from app.api.metrics import Metrics, RequestMetrics
from app.api.ratelimit import METRICS_PATH, KeyGate, RateLimiter
from app.api.schemas import CheckIn
from app.db.batches import BatchStore
from app.db.migrate import upgrade
from app.db.store import JobStore
from app.execution.supervisor import Supervisor
from app.execution.sync import SyncSolver
from app.services.batches import BatchService, DaskRunner
from app.services.jobs import JobService
from app.services.solving import SolveService
from app.settings import ServiceSettings, get_settings
from models.contract.problem import Problem
from models.tools.reforecast import Reforecast
from models.tools.scenarios import ScenarioFile

DESCRIPTION = """\
Plans a clinical-trial portfolio: which trials run, when, in which execution option
and who staffs them. Small problems solve synchronously (`POST /v1/solve`); anything
larger runs as a job (`POST /v1/jobs`, then poll `Location`). Every error is
`application/problem+json` (RFC 9457); invalid input lists each field path.

With API keys configured (`PACE_API_KEYS`), every `/v1` call and `/metrics` need one
(`Authorization: Bearer <key>` or `X-API-Key`), a key sees only its own jobs, and each
key, and each client address sending requests without a valid key, is rate limited;
without keys the service is open.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    store = JobStore.from_url(settings.database_url)
    metrics = Metrics(store.counts_by_state)
    supervisor = Supervisor(
        store, settings, on_run_ended=lambda _job, state, seconds: metrics.observe_solve("job", state, seconds)
    )
    services = Services(
        settings=settings,
        store=store,
        keys=KeyRing(settings.api_keys),
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        metrics=metrics,
        supervisor=supervisor,
        jobs=JobService(store, settings, supervisor.wake),
        solving=SolveService(SyncSolver(settings), settings, metrics),
    )

    batch_store = BatchStore(store.engine)
    dask = DaskRunner(settings.dask_scheduler, batch_store) if settings.dask_scheduler else None
    batch_service = BatchService(store, batch_store, settings, supervisor.wake, dask)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade, store.engine)
        await run_in_threadpool(supervisor.start)
        await run_in_threadpool(batch_service.start)
        try:
            yield
        finally:
            await run_in_threadpool(batch_service.stop)
            await run_in_threadpool(supervisor.stop)
            store.dispose()

    app = FastAPI(
        title="PACE Planner",
        version=version("pace-planner"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.batches = batch_service
    errors.install(app)
    app.add_exception_handler(405, _method_not_allowed)
    docs.install(app)
    for router in (solve.router, jobs.router, batches.router, reports.router, checks.router, health.router):
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        KeyGate, keys=services.keys, limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Location", "Pace-Time-Limit"],
        )
    app.add_middleware(RequestMetrics, metrics=metrics)
    _finish_openapi(app, keys_required=bool(settings.api_keys))
    return app


#: The methods a 405's ``Allow`` may name: every method HTTP routes by.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 whose ``Allow`` lists every method the path has. The router names only the methods of
    the first route matching the path, but ``GET`` and ``POST /v1/jobs`` are two routes: a
    client (and a check against the OpenAPI document) would be told half of them."""
    allowed = [method for method in _METHODS if _routed(request, method)]
    detail = exc.detail if isinstance(exc, HTTPException) and isinstance(exc.detail, str) else None
    return problem_response(request, 405, detail, headers={"Allow": ", ".join(allowed)})


def _routed(request: Request, method: str) -> bool:
    """Whether some route would serve the request's path with ``method``."""
    probe = {**request.scope, "method": method}
    return any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes)


def _finish_openapi(app: FastAPI, keys_required: bool) -> None:
    """Make the generated document say what this server does.

    Every error response is problem+json, which is what the handlers send: routes list
    their error statuses with a description only, and FastAPI's own default for 422 (its
    ``HTTPValidationError`` body, never sent here) is replaced too. Without API keys the
    security requirements become optional, so /docs does not ask for a key.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            details = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in details.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components["ProblemDetails"] = details
            problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
            for item in schema["paths"].values():
                for operation in item.values():
                    if "security" in operation and not keys_required:
                        operation["security"].append({})
                    for status, response in operation.get("responses", {}).items():
                        if status.startswith(("4", "5")):
                            response["content"] = problem
            if keys_required:
                _require_key(schema["paths"][METRICS_PATH]["get"], schema["paths"], problem)
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            _add_schemas(components, Problem, CheckIn, ScenarioFile, Reforecast)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

def _require_key(operation: dict[str, Any], paths: dict[str, Any], problem: dict[str, Any]) -> None:
    """Document that ``operation`` (``/metrics``) needs a key, as :class:`KeyGate` enforces:
    the security of the ``/v1`` operations, their 401 and the 429 of a client without a key."""
    operation["security"] = next(op["security"] for item in paths.values() for op in item.values() if "security" in op)
    for status in (401, 429):
        operation.setdefault("responses", {})[str(status)] = {**COMMON_RESPONSES[status], "content": problem}


def _add_schemas(components: dict[str, Any], *models: type[BaseModel]) -> None:
    """Add the request bodies the routes read raw (so FastAPI never saw their types) to the
    document's components. A type FastAPI already put there (the plan, a response) keeps
    FastAPI's rendering of it: both come from the same pydantic class."""
    _, top = models_json_schema([(model, "validation") for model in models], ref_template="#/components/schemas/{model}")
    for name, definition in top.get("$defs", {}).items():
        components.setdefault(name, definition)


class PortInUse(Exception):
    """``pace serve`` could not listen where it was asked to."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``, or :class:`PortInUse` saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run_server(settings: ServiceSettings) -> None:
    """Serve ``settings`` with uvicorn in this process (one process; solves get their own).

    The port is bound before anything else: a server that cannot listen (another one has
    the port) raises :class:`PortInUse` without touching the database, so it can neither
    migrate it nor take over another server's jobs. The database is then asked once
    before uvicorn starts, so a URL of an unsupported kind (:class:`DatabaseUrlInvalid`) or
    a database that does not answer (:class:`DatabaseUnreachable`) stops the server with
    one line, not a start-up traceback.
    """
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    sock = bind(settings.host, settings.port)
    try:
        app = create_app(settings)
        app.state.services.store.require_reachable()
        log_config = copy.deepcopy(LOGGING_CONFIG)
        log_config["loggers"]["pace"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=log_config,
            timeout_graceful_shutdown=10,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()

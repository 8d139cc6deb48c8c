"""Every error leaves the service as ``application/problem+json`` (RFC 9457), never as a trace.

Clients get a stable ``type`` to branch on, the HTTP ``status`` and ``title``, a ``detail``
sentence, the request path as ``instance``, and for invalid input an ``errors`` list whose
``path`` names the field exactly as the CLI does (``trials[3].options[0].id``). A database
that does not answer is a 503 with ``Retry-After`` (the request changed nothing: send it
again). Anything unexpected becomes a bare 500 whose traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.contract.problem import FieldError, json_path

PROBLEM_JSON = "application/problem+json"

#: Problem types: the stable identifiers clients branch on (RFC 9457 §3.1.1).
INVALID_INPUT = "urn:pace:problem:invalid-input"
LIMIT_EXCEEDED = "urn:pace:problem:limit-exceeded"
SOLVE_FAILED = "urn:pace:problem:solve-failed"
PLAN_NOT_AVAILABLE = "urn:pace:problem:plan-not-available"
JOB_FINISHED = "urn:pace:problem:job-finished"
NOT_READY = "urn:pace:problem:not-ready"
UNSUPPORTED_MEDIA_TYPE = "urn:pace:problem:unsupported-media-type"
UNAVAILABLE = "urn:pace:problem:unavailable"
RATE_LIMITED = "urn:pace:problem:rate-limited"
OTHER_PORTFOLIO = "urn:pace:problem:other-portfolio"

#: Seconds a client is asked to wait (``Retry-After``) while the database does not answer.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger("pace.api")


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document; ``errors`` lists each invalid field with its path."""

    type: str = Field("about:blank", examples=[INVALID_INPUT])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str | None = Field(None, examples=["1 field is invalid"])
    instance: str | None = Field(None, examples=["/v1/jobs"])
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(Exception):
    """An error the service means to report: raised by services, rendered by the handler below."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str = "about:blank",
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = dict(headers or {})


def invalid_input(errors: Sequence[FieldError]) -> ApiError:
    count = len(errors)
    return ApiError(422, f"{count} field{'s are' if count != 1 else ' is'} invalid", type=INVALID_INPUT, title="Invalid input", errors=errors)


def limits_exceeded(errors: Sequence[FieldError]) -> ApiError:
    count = len(errors)
    detail = f"the problem exceeds {count} of this server's limits" if count != 1 else "the problem exceeds a limit of this server"
    return ApiError(422, detail, type=LIMIT_EXCEEDED, title="Limit exceeded", errors=errors)


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    type: str = "about:blank",
    title: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        type=type,
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=list(errors),
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def field_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's validation errors as field paths: body fields as in the CLI, others by location."""
    out: list[FieldError] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            out.append(FieldError(path="$", message=f"invalid JSON: {err.get('ctx', {}).get('error', err['msg'])}"))
        elif loc[:1] == ("body",):
            out.append(FieldError(path=json_path(loc[1:]), message=str(err["msg"])))
        else:
            out.append(FieldError(path=json_path(loc), message=str(err["msg"])))
    return out


def install(app: FastAPI) -> None:
    """Route every exception through one problem+json renderer."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem_response(
            request, exc.status, exc.detail, type=exc.type, title=exc.title, errors=exc.errors, headers=exc.headers
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        error = invalid_input(field_errors(exc))
        return problem_response(request, error.status, error.detail, type=error.type, title=error.title, errors=error.errors)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and not isinstance(exc, (OperationalError, InterfaceError)) and not exc.connection_invalidated:
            return await unexpected(request, exc)
        log.warning("%s %s: the database does not answer (%s)", request.method, request.url.path, type(exc).__name__)
        return problem_response(
            request,
            503,
            "the database does not answer; nothing was changed, send the request again later",
            type=UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(request, 500, "an unexpected error occurred; it has been logged")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for unreachable in (DBAPIError, DisconnectionError, PoolTimeout):
        app.add_exception_handler(unreachable, database_down)
    app.add_exception_handler(Exception, unexpected)


#: OpenAPI descriptions of the answers every /v1 route may give, shared by the routers.
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {"description": "API keys are configured and none (or a wrong one) was given"}
}
TOO_LARGE_RESPONSE: dict[int | str, dict[str, Any]] = {413: {"description": "The body is larger than the server accepts"}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
JSON_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **TOO_LARGE_RESPONSE,
    415: {"description": "The body is not sent as JSON (the Content-Type header must be application/json)"},
}
#: Answers any /v1 route may give besides its own.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    **UNAUTHORIZED_RESPONSE,
    429: {"description": "This API key sent too many requests; wait Retry-After seconds", "headers": _RETRY_AFTER},
    503: {"description": "The database does not answer; nothing was changed, retry after Retry-After seconds", "headers": _RETRY_AFTER},
}

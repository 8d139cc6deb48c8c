"""Request bodies the routes read themselves: JSON, checked for its media type first.

The problem (and the check request) is read from the raw bytes by the contract's own
strict parser (:func:`models.contract.validation.parse_structure`) rather than by
FastAPI: nothing is coerced (``"yes"`` is not ``true``), JSON that the parser cannot read
(too deeply nested, a lone surrogate, a number out of range) is a 422 at ``$``, and the
errors are the ones ``pace validate`` prints. The OpenAPI document still describes each
body by its pydantic type (see :func:`app.main._finish_openapi`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.api.errors import UNSUPPORTED_MEDIA_TYPE, ApiError
from models.contract.problem import FieldError

JSON_MEDIA_TYPE = "application/json"


def is_json(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, in UTF-8 (the only charset JSON has)."""
    if not content_type:
        return False
    media, *params = [part.strip().lower() for part in content_type.split(";")]
    if media != JSON_MEDIA_TYPE and not (media.startswith("application/") and media.endswith("+json")):
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


async def json_body(request: Request) -> bytes:
    """The raw body of a request that must carry JSON; 415 naming the header otherwise."""
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        sent = f"it was {content_type!r}" if content_type else "none was sent"
        message = f"the body must be JSON sent with the header Content-Type: {JSON_MEDIA_TYPE} ({sent})"
        raise ApiError(
            415,
            message,
            type=UNSUPPORTED_MEDIA_TYPE,
            errors=[FieldError(path="headers.Content-Type", message=message)],
            headers={"Accept-Post": JSON_MEDIA_TYPE},
        )
    return await request.body()


def json_request_body(schema: str, examples: dict[str, Any]) -> dict[str, Any]:
    """The ``openapi_extra`` of a route whose body is the component ``schema`` (read raw)."""
    return {
        "requestBody": {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{schema}"}, "examples": examples}},
        }
    }

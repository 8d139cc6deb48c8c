"""Refuse request bodies over ``max_body_bytes`` with 413, before anything parses them.

A declared ``Content-Length`` over the limit is refused at once; a body sent without one
(chunked) is counted as it arrives and refused as soon as it passes the limit, so a
client can never make the server buffer more than the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import LIMIT_EXCEEDED, ProblemDetails, PROBLEM_JSON


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, send)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body), "more_body": False}], receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = ProblemDetails(
            type=LIMIT_EXCEEDED,
            title="Content Too Large",
            status=413,
            detail=f"the request body exceeds this server's limit of {self.max_bytes} bytes",
            instance=scope["path"],
        )
        payload = problem.model_dump_json(exclude_none=True).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then defers to ``then`` (disconnects)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive

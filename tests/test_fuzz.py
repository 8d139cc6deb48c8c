"""Fuzzing from the OpenAPI document (schemathesis): whatever a client sends, no 5xx and no
answer that breaks the documented schema.

Every operation gets a bounded number of generated requests, valid and invalid (the
"positive" and "negative" modes), against the app in this process with its lifespan
running; then a stateful run follows the document's links (submit a job, poll it, fetch
its plan, cancel it). Solves are kept cheap: a synchronous solve is capped at one
second, a job may ask for two, one job runs at a time, and the server's size limits are
small, so generated problems mostly answer 422 "limit exceeded" rather than solve. The
CI profile (``CI=true``) derandomises the examples like the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.service import client_for, settings_for

#: Workbook uploads (POST /v1/problems:import) are sent as the raw bytes generated.
schemathesis.serializer.alias("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream")

CHECKS = [not_a_server_error, response_schema_conformance]
EXAMPLES = 25
STATEFUL_STEPS = 10


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    database: Path = tmp_path_factory.mktemp("fuzz") / "pace.db"
    service = settings_for(
        f"sqlite:///{database}",
        workers=1,
        sync_workers=1,
        sync_max_time_limit=1,
        max_time_limit=2,
        max_staff=30,
        max_trials=5,
        max_months=24,
        job_hang_grace_seconds=5,
    )
    with client_for(service) as client:
        yield schemathesis.openapi.from_asgi("/openapi.json", _started(client.app))


def _started(app: ASGIApp) -> ASGIApp:
    """``app`` for a caller that runs the lifespan around every request (schemathesis does):
    the app's own lifespan already runs (``client_for``), so these start-ups and shutdowns are
    acknowledged and go no further."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return asgi


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_no_request_gets_a_server_error_or_an_answer_outside_the_documented_schema(
    api_schema: schemathesis.BaseSchema,
) -> None:
    """Every operation, valid and invalid requests; each failing operation is named with its first failure."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        for mode in GenerationMode:
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:
                continue  # nothing to make invalid: an operation without parameters or body
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())


def test_following_the_documents_links_never_breaks_the_service(api_schema: schemathesis.BaseSchema) -> None:
    machine = api_schema.as_state_machine()

    class Links(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, **kwargs):  # noqa: ANN001, ANN201 - schemathesis's hook
            case.validate_response(response, checks=CHECKS)

    Links.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=STATEFUL_STEPS, deadline=None, suppress_health_check=list(HealthCheck)
    )
    Links.TestCase().runTest()

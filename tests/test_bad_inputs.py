"""The bad-input catalogue (``tests/data/bad/``): every malformed request gets its exact error.

Each ``NAME.json`` is a request body sent as is, beside ``NAME.expect.json``: why the body
is bad, the ``Content-Type`` it is sent with (null: none), and the answer it must get
from ``POST /v1/solve`` and ``POST /v1/jobs`` (status, problem type, detail, and each
field error with its path and message). ``POST /v1/validate`` must agree: the same 413
or 415, or a 200 listing the same errors (``valid: false``) or the same breached limits.
The catalogue's server accepts at most 64 KiB bodies, 50 staff, 20 trials and 120 months,
so "over a limit by one" stays small.

A UTF-8 byte order mark is not bad input (Excel and Notepad write one): the last tests
send a valid problem behind one, and show that ``POST /v1/check`` reads its body as the
problem routes do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.examples import check_examples
from tests.service import client_for, settings_for

CATALOGUE = Path(__file__).resolve().parent / "data" / "bad"
BOM = b"\xef\xbb\xbf"
JSON = {"content-type": "application/json"}
CASES = sorted(p.name.removesuffix(".expect.json") for p in CATALOGUE.glob("*.expect.json"))


def _case(name: str) -> tuple[bytes, dict[str, Any]]:
    return (CATALOGUE / f"{name}.json").read_bytes(), json.loads((CATALOGUE / f"{name}.expect.json").read_text())


def _headers(expected: dict[str, Any]) -> dict[str, str]:
    return {} if expected["content_type"] is None else {"content-type": expected["content_type"]}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("bad") / "pace.db"
    settings = settings_for(f"sqlite:///{database}", max_body_bytes=65536, max_staff=50, max_trials=20, max_months=120)
    with client_for(settings, raise_server_exceptions=False) as c:
        yield c
        assert c.get("/v1/jobs").json()["total"] == 0, "no bad input may ever become a job"


def test_the_catalogue_holds_at_least_40_cases_each_with_its_body():
    assert len(CASES) >= 40
    assert all((CATALOGUE / f"{name}.json").is_file() for name in CASES)


@pytest.mark.parametrize("name", CASES)
def test_solve_and_jobs_answer_a_bad_input_with_its_exact_error(client: TestClient, name: str):
    body, expected = _case(name)
    for endpoint in ("/v1/solve", "/v1/jobs"):
        response = client.post(endpoint, content=body, headers=_headers(expected))
        assert response.status_code == expected["status"], f"{endpoint}: {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in response.text
        answer = response.json()
        assert (answer["type"], answer["detail"]) == (expected["type"], expected["detail"]), endpoint
        assert answer.get("errors", []) == expected["errors"], endpoint


@pytest.mark.parametrize("name", CASES)
def test_validate_reports_the_same_errors(client: TestClient, name: str):
    body, expected = _case(name)
    response = client.post("/v1/validate", content=body, headers=_headers(expected))
    if expected["status"] != 422:
        assert response.status_code == expected["status"], response.text
        assert response.json().get("errors", []) == expected["errors"]
        return
    assert response.status_code == 200, response.text
    answer = response.json()
    if expected["type"] == "urn:pace:problem:limit-exceeded":
        assert (answer["valid"], answer["limits"]) == (True, expected["errors"])
    else:
        assert (answer["valid"], answer["errors"]) == (False, expected["errors"])


def test_a_valid_problem_behind_a_utf8_bom_is_valid(client: TestClient):
    body = (CATALOGUE / "content_type_latin1_charset.json").read_bytes()  # valid: only its header is wrong
    response = client.post("/v1/validate", content=BOM + body, headers=JSON)
    assert (response.status_code, response.json()["valid"]) == (200, True), response.text


def test_check_reads_a_bom_and_refuses_a_duplicated_key_by_its_path(client: TestClient):
    text = json.dumps(check_examples()["hand-written"]["value"])
    plain = client.post("/v1/check", content=text.encode(), headers=JSON)
    response = client.post("/v1/check", content=BOM + text.encode(), headers=JSON)
    assert (response.status_code, response.json()) == (200, plain.json()), response.text
    twice = text.replace('"fte": ', '"fte": 1.0, "fte": ', 1)
    response = client.post("/v1/check", content=twice.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == ["plan.assignments[0].fte"]

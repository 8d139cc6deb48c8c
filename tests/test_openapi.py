"""The OpenAPI document: valid 3.1, an example for every input, errors as problem+json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from app.api.examples import small_problem, tiny_problem
from models.contract.plan import Plan
from models.contract.validation import parse_problem
from models.tools.reforecast import apply_reforecast, parse_reforecast
from tests.service import SMALL, assert_checker_clean, client_for, finished, settings_for, wait_for_job

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with client_for(settings_for(f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'pace.db'}")) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_openapi_json_is_a_valid_openapi_3_1_document(spec: dict[str, Any]):
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_endpoint_of_the_issue_is_documented(spec: dict[str, Any]):
    documented = {(method.upper(), path) for path, method, _ in _operations(spec)}
    assert documented == {
        ("POST", "/v1/solve"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/{job_id}/plan"),
        ("DELETE", "/v1/jobs/{job_id}"),
        ("POST", "/v1/jobs/{job_id}/replan"),
        ("POST", "/v1/validate"),
        ("POST", "/v1/check"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/v1/jobs/{job_id}/report"),
        ("GET", "/v1/jobs/{job_id}/diff"),
        ("POST", "/v1/problems:import"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches/{batch_id}"),
        ("GET", "/v1/batches/{batch_id}/scenarios/{position}/plan"),
    }


def test_every_request_body_and_parameter_has_an_example(spec: dict[str, Any]):
    for path, method, operation in _operations(spec):
        body = operation.get("requestBody")
        if body is not None and "application/json" in body["content"]:  # an Excel upload has no JSON example
            media = body["content"]["application/json"]
            assert media.get("examples") or media.get("example"), f"{method} {path}: request body without example"
        for parameter in operation.get("parameters", []):
            if parameter["in"] in ("path", "query"):
                assert parameter.get("examples") or parameter.get("example"), f"{method} {path}: {parameter['name']}"


def test_errors_are_documented_as_problem_json(spec: dict[str, Any]):
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], f"{method} {path} {status}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_the_problem_example_is_data_example_small():
    assert small_problem() == json.loads(Path(SMALL).read_text())


def _finished_job_of(client: TestClient, problem: dict[str, Any]) -> dict[str, Any]:
    job = client.post("/v1/jobs", json=problem).json()
    done = wait_for_job(lambda: client.get(job["links"]["self"]).json(), finished, timeout=120)
    assert done["state"] == "succeeded"
    return done


def test_every_example_request_succeeds_as_is(client: TestClient, spec: dict[str, Any]):
    """What /docs offers can be sent unchanged: each body example gets a 2xx answer."""
    for path, method, operation in _operations(spec):
        body = operation.get("requestBody")
        if body is None or "application/json" not in body["content"]:
            continue
        for name, example in body["content"]["application/json"]["examples"].items():
            if "{job_id}" in path:
                previous = _finished_job_of(client, tiny_problem())
                path = path.replace("{job_id}", previous["id"])
            response = client.request(method, path, json=example["value"])
            assert response.status_code in (200, 202), f"{method} {path} example {name}: {response.text}"
            answer = response.json()
            if path == "/v1/solve":
                assert_checker_clean(json.dumps(example["value"]), answer)
            elif path == "/v1/jobs":
                done = wait_for_job(lambda: client.get(answer["links"]["self"]).json(), finished, timeout=120)
                assert done["state"] == "succeeded"
                assert_checker_clean(json.dumps(example["value"]), client.get(answer["links"]["plan"]).json())
            elif path.endswith("/replan"):
                done = wait_for_job(lambda: client.get(answer["links"]["self"]).json(), finished, timeout=120)
                assert done["state"] == "succeeded"
                base = Plan.model_validate(client.get(previous["links"]["plan"]).json())
                problem = apply_reforecast(parse_problem(tiny_problem()), base, parse_reforecast(example["value"]))
                assert_checker_clean(problem, client.get(answer["links"]["plan"]).json())
            elif path == "/v1/batches":
                assert answer["id"] and response.headers["location"].endswith(answer["id"])
            else:
                assert answer["valid"] is True, f"{path} example {name}: {answer}"


def test_api_keys_are_optional_in_the_document_only_when_none_are_configured(spec: dict[str, Any], tmp_path: Path):
    solve = spec["paths"]["/v1/solve"]["post"]
    assert {} in solve["security"] and {"APIKeyHeader": []} in solve["security"]
    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}", api_keys=["k"])) as keyed:
        assert {} not in keyed.get("/openapi.json").json()["paths"]["/v1/solve"]["post"]["security"]
        assert keyed.get("/docs").status_code == 200


def test_a_405_allows_exactly_the_methods_the_document_gives_its_path(client: TestClient, spec: dict[str, Any]):
    """Every path, every method it does not have: the Allow header lists the documented methods
    (GET /v1/jobs and POST /v1/jobs are two routes; the 405 named only the first one's)."""
    for path, item in spec["paths"].items():
        documented = {method.upper() for method in METHODS if method in item}
        url = path.replace("{position}", "0").replace("{job_id}", "00000000-0000-0000-0000-000000000000")
        url = url.replace("{batch_id}", "00000000-0000-0000-0000-000000000000")
        for method in (m.upper() for m in METHODS if m not in item):
            response = client.request(method, url)
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) == documented, (method, path)
            assert response.headers["content-type"] == "application/problem+json"

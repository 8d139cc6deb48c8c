"""The REST API through TestClient on a SQLite file: every endpoint's answers and errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.api.examples import check_examples
from app.execution.supervisor import Supervisor
from app.services.jobs import JobService
from tests.conftest import base_problem
from tests.service import (
    JSON,
    REFERENCE,
    SMALL,
    assert_checker_clean,
    client_for,
    finished,
    problem_json,
    settings_for,
    wait_for_job,
)

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def client(tmp_path: Path):
    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}", sync_max_time_limit=5)) as c:
        yield c


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["title"] and body["instance"] == response.request.url.path
    assert "Traceback" not in response.text
    return body


def _paths(body: dict[str, Any]) -> list[str]:
    return [e["path"] for e in body["errors"]]


def test_solve_returns_a_checker_clean_plan_within_the_capped_time_limit(client: TestClient):
    problem = problem_json(REFERENCE, time_limit=60)
    response = client.post("/v1/solve", content=problem, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.headers["pace-time-limit"] == "5"
    plan = assert_checker_clean(problem, response.json())
    assert plan.status in ("feasible", "no_solution"), "the reference cannot be proven in 5 s"
    assert "time limit capped at 5 s by this server (the problem asks for 60 s)" in plan.message


def test_a_plan_proven_within_the_cap_says_nothing_about_the_cap(client: TestClient):
    """Issue 20: every synchronous plan said "time limit capped... submit a job", even optimal in 0.2 s."""
    problem = problem_json(SMALL, time_limit=60)
    response = client.post("/v1/solve", content=problem, headers=JSON)
    assert response.headers["pace-time-limit"] == "5"
    plan = assert_checker_clean(problem, response.json())
    assert plan.status == "optimal"
    assert "capped" not in plan.message


def test_solve_within_the_cap_says_nothing_about_it(client: TestClient):
    problem = problem_json(SMALL, time_limit=5)
    plan = assert_checker_clean(problem, client.post("/v1/solve", content=problem, headers=JSON).json())
    assert "capped" not in plan.message


def test_solve_of_an_infeasible_problem_returns_the_infeasible_plan(client: TestClient):
    problem = base_problem(trials=[{"id": "T1", "mandatory": True, "options": [{"id": "s", "stages": [{"months": 3, "demand": {"CRA": 5}}]}]}])
    response = client.post("/v1/solve", json=problem)
    assert response.status_code == 200
    assert response.json()["status"] == "infeasible"
    assert_checker_clean(json.dumps(problem), response.json())


def test_semantic_errors_are_422_with_the_field_path(client: TestClient):
    bad = base_problem()
    bad["trials"][0]["options"][0]["stages"][0]["demand"] = {"CRX": 1.0}
    for endpoint in ("/v1/solve", "/v1/jobs"):
        body = _assert_problem(client.post(endpoint, json=bad), 422)
        assert body["type"] == "urn:pace:problem:invalid-input"
        assert _paths(body) == ["trials[0].options[0].stages[0].demand.CRX"]
        assert "unknown role" in body["errors"][0]["message"]


def test_structural_errors_are_422_listing_every_field_path(client: TestClient):
    bad = base_problem(horizon={"start": "2027-13", "months": 0})
    bad["staff"][0]["fte"] = "lots"
    body = _assert_problem(client.post("/v1/jobs", json=bad), 422)
    assert set(_paths(body)) == {"horizon.start", "horizon.months", "staff[0].fte"}


def test_a_body_that_is_not_json_is_422_at_the_root(client: TestClient):
    body = _assert_problem(client.post("/v1/solve", content=b"{not json", headers=JSON), 422)
    assert _paths(body) == ["$"]


def test_a_problem_over_the_servers_size_limits_is_refused_naming_each_limit(tmp_path: Path):
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", max_staff=5, max_trials=2, max_months=6, max_time_limit=30)
    with client_for(settings) as client:
        body = _assert_problem(client.post("/v1/jobs", content=problem_json(SMALL, time_limit=60), headers=JSON), 422)
        assert body["type"] == "urn:pace:problem:limit-exceeded"
        messages = {e["path"]: e["message"] for e in body["errors"]}
        assert set(messages) == {"staff", "trials", "horizon.months", "settings.time_limit"}
        assert messages["staff"] == "20 staff exceed this server's limit of 5"
        assert "60 s exceeds this server's limit of 30 s" in messages["settings.time_limit"]
        assert body["detail"] == "the problem exceeds 4 of this server's limits"
        solve = _assert_problem(client.post("/v1/solve", content=problem_json(SMALL, time_limit=60), headers=JSON), 422)
        assert "settings.time_limit" not in _paths(solve), "a synchronous solve caps the time limit instead"
        validated = client.post("/v1/validate", content=problem_json(SMALL, time_limit=60), headers=JSON).json()
        assert validated["valid"] is True and validated["errors"] == []
        assert [e["path"] for e in validated["limits"]] == list(messages)
        broken = json.loads(problem_json(SMALL, time_limit=60))
        broken["trials"][0]["predecessors"] = [{"trial": "T99"}]
        both = client.post("/v1/validate", content=json.dumps(broken), headers=JSON).json()
        assert both["valid"] is False
        assert any(e["path"].startswith("trials[0].predecessors") for e in both["errors"])
        assert [e["path"] for e in both["limits"]] == list(messages), "limits are listed with semantic errors too"


def test_a_body_over_the_size_limit_is_413_declared_or_streamed(tmp_path: Path):
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", max_body_bytes=4096)
    with client_for(settings) as client:
        declared = client.post("/v1/validate", content=SMALL.read_bytes(), headers=JSON)
        body = _assert_problem(declared, 413)
        assert "4096 bytes" in body["detail"]

        def chunks():
            data = SMALL.read_bytes()
            for i in range(0, len(data), 1000):
                yield data[i : i + 1000]

        streamed = client.post("/v1/jobs", content=chunks(), headers=JSON)
        _assert_problem(streamed, 413)
        assert client.get("/v1/jobs").json()["total"] == 0


def test_validate_lists_structure_and_semantic_errors_without_solving(client: TestClient):
    structure = base_problem(horizon={"start": "2027-13", "months": 12})
    answer = client.post("/v1/validate", json=structure).json()
    assert answer["valid"] is False and answer["summary"] is None
    assert [e["path"] for e in answer["errors"]] == ["horizon.start"]
    semantic = base_problem()
    semantic["trials"][0]["options"][0]["stages"][0]["demand"] = {"CRX": 1.0}
    assert [e["path"] for e in client.post("/v1/validate", json=semantic).json()["errors"]] == [
        "trials[0].options[0].stages[0].demand.CRX"
    ]
    assert client.post("/v1/validate", content=b"[1,", headers=JSON).json()["errors"][0]["path"] == "$"


def test_validate_summarises_capacity_against_the_least_demand_per_role(client: TestClient):
    # Two CRAs for 12 months (ana on leave one month), one flex FTE; the mandatory trial needs
    # 30 FTE-months of CRA at the least (its lean option), the optional one 6 more.
    problem = base_problem(
        staff=[
            {"id": "ana", "role": "CRA", "monthly_cost": 10000, "leave": ["2027-05"]},
            {"id": "ben", "role": "CRA", "fte": 0.5, "monthly_cost": 6000},
        ],
        flex=[{"role": "CRA", "monthly_rate": 20000, "max_fte": 1.0}],
        trials=[
            {
                "id": "T1",
                "mandatory": True,
                "options": [
                    {"id": "heavy", "stages": [{"months": 10, "demand": {"CRA": 4.0}}]},
                    {"id": "lean", "stages": [{"months": 10, "demand": {"CRA": 3.0}}]},
                ],
            },
            {"id": "T2", "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 2.0}}]}]},
        ],
    )
    answer = client.post("/v1/validate", json=problem).json()
    assert answer["valid"] is True and answer["errors"] == [] and answer["limits"] == []
    (cra,) = answer["summary"]["roles"]
    assert cra == {
        "role": "CRA",
        "staff": 2,
        "available": 11 + 6,
        "flex": 12.0,
        "mandatory_demand": 30.0,
        "all_demand": 36.0,
        "covers_mandatory": False,
    }


def test_check_accepts_the_hand_written_example_plan_and_catches_a_bad_edit(client: TestClient):
    example = check_examples()["hand-written"]["value"]
    assert client.post("/v1/check", json=example).json() == {"valid": True, "other_portfolio": None, "note": None, "violations": []}
    edited = json.loads(json.dumps(example))
    edited["plan"]["assignments"][0]["fte"] = 1.5
    answer = client.post("/v1/check", json=edited).json()
    assert answer["valid"] is False
    assert "staff_capacity" in {v["rule"] for v in answer["violations"]}


def test_check_of_an_invalid_problem_names_the_field_under_problem(client: TestClient):
    example = json.loads(json.dumps(check_examples()["hand-written"]["value"]))
    example["problem"]["trials"][0]["options"][0]["stages"][0]["demand"] = {"CRX": 1.0}
    body = _assert_problem(client.post("/v1/check", json=example), 422)
    assert _paths(body) == ["problem.trials[0].options[0].stages[0].demand.CRX"]
    example["plan"]["status"] = "great"
    assert "plan.status" in _paths(_assert_problem(client.post("/v1/check", json=example), 422))


def test_jobs_are_listed_newest_first_in_pages(client: TestClient):
    ids = [client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()["id"] for _ in range(3)]
    first = client.get("/v1/jobs", params={"limit": 2}).json()
    assert first["total"] == 3 and [j["id"] for j in first["items"]] == ids[:0:-1]
    second = client.get(first["next"]).json()
    assert [j["id"] for j in second["items"]] == ids[:1] and second["next"] is None
    for job_id in ids:
        wait_for_job(lambda: client.get(f"/v1/jobs/{job_id}").json(), finished, timeout=120)
    _assert_problem(client.get("/v1/jobs", params={"limit": 0}), 422)


def test_unknown_jobs_are_404_and_a_finished_job_cannot_be_cancelled(client: TestClient):
    for method, path in [("GET", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/plan"), ("DELETE", "/v1/jobs/nope")]:
        _assert_problem(client.request(method, path), 404)
    job = client.post("/v1/jobs", content=problem_json(SMALL), headers=JSON).json()
    done = wait_for_job(lambda: client.get(f"/v1/jobs/{job['id']}").json(), finished, timeout=120)
    assert done["state"] == "succeeded"
    assert _assert_problem(client.delete(f"/v1/jobs/{job['id']}"), 409)["type"] == "urn:pace:problem:job-finished"


def test_unknown_routes_and_methods_are_problem_json(client: TestClient):
    _assert_problem(client.get("/v2/nothing"), 404)
    not_allowed = client.put("/v1/solve")
    _assert_problem(not_allowed, 405)
    assert "POST" in not_allowed.headers["allow"]


def test_an_unexpected_error_is_a_500_without_a_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(JobService, "page", broken)
    with client_for(settings_for(f"sqlite:///{tmp_path / 'pace.db'}"), raise_server_exceptions=False) as client:
        body = _assert_problem(client.get("/v1/jobs"), 500)
        assert "secret internal detail" not in json.dumps(body)


def test_with_api_keys_every_v1_call_and_metrics_need_one_and_probes_stay_open(tmp_path: Path):
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", api_keys=["alpha-key", "sha256:" + hashlib.sha256(b"beta-key").hexdigest()])
    with client_for(settings) as client:
        for method, path in [("GET", "/v1/jobs"), ("POST", "/v1/validate"), ("POST", "/v1/solve"), ("POST", "/v1/check")]:
            response = client.request(method, path, content=b"{}", headers=JSON)
            assert _assert_problem(response, 401) and response.headers["www-authenticate"] == "Bearer"
        _assert_problem(client.get("/v1/jobs", headers={"X-API-Key": "wrong"}), 401)
        assert client.get("/v1/jobs", headers={"Authorization": "Bearer alpha-key"}).status_code == 200
        assert client.get("/v1/jobs", headers={"X-API-Key": "beta-key"}).status_code == 200
        for probe in ("/healthz", "/readyz", "/openapi.json"):
            assert client.get(probe).status_code == 200
        # Metrics name tenants' job counts: with keys configured they need one too.
        _assert_problem(client.get("/metrics"), 401)
        assert client.get("/metrics", headers={"X-API-Key": "alpha-key"}).status_code == 200


def test_a_key_sees_only_its_own_jobs(tmp_path: Path):
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", api_keys=["alpha-key", "beta-key"])
    alpha, beta = {"X-API-Key": "alpha-key"}, {"Authorization": "Bearer beta-key"}
    with client_for(settings) as client:
        job = client.post("/v1/jobs", content=problem_json(SMALL), headers={**JSON, **alpha}).json()
        for method, path in [("GET", ""), ("GET", "/plan"), ("DELETE", "")]:
            _assert_problem(client.request(method, f"/v1/jobs/{job['id']}{path}", headers=beta), 404)
        assert client.get("/v1/jobs", headers=beta).json()["total"] == 0
        assert [j["id"] for j in client.get("/v1/jobs", headers=alpha).json()["items"]] == [job["id"]]
        wait_for_job(lambda: client.get(f"/v1/jobs/{job['id']}", headers=alpha).json(), finished, timeout=120)


def test_cors_allows_the_configured_origins_only(tmp_path: Path):
    settings = settings_for(f"sqlite:///{tmp_path / 'pace.db'}", cors_origins=["https://planner.example"])
    with client_for(settings) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options("/v1/jobs", headers={"Origin": "https://planner.example", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://planner.example"
        other = client.options("/v1/jobs", headers={"Origin": "https://elsewhere.example", **preflight})
        assert "access-control-allow-origin" not in other.headers
        assert "location" in client.get("/v1/jobs", headers={"Origin": "https://planner.example"}).headers[
            "access-control-expose-headers"
        ].lower()


def test_probes_and_metrics(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] == 2
    client.post("/v1/solve", content=problem_json(SMALL), headers=JSON)
    client.get("/v1/jobs/unknown")
    text = client.get("/metrics").text
    assert 'pace_http_requests_total{method="POST",route="/v1/solve",status="200"} 1.0' in text
    assert 'pace_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1.0' in text
    assert 'pace_jobs{state="queued"} 0.0' in text
    assert 'pace_solve_duration_seconds_count{kind="sync",outcome="succeeded"} 1.0' in text


def test_readyz_is_503_when_the_database_is_unreachable(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    def unreachable() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(client.app.state.services.store, "ping", unreachable)
    body = _assert_problem(client.get("/readyz"), 503)
    assert body["detail"] == "the database is unreachable"
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_job_supervisor_is_dead(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Supervisor, "alive", property(lambda _: False))
    assert _assert_problem(client.get("/readyz"), 503)["detail"] == "the job supervisor is not running"

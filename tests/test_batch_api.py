"""POST /v1/batches and GET /v1/batches/{id}: scenarios as jobs of the caller, or on a Dask cluster.

The batch tables are exercised on SQLite and on PostgreSQL by the start-up hand-over test;
the others run on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import LocalCluster
from fastapi.testclient import TestClient

from app.db.batches import BatchStore, NewScenario
from app.db.migrate import upgrade
from app.db.store import create_db_engine
from models.tools.scenarios import expand, read_scenario_file
from tests.service import (  # noqa: F401 (database_url, postgres_admin_url: fixtures)
    JSON,
    SMALL,
    assert_checker_clean,
    client_for,
    database_url,
    postgres_admin_url,
    settings_for,
    wait_for_job,
)

FACTORS = [0.6, 0.8, 1.0, 1.2]


def scenario_file() -> dict[str, Any]:
    return {
        "base": json.loads(SMALL.read_text()),
        "settings": {"reproducible": True, "time_limit": 10},
        "scenarios": [
            {"name": "T01 mandatory", "changes": [{"set": "trials[T01].mandatory", "value": True}]},
            {"name": "unknown role", "changes": [{"set": "trials[T01].options[0].stages[0].demand.CRX", "value": 1.0}]},
        ],
        "sweep": {"path": "budget.per_year.2027", "op": "scale", "values": FACTORS, "name": "budget x{value}"},
    }


def problems() -> dict[str, Any]:
    spec = read_scenario_file(scenario_file())
    return {s.name: s.problem for s in expand(spec, scenario_file()["base"])}


def run_batch(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Submit the scenario file, wait for the batch to finish and check every plan it has."""
    response = client.post("/v1/batches", content=json.dumps(scenario_file()), headers={**JSON, **(headers or {})})
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location == response.json()["links"]["self"]
    batch = wait_for_job(lambda: client.get(location, headers=headers).json(), lambda b: b["state"] == "finished", timeout=240)
    expected = problems()
    for scenario in batch["scenarios"]:
        plan = client.get(scenario["links"]["plan"], headers=headers)
        if scenario["state"] == "invalid":
            assert plan.status_code == 409
            continue
        assert plan.status_code == 200, plan.text
        assert_checker_clean(expected[scenario["name"]], plan.json())
    return batch


def without_seconds(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in summary]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pace.db'}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def jobs_batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'pace.db'}"
    with client_for(settings_for(url, workers=2)) as client:
        batch = run_batch(client)
        jobs = client.get("/v1/jobs?limit=100").json()
    batch["_jobs"] = jobs
    return batch


def test_each_valid_scenario_runs_as_a_job_of_the_caller(jobs_batch: dict[str, Any]):
    assert jobs_batch["executor"] == "jobs"
    job_ids = {s["job_id"] for s in jobs_batch["scenarios"] if s["state"] != "invalid"}
    assert None not in job_ids and len(job_ids) == len(FACTORS) + 2
    assert {j["id"] for j in jobs_batch["_jobs"]["items"]} == job_ids
    assert all(s["links"]["job"] == f"/v1/jobs/{s['job_id']}" for s in jobs_batch["scenarios"] if s["job_id"])


def test_the_summary_has_every_scenario_with_the_invalid_and_the_infeasible_as_such(jobs_batch: dict[str, Any]):
    rows = {r["scenario"]: r for r in jobs_batch["summary"]}
    assert list(rows) == ["base", "T01 mandatory", "unknown role", *(f"budget x{f}" for f in FACTORS)]
    assert rows["T01 mandatory"]["status"] == "infeasible"
    assert rows["unknown role"]["status"] == "invalid" and "unknown role 'CRX'" in rows["unknown role"]["message"]
    invalid = next(s for s in jobs_batch["scenarios"] if s["name"] == "unknown role")
    assert invalid["errors"][0]["path"] == "trials[0].options[0].stages[0].demand.CRX"
    assert {rows[f"budget x{f}"]["status"] for f in FACTORS} == {"optimal"}
    assert jobs_batch["valid"] is False and jobs_batch["counts"] == {"invalid": 1, "succeeded": len(FACTORS) + 2}


def test_the_comparison_sets_each_scenario_beside_the_base_with_its_report_and_diff(jobs_batch: dict[str, Any]):
    compared = {c["scenario"]: c for c in jobs_batch["comparison"]}
    base_job = next(s["job_id"] for s in jobs_batch["scenarios"] if s["name"] == "base")
    assert compared["base"]["objective_change"] == 0
    cut = compared["budget x0.6"]
    assert cut["objective_change"] < 0 and cut["trials_run"] == 1 and set(cut["cost_per_year"]) == {"2027"}
    assert cut["cost_per_year"]["2027"] <= 0.6 * scenario_file()["base"]["budget"]["per_year"]["2027"] + 1e-6
    assert set(cut["fte_per_role"]) == set(scenario_file()["base"]["roles"])
    job = next(s["job_id"] for s in jobs_batch["scenarios"] if s["name"] == "budget x0.6")
    assert cut["links"]["report"] == f"/v1/jobs/{job}/report"
    assert cut["links"]["diff"] == f"/v1/jobs/{job}/diff?against={base_job}"
    assert compared["unknown role"]["status"] == "invalid" and compared["unknown role"]["cost_per_year"] == {}


def test_on_a_dask_cluster_the_batch_gives_the_same_summary_and_makes_no_jobs(sqlite_url, cluster, jobs_batch):
    with client_for(settings_for(sqlite_url, dask_scheduler=cluster.scheduler_address)) as client:
        batch = run_batch(client)
        assert client.get("/v1/jobs").json()["total"] == 0
    assert batch["executor"] == "dask"
    assert without_seconds(batch["summary"]) == without_seconds(jobs_batch["summary"])


def test_another_key_cannot_see_a_batch(sqlite_url):
    with client_for(settings_for(sqlite_url, api_keys=["alice-key", "bob-key"])) as client:
        small = {**scenario_file(), "sweep": None, "scenarios": []}
        sent = client.post("/v1/batches", content=json.dumps(small), headers={**JSON, "X-API-Key": "alice-key"})
        assert sent.status_code == 202, sent.text
        location = sent.headers["Location"]
        assert client.get(location, headers={"X-API-Key": "bob-key"}).status_code == 404
        assert client.get(f"{location}/scenarios/0/plan", headers={"X-API-Key": "bob-key"}).status_code == 404
        assert client.get(location, headers={"X-API-Key": "alice-key"}).status_code == 200


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"scenarios": [{"name": "base"}]}, "scenarios[0].name"),
        ({"base": "data/example-small.json"}, "base"),
        ({"base": {"horizon": {"start": "2027-01", "months": 12}, "roles": ["CRA"], "trials": "none"}, "scenarios": [{"name": "x"}]}, "base.trials"),
    ],
)
def test_a_batch_that_is_not_one_is_refused_naming_the_field(sqlite_url, change: dict[str, Any], path: str):
    with client_for(settings_for(sqlite_url)) as client:
        response = client.post("/v1/batches", content=json.dumps({**scenario_file(), **change}), headers=JSON)
        assert response.status_code == 422, response.text
        assert any(e["path"].startswith(path) for e in response.json()["errors"]), response.json()


def test_a_scenario_over_the_server_limits_is_invalid_and_the_others_still_run(sqlite_url):
    with client_for(settings_for(sqlite_url, max_time_limit=20)) as client:
        body = {**scenario_file(), "sweep": None, "scenarios": [{"name": "long", "changes": [{"set": "settings.time_limit", "value": 60}]}]}
        batch = client.post("/v1/batches", content=json.dumps(body), headers=JSON).json()
        states = {s["name"]: s for s in batch["scenarios"]}
        assert states["long"]["state"] == "invalid" and states["long"]["errors"][0]["path"] == "settings.time_limit"
        assert states["base"]["state"] in ("queued", "running", "succeeded")


def test_a_scenario_a_stopped_server_left_pending_runs_when_the_next_server_starts(database_url: str):  # noqa: F811
    """A server that stopped between storing a batch and handing its scenarios over leaves them
    pending; the next server to start hands them to its job queue."""
    engine = create_db_engine(database_url)
    upgrade(engine)
    problem = problems()["base"]
    batch = BatchStore(engine).create("anonymous", "left over", "jobs", [NewScenario("base", problem.model_dump_json(), None)])
    engine.dispose()
    with client_for(settings_for(database_url)) as client:
        done = wait_for_job(lambda: client.get(f"/v1/batches/{batch.id}").json(), lambda b: b["state"] == "finished", timeout=120)
        assert done["scenarios"][0]["state"] == "succeeded" and done["scenarios"][0]["job_id"] is not None
        assert_checker_clean(problem, client.get(done["scenarios"][0]["links"]["plan"]).json())
